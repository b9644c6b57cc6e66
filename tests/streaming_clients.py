"""Helpers for the streaming tests against real servers: a LiveServer with extra settings
(or sharing another server's database), accounts made through the API, and small clients
for WebSocket and server-sent events."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from live_server import LiveServer

PASSWORD = "correct horse battery"


@dataclass
class Server(LiveServer):
    """`agora serve` with extra AGORA_* settings, optionally on another server's database."""

    extra_env: dict[str, str] = field(default_factory=dict)
    shared_database_url: str | None = None

    @property
    def database_url(self) -> str:
        return self.shared_database_url or super().database_url

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.extra_env}

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/v1/streaming"


@dataclass
class Person:
    id: str
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def sign_up(server: LiveServer, username: str) -> Person:
    """Sign up through the API (`POST /api/v1/accounts` with an app token): no subprocess."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        app = client.post(
            "/api/v1/apps",
            data={
                "client_name": "streaming tests",
                "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                "scopes": "read write follow",
            },
        ).json()
        app_token = client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "scope": "read write follow",
            },
        ).json()["access_token"]
        signed_up = client.post(
            "/api/v1/accounts",
            headers={"Authorization": f"Bearer {app_token}"},
            data={
                "username": username,
                "email": f"{username}@example.org",
                "password": PASSWORD,
                "agreement": "true",
                "locale": "en",
            },
        )
        assert signed_up.status_code == 200, signed_up.text
        token = signed_up.json()["access_token"]
        me = client.get(
            "/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token}"}
        ).json()
    return Person(me["id"], username, token)


async def api(
    server: LiveServer, person: Person, method: str, path: str, **data: Any
) -> dict[str, Any]:
    """One API call as `person`; the JSON answer (asserting success)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        r = await client.request(method, path, headers=person.headers, data=data or None)
    assert r.status_code == 200, r.text
    return r.json()


async def next_event(ws: Any, timeout: float = 10.0) -> dict[str, Any]:
    """The next WebSocket message, decoded (the payload stays a string)."""
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def nothing_more(ws: Any, wait: float = 0.5) -> bool:
    """True when no message arrives within `wait` seconds."""
    try:
        await asyncio.wait_for(ws.recv(), wait)
    except TimeoutError:
        return True
    return False


class SSE:
    """Reads server-sent events from an httpx streaming response."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next(self, timeout: float = 10.0) -> tuple[str, str]:
        """The next (event, data), recording comment lines (heartbeats) on the way."""
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> tuple[str, str]:
        fields: dict[str, str] = {}
        async for line in self.lines:
            if line.startswith(":"):
                self.comments.append(line)
            elif line == "" and fields:
                return fields["event"], fields["data"]
            elif line:
                key, _, value = line.partition(": ")
                fields[key] = value
        raise EOFError("the stream ended")


def connect(url: str, **kwargs: Any) -> Any:
    """A WebSocket client connection (websockets' asyncio client)."""
    return websockets.connect(url, open_timeout=10, close_timeout=2, proxy=None, **kwargs)
