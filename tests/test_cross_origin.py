"""CORS (http/cross_origin.py): requests with an Origin get Starlette's middleware; requests
without one get what Starlette would give them, by a shorter way. The two ways must agree."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.middleware.cors import CORSMiddleware

from agora.http.cross_origin import EXPOSED, CrossOrigin


def _endpoint(headers: list[tuple[bytes, bytes]]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def _starlette(app: Any) -> Any:
    options = {"allow_origins": ["*"], "allow_methods": ["*"], "allow_headers": ["*"]}
    return CORSMiddleware(app, expose_headers=EXPOSED, **options)


async def _get(app: Any, **kw: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.request(kw.pop("method", "GET"), "/api/v1/x", **kw)


@pytest.mark.parametrize(
    "response_headers",
    [
        [(b"content-type", b"application/json")],
        [(b"vary", b"Accept")],
        [(b"vary", b"Accept"), (b"content-type", b"text/html"), (b"vary", b"Cookie")],
    ],
)
@pytest.mark.parametrize("origin", [None, "https://elk.example"])
async def test_every_request_gets_the_headers_starlette_gives(response_headers, origin) -> None:
    """With or without an Origin, whatever Vary the response had: the same headers as
    Starlette's CORSMiddleware alone."""
    headers = {"Origin": origin} if origin else {}
    ours = await _get(CrossOrigin(_endpoint(response_headers)), headers=headers)
    theirs = await _get(_starlette(_endpoint(response_headers)), headers=headers)
    assert sorted(ours.headers.multi_items()) == sorted(theirs.headers.multi_items())
    assert "Origin" in ours.headers["vary"]
    if origin:
        assert ours.headers["access-control-allow-origin"] == "*"
        assert "X-RateLimit-Remaining" in ours.headers["access-control-expose-headers"]
    else:
        assert "access-control-allow-origin" not in ours.headers


async def test_a_preflight_is_answered_for_any_origin() -> None:
    preflight = {
        "Origin": "https://phanpy.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    answer = await _get(CrossOrigin(_endpoint([])), method="OPTIONS", headers=preflight)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert "authorization" in answer.headers["access-control-allow-headers"].lower()


async def test_the_api_answers_a_browser_on_another_origin(client) -> None:  # type: ignore[no-untyped-def]
    """Through the whole application: a cross-origin read gets `*`, a native one Vary only."""
    browser = await client.get("/api/v1/instance", headers={"Origin": "https://elk.example"})
    native = await client.get("/api/v1/instance")
    assert browser.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-origin" not in native.headers
    assert "Origin" in native.headers["vary"]
