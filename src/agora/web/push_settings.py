"""Browser notifications (`/settings/notifications`): the web app's Web Push, through the same
subscriptions and the same `web_push` jobs as the API's (social/reading/push_subscriptions.py),
held by the browser's web session instead of an access token (one per session; signing out
or the session's expiry ends it). The service worker is served from `/sw.js` so that its
scope is the whole site; it shows each push as a notification (static/sw.js)."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import FileResponse, HTMLResponse

from agora.auth.web_sessions import SignedIn
from agora.http.deps import SessionDep
from agora.social.reading import push_subscriptions as push
from agora.social.reading.push_keys import vapid_public_key
from agora.social.rules.errors import NotFound
from agora.web.render import STATIC, render
from agora.web.route import web_router
from agora.web.session import Form, Me, field

router = web_router()
# What the web app's notifications page lists, pushed too (admin alerts stay off).
WEB_ALERTS: tuple[str, ...] = ("mention", "status", "reblog", "follow", "follow_request")
WEB_ALERTS += ("favourite", "poll", "update")


def _owner(me: SignedIn) -> push.PushOwner:
    return push.PushOwner(account_id=me.account.id, web_session_id=me.session_id)


@router.get("/settings/notifications")
async def notifications_page(request: Request, session: SessionDep, me: Me) -> Response:
    """The browser-notifications switch (the script asks the browser, then subscribes)."""
    try:
        await push.get_subscription(session, _owner(me))
        subscribed = True
    except NotFound:
        subscribed = False
    context = {
        "nav": "settings",
        "section": "notifications",
        "subscribed": subscribed,
        "vapid_key": await vapid_public_key(request.app.state.db),
    }
    return render(request, "settings_notifications.html", context)


@router.post("/web/push/subscription")
async def subscribe(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Subscribe this browser (`endpoint`, `p256dh`, `auth` from `PushManager.subscribe`):
    RFC 8291 pushes of the notifications the web app lists. A bad value is a 422."""
    await push.subscribe(
        session,
        _owner(me),
        endpoint=field(form, "endpoint"),
        p256dh=field(form, "p256dh"),
        auth=field(form, "auth"),
        standard=True,
        alerts=dict.fromkeys(WEB_ALERTS, True),
        policy="all",
    )
    return HTMLResponse("Browser notifications are on.")


@router.post("/web/push/unsubscribe")
async def unsubscribe(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Stop pushing to this browser."""
    await push.unsubscribe(session, _owner(me))
    return HTMLResponse("Browser notifications are off.")


@router.get("/sw.js", include_in_schema=False)
async def service_worker() -> Response:
    """The service worker, at the root so that it may control every page."""
    return FileResponse(
        STATIC / "sw.js",
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"},
    )
