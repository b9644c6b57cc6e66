"""Live updates for the browser: `GET /web/live` streams the signed-in person's `user`
stream (new posts in their home timeline, notifications, deletions) as server-sent events,
from the same hub and through the same audience rules as Mastodon's streaming API. app.js
fetches each new post or notification as an HTML fragment (`/web/statuses/ID`,
`/web/notifications/ID`), so the page shows exactly what the viewer may see."""

from __future__ import annotations

from fastapi import Request, Response

from agora.http.deps import SessionDep
from agora.http.streaming.wire import EventStreamResponse
from agora.social.live.streams import StreamViewer, open_stream
from agora.social.rules.errors import DomainError
from agora.web.route import error_page, web_router
from agora.web.session import Me

router = web_router()
WEB_SCOPES = frozenset({"read"})


@router.get("/web/live")
async def live(request: Request, session: SessionDep, me: Me) -> Response:
    """The person's `user` stream as text/event-stream (503 when streaming is not running)."""
    hub = getattr(request.app.state, "hub", None)
    if hub is None:
        return error_page(request, 503, "Live updates are not running")
    viewer = StreamViewer(me.account.id, None, WEB_SCOPES)
    try:
        stream = await open_stream(session, viewer, "user", {})
    except DomainError as exc:
        return error_page(request, exc.status, exc.message)
    await session.close()  # the stream may stay open for hours: give the connection back
    listener = hub.connect(viewer, "sse")
    hub.subscribe(listener, stream)
    return EventStreamResponse(hub, listener)
