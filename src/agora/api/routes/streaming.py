"""Mastodon's streaming API: `GET /api/v1/streaming` over WebSocket (streams chosen with the
`stream` parameter and subscribe / unsubscribe messages), the server-sent-event endpoints
under `/api/v1/streaming/...`, and `/api/v1/streaming/health`.

The token comes from `Authorization: Bearer`, the `access_token` parameter or (browsers)
the `Sec-WebSocket-Protocol` header, whose first value is echoed back as the protocol.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from agora.auth.oauth import authenticate
from agora.http.error_responses import error_response
from agora.http.params import flag
from agora.http.streaming.hub import Hub
from agora.http.streaming.wire import EventStreamResponse, WebSocketSession, refuse_websocket
from agora.social.live.streams import StreamRefused, StreamViewer, open_stream
from agora.social.rules.errors import DomainError, Unauthorized

router = APIRouter()
SSE_STREAMS = {
    "user": "user",
    "user/notification": "user:notification",
    "public": "public",
    "public/local": "public:local",
    "public/remote": "public:remote",
    "hashtag": "hashtag",
    "hashtag/local": "hashtag:local",
    "list": "list",
    "direct": "direct",
}
MEDIA = {name: f"{name}:media" for name in ("public", "public:local", "public:remote")}


async def stream_viewer(session: AsyncSession, token: str | None) -> StreamViewer:
    """Who is connecting: anonymous without a token; 401 for a token that is not valid."""
    if not token:
        return StreamViewer()
    try:
        creds = await authenticate(session, token)
    except Unauthorized:
        raise StreamRefused(401, "Invalid access token") from None
    account_id = creds.account.id if creds.account is not None else None
    return StreamViewer(account_id, creds.token_id, frozenset(creds.scopes))


def _bearer(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    header = headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return query.get("access_token") or None


def _hub(app: Starlette) -> Hub:
    hub: Hub | None = getattr(app.state, "hub", None)
    if hub is None:
        raise StreamRefused(503, "Streaming is not running")
    return hub


def sse_stream(channel: str, only_media: str | None) -> str | None:
    """The stream an SSE path names (None when it names none): `/public?only_media=true` is
    `public:media`, the flag read as every door reads one (`http.params.flag`)."""
    name = SSE_STREAMS.get(channel.strip("/"))
    if name in MEDIA and flag(only_media):
        return MEDIA[name]
    return name


@router.get("/api/v1/streaming/health", response_class=PlainTextResponse)
async def health(request: Request) -> Response:
    """`OK` while this process dispatches live events (503 otherwise)."""
    hub = getattr(request.app.state, "hub", None)
    if hub is not None and not (hub.running() and hub.bus.healthy()):
        return PlainTextResponse("Service Unavailable", status_code=503)
    return PlainTextResponse("OK")


@router.get("/api/v1/streaming", include_in_schema=False)
@router.get("/api/v1/streaming/", include_in_schema=False)
async def plain_get() -> Response:
    """Without a WebSocket upgrade there is no stream at this address."""
    return error_response(400, "Unknown channel requested")


@router.get("/api/v1/streaming/{channel:path}", include_in_schema=False)
async def event_stream(request: Request, channel: str) -> Response:
    """One stream as server-sent events (`event: NAME` / `data: PAYLOAD`)."""
    name = sse_stream(channel, request.query_params.get("only_media"))
    if name is None:
        return error_response(404, "Not found")
    try:
        async with request.app.state.db.session() as session:
            viewer = await stream_viewer(session, _bearer(request.headers, request.query_params))
            stream = await open_stream(session, viewer, name, dict(request.query_params))
        hub = _hub(request.app)
    except DomainError as exc:
        return error_response(exc.status, exc.message)
    listener = hub.connect(viewer, "sse")
    hub.subscribe(listener, stream)
    return EventStreamResponse(hub, listener)


@router.websocket("/api/v1/streaming")
@router.websocket("/api/v1/streaming/")
async def websocket_stream(ws: WebSocket) -> None:
    """The multiplexed WebSocket: `?stream=` and subscribe / unsubscribe messages."""
    protocols = ws.scope.get("subprotocols") or []
    token = _bearer(ws.headers, ws.query_params) or (protocols[0] if protocols else None)
    try:
        async with ws.app.state.db.session() as session:
            viewer = await stream_viewer(session, token)
        hub = _hub(ws.app)
    except DomainError as exc:
        await refuse_websocket(ws, exc)
        return
    await ws.accept(subprotocol=protocols[0] if protocols else None)
    params = dict(ws.query_params)
    initial = params if params.get("stream") else None
    await WebSocketSession(ws, hub, viewer).run(initial)
