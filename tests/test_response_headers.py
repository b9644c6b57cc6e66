"""The request path's one header step (http/response_headers.py): the rate limit's headers and
CORS's `Vary: Origin` added by the outermost middleware give what each middleware wrapping
`send` in turn gave."""

from __future__ import annotations

from typing import Any

import pytest

from agora.config import Settings
from agora.http.cross_origin import CrossOrigin
from agora.http.observability import Observability
from agora.http.ratelimit import RateLimitMiddleware, RateLimits


def _endpoint(headers: list[tuple[bytes, bytes]]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def _without_reset(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The headers, the window's end left out (each limiter's window starts at its own hit)."""
    return [(k, b"" if k == b"x-ratelimit-reset" else v) for k, v in headers]


async def _raw_headers(app: Any) -> list[tuple[bytes, bytes]]:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/x",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"x-request-id", b"req-1")],
        "client": ("10.0.0.1", 1),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return list(sent[0]["headers"])


@pytest.mark.parametrize(
    "response_headers",
    [
        [(b"content-type", b"application/json")],
        [(b"vary", b"Accept"), (b"content-type", b"text/html"), (b"vary", b"Cookie")],
    ],
)
async def test_the_one_step_gives_what_each_middleware_wrapping_send_gave(response_headers):
    """Observability(CrossOrigin(RateLimit(app))): the response's headers, the rate limit's,
    `Origin` joined to the response's Vary, the request id, in that order; the response's
    own list is left as it was (a kept page's headers are sent again)."""
    kept = list(response_headers)
    limits = RateLimits(Settings(ratelimit_reads="5/minute", ratelimit_per_ip="9/minute"))
    stacked = Observability(CrossOrigin(RateLimitMiddleware(_endpoint(kept), limits)))
    got = await _raw_headers(stacked)

    alone = RateLimits(Settings(ratelimit_reads="5/minute", ratelimit_per_ip="9/minute"))
    wrapped = await _raw_headers(CrossOrigin(RateLimitMiddleware(_endpoint(kept), alone)))
    assert _without_reset(got) == _without_reset([*wrapped, (b"x-request-id", b"req-1")])
    assert kept == response_headers
    names = [name for name, _ in got]
    assert names.count(b"vary") == 1 and names.count(b"x-ratelimit-remaining") == 1
    assert dict(got)[b"x-ratelimit-remaining"] == b"4"
    assert dict(got)[b"vary"].endswith(b"Origin")


async def test_the_whole_application_sends_each_header_once(client) -> None:  # type: ignore[no-untyped-def]
    """Through the app: a ping has one request id, one Vary and the rate limit's headers."""
    response = await client.get("/api/v1/agora/ping", headers={"X-Request-Id": "abc-1"})
    names = [name.lower() for name, _ in response.headers.multi_items()]
    assert response.headers["x-request-id"] == "abc-1"
    assert names.count("x-request-id") == 1 and names.count("vary") == 1
    assert names.count("x-ratelimit-limit") == 1 and response.headers["vary"] == "Origin"
