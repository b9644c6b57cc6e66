"""The two wires of the streaming API: server-sent events and WebSockets.

Both pump one `Listener`'s frames to the client and stop as soon as the client leaves or the
hub closes the listener (too slow, token revoked, shutdown). Only the pump writes, so a
client that does not read stalls only its own connection; the hub drops it when its queue
fills, and the pump (possibly stuck in a write) is cancelled, which closes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketState

from agora.http.json import JSON
from agora.http.streaming.hub import Hub, Listener
from agora.social.live.streams import Stream, StreamRefused, StreamViewer, first_value, open_stream
from agora.social.rules.errors import DomainError

log = logging.getLogger("agora.streaming")
Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]
HELLO = b":)\n"
MAX_CLIENT_MESSAGE = 8192
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
]


async def _first_done(*aws: Awaitable[Any]) -> set[asyncio.Task[Any]]:
    """Run the awaitables until one finishes; cancel (and wait for) the others."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return done


class EventStreamResponse(Response):
    """ASGI response streaming one listener as `text/event-stream` (the hub adds the
    `:thump` heartbeats to its frames)."""

    def __init__(self, hub: Hub, listener: Listener) -> None:
        super().__init__(media_type="text/event-stream")
        self.hub = hub
        self.listener = listener

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        listener, client_left = self.listener, False
        try:
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            await send({"type": "http.response.body", "body": HELLO, "more_body": True})
            gone = asyncio.ensure_future(_disconnected(receive))
            await _first_done(self._pump(send), gone, listener.closed.wait())
            client_left = gone.done() and not gone.cancelled()
        finally:
            self.hub.disconnect(listener)
        if not client_left:  # closed by the server: end the response if the client reads
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    send({"type": "http.response.body", "body": b"", "more_body": False}), 1.0
                )

    async def _pump(self, send: Send) -> None:
        while True:
            frame = await self.listener.next_frame()
            body = frame if isinstance(frame, bytes) else frame.encode()
            await send({"type": "http.response.body", "body": body, "more_body": True})


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _error(status: int, message: str) -> str:
    return orjson.dumps({"error": message, "status": status}).decode()


class WebSocketSession:
    """One WebSocket: subscribe / unsubscribe messages in, events out."""

    def __init__(self, ws: WebSocket, hub: Hub, viewer: StreamViewer) -> None:
        self.ws = ws
        self.hub = hub
        self.viewer = viewer
        self.listener = hub.connect(viewer, "ws")

    async def run(self, initial: dict[str, Any] | None) -> None:
        """Serve the connection until the client leaves or the hub closes it."""
        try:
            if initial is not None:
                await self.subscribe(initial.get("stream"), initial)
            await _first_done(self._read(), self._pump(), self.listener.closed.wait())
        finally:
            self.hub.disconnect(self.listener)
        connected = WebSocketState.CONNECTED
        if self.ws.application_state == connected and self.ws.client_state == connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self.ws.close(self.listener.close_code, self.listener.close_reason[:120]), 2.0
                )

    async def _pump(self) -> None:
        while True:
            frame = await self.listener.next_frame()
            await self.ws.send_text(frame if isinstance(frame, str) else frame.decode())

    async def _read(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is None:
                self.listener.close("binary messages are not supported", 1003)
                return
            await self.handle(message["text"])

    async def handle(self, text: str) -> None:
        """Act on one client message; anything malformed gets an error message back."""
        if len(text) > MAX_CLIENT_MESSAGE:
            return self._reply(_error(400, "Message too long"))
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            return self._reply(_error(400, "Invalid message: not JSON"))
        if not isinstance(message, dict):
            return self._reply(_error(400, "Invalid message: expected a JSON object"))
        kind = first_value(message.get("type"))
        if kind == "subscribe":
            await self.subscribe(message.get("stream"), message)
        elif kind == "unsubscribe":
            await self.unsubscribe(message.get("stream"), message)
        else:
            self._reply(_error(400, "Unknown message type"))

    async def _open(self, name: Any, params: dict[str, Any]) -> Stream | None:
        try:
            async with self.hub.db.session() as session:
                return await open_stream(session, self.viewer, name, params)
        except DomainError as exc:
            self._reply(_error(exc.status, exc.message))
            return None

    async def subscribe(self, name: Any, params: dict[str, Any]) -> None:
        """Add a stream (an error message when it may not be opened)."""
        stream = await self._open(name, params)
        if stream is not None and not self.hub.subscribe(self.listener, stream):
            self._reply(_error(400, "Too many subscriptions on this connection"))

    async def unsubscribe(self, name: Any, params: dict[str, Any]) -> None:
        """Remove a stream (nothing happens when it was not subscribed)."""
        stream = await self._open(name, params)
        if stream is not None:
            self.hub.unsubscribe(self.listener, stream)

    def _reply(self, frame: str) -> None:
        self.listener.offer(frame)


async def refuse_websocket(ws: WebSocket, refusal: StreamRefused | DomainError) -> None:
    """Answer the upgrade with an HTTP error and a JSON body (or a 403 when the server cannot
    send a body)."""
    body = JSON({"error": refusal.message}, status_code=refusal.status)
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        await ws.send_denial_response(body)
    else:
        await ws.close(code=1008)
