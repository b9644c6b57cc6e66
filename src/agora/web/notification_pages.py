"""The notifications page (`/notifications`), and one notification as a fragment for the
live stream. Listing goes through social/reading/notifications.py (its visibility and silence
rules); posts are hydrated for the viewer like any timeline."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from agora.data.signals import disclose_accounts, disclose_views
from agora.db.models import Account, Notification
from agora.http.deps import SessionDep
from agora.social.posts.hydrate import PostView, load_accounts, load_posts
from agora.social.reading.notifications import get_notification, list_notifications
from agora.web.formatting import next_url
from agora.web.page_feeds import page_of
from agora.web.post_actions import fragment, post_id_of
from agora.web.render import render, render_fragment
from agora.web.route import web_router
from agora.web.session import Me, is_htmx

router = web_router()
SAYS = {
    "mention": "mentioned you",
    "reblog": "boosted your post",
    "favourite": "liked your post",
    "follow": "followed you",
    "follow_request": "asked to follow you",
    "status": "posted",
    "update": "edited a post you interacted with",
    "poll": "A poll you voted in has ended",
    "admin.report": "filed a report",
    "admin.sign_up": "signed up",
}


@dataclass(frozen=True, slots=True)
class NotificationView:
    """A notification with who caused it and the post it is about (if any)."""

    note: Notification
    account: Account
    view: PostView | None

    @property
    def says(self) -> str:
        return SAYS.get(self.note.type, self.note.type)


async def notification_views(
    session: AsyncSession, viewer_id: int, notes: list[Notification]
) -> list[NotificationView]:
    """Notifications with their accounts and posts, in constant queries; those whose post
    the viewer may no longer see are left out."""
    accounts = {a.id: a for a in await load_accounts(session, [n.from_account_id for n in notes])}
    post_ids = list({n.post_id for n in notes if n.post_id is not None})
    views = await load_posts(session, viewer_id, post_ids, context="notifications")
    shown = []
    for note in notes:
        view = views.get(note.post_id) if note.post_id is not None else None
        if note.from_account_id in accounts and (note.post_id is None or view is not None):
            shown.append(NotificationView(note, accounts[note.from_account_id], view))
    disclose_accounts(n.account for n in shown)
    disclose_views(n.view for n in shown if n.view is not None)
    return shown


@router.get("/notifications")
async def notifications(request: Request, session: SessionDep, me: Me) -> Response:
    """The person's notifications, newest first, with infinite scroll."""
    page = page_of(request)
    notes = await list_notifications(session, me.account.id, page)
    items = await notification_views(session, me.account.id, notes.items)
    more = next_url("/notifications", notes.next_max_id, len(notes.items) >= page.limit)
    context = {"items": items, "next_url": more, "nav": "notifications"}
    if is_htmx(request) and request.query_params.get("max_id"):
        html = render_fragment(
            "_notifications_page.html", **context, viewer=me, csrf=request.state.csrf
        )
        return fragment(html)
    return render(request, "notifications.html", context)


@router.get("/web/notifications/{notification_id}")
async def one(request: Request, session: SessionDep, me: Me, notification_id: str) -> Response:
    """One notification as a fragment (inserted by the live stream)."""
    note = await get_notification(session, me.account.id, post_id_of(notification_id))
    items = await notification_views(session, me.account.id, [note])
    html = render_fragment(
        "_notifications_page.html", items=items, viewer=me, csrf=request.state.csrf
    )
    return fragment(html)
