"""Access tokens never reach the server's log (streaming clients send them in the URL)."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import websockets

from live_server import LiveServer, wait_for


def test_uvicorn_loggers_redact_secret_parameters(caplog) -> None:
    """Records logged exactly as uvicorn logs them, to its own loggers, once an app exists."""
    from agora.app import create_app

    create_app(migrate=False)
    create_app(migrate=False)  # installing twice adds one filter
    access, error = logging.getLogger("uvicorn.access"), logging.getLogger("uvicorn.error")
    assert len(access.filters) == 1 and len(error.filters) == 1
    secret = secrets.token_urlsafe(32)
    with caplog.at_level(logging.INFO):
        path = f"/api/v1/streaming/user?stream=user&access_token={secret}&x=1"
        access.info('%s - "%s %s HTTP/%s" %d', "10.0.0.1:5000", "GET", path, "1.1", 200)
        error.info(
            '%s - "WebSocket %s" [accepted]',
            "10.0.0.1:5000",
            f"/api/v1/streaming?ACCESS_TOKEN={secret}",
        )
        access.info(
            '%s - "%s %s HTTP/%s" %d',
            "10.0.0.1:5000",
            "POST",
            f"/oauth/token?client_secret={secret}&password={secret}&code={secret}",
            "1.1",
            200,
        )
        for link in (
            f"/auth/confirmation?confirmation_token={secret}",
            f"/auth/password/edit?reset_password_token={secret}",
        ):
            access.info('%s - "%s %s HTTP/%s" %d', "10.0.0.1:5000", "GET", link, "1.1", 200)
    text = caplog.text
    assert secret not in text
    assert "access_token=[filtered]&x=1" in text and "ACCESS_TOKEN=[filtered]" in text
    assert "client_secret=[filtered]&password=[filtered]&code=[filtered]" in text
    assert "stream=user" in text  # the rest of the line is kept


@dataclass
class VerboseServer(LiveServer):
    """`agora serve` with its access log on (AGORA_LOG_LEVEL=info)."""

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "AGORA_LOG_LEVEL": "info"}


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = VerboseServer(os.environ.get("AGORA_TEST_DATABASE", "sqlite"))
    live.start()
    try:
        yield live
    finally:
        live.stop()


def test_agora_serve_logs_no_access_token(server: LiveServer) -> None:
    secret = secrets.token_urlsafe(32)
    r = httpx.get(f"{server.url}/api/v1/timelines/home", params={"access_token": secret})
    assert r.status_code == 401

    async def websocket() -> None:
        url = server.url.replace("http://", "ws://")
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(f"{url}/api/v1/streaming?access_token={secret}"):
                pass

    asyncio.run(websocket())

    def written() -> str | None:
        text = server.log()
        done = "WebSocket /api/v1/streaming" in text and "/api/v1/timelines/home" in text
        return text if done else None

    log = wait_for(written, 5, "the access log's lines")
    assert secret not in log, log
    assert "GET /api/v1/timelines/home?access_token=[filtered] HTTP/1.1" in log
    assert "/api/v1/streaming?access_token=[filtered]" in log
