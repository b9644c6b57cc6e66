"""The notifications page (`/notifications`): likes, boosts and follows grouped as Mastodon
groups them ("Alice and 3 others liked your post"), the unread count in the nav, the
filtered notifications (requests) page, and one notification as a fragment for the live
stream. Listing goes through social/reading/notification_groups.py and notifications.py (their
visibility, silence and policy rules); posts are hydrated for the viewer like any timeline."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from agora.data.signals import disclose_accounts, disclose_views
from agora.db.models import Account, Marker
from agora.http.deps import SessionDep
from agora.ids import parse_id
from agora.social.posts.hydrate import PostView, load_accounts, load_posts
from agora.social.reading import notification_groups as groups
from agora.social.reading import notification_policies as policies
from agora.social.reading.notifications import GROUPABLE, NoteRow, get_notification
from agora.social.rules.errors import NotFound
from agora.web.formatting import next_url
from agora.web.page_feeds import page_of
from agora.web.post_actions import fragment, post_id_of
from agora.web.render import render, render_fragment
from agora.web.route import id_or_404, web_router
from agora.web.session import Form, Me, is_htmx

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
    """A notification (or a group of them) with who caused it and the post it is about."""

    note: NoteRow
    account: Account
    view: PostView | None
    others: int = 0  # how many more people are in the group
    dom_id: str = ""

    @property
    def says(self) -> str:
        return SAYS.get(self.note.type, self.note.type)


async def notification_views(
    session: AsyncSession, viewer_id: int, found: list[groups.Group]
) -> list[NotificationView]:
    """Groups with their most recent account and post, in constant queries; those whose post
    the viewer may no longer see are left out."""
    notes = [g.notification for g in found]
    people = [g.sample_account_ids[0] for g in found if g.sample_account_ids]
    accounts = {a.id: a for a in await load_accounts(session, people)}
    post_ids = list({n.post_id for n in notes if n.post_id is not None})
    views = await load_posts(session, viewer_id, post_ids, context="notifications")
    shown = []
    for group in found:
        note = group.notification
        view = views.get(note.post_id) if note.post_id is not None else None
        who = group.sample_account_ids[0] if group.sample_account_ids else None
        if who in accounts and (note.post_id is None or view is not None):
            others = max(len({*group.sample_account_ids}) - 1, group.count - 1)
            dom_id = f"notification-{note.id}"
            shown.append(NotificationView(note, accounts[who], view, others, dom_id))
    disclose_accounts(n.account for n in shown)
    disclose_views(n.view for n in shown if n.view is not None)
    return shown


@router.get("/notifications")
async def notifications(request: Request, session: SessionDep, me: Me) -> Response:
    """The person's notifications, grouped, newest first, with infinite scroll."""
    page = page_of(request)
    found = await groups.list_groups(session, me.account.id, page, groups.GroupFilters())
    items = await notification_views(session, me.account.id, found.items)
    more = next_url("/notifications", found.next_max_id, len(found.items) >= page.limit)
    context = {"items": items, "next_url": more, "nav": "notifications"}
    if is_htmx(request) and request.query_params.get("max_id"):
        html = render_fragment(
            "_notifications_page.html", **context, viewer=me, csrf=request.state.csrf
        )
        return fragment(html)
    summary = await policies.summary(session, me.account.id)
    newest = found.items[0].notification.id if found.items and page.max_id is None else None
    return render(request, "notifications.html", {**context, "summary": summary, "newest": newest})


@router.post("/web/notifications/read")
async def mark_read(session: SessionDep, me: Me, form: Form) -> Response:
    """The page showed the notifications up to `last_read_id`: the marker moves there."""
    last = parse_id(form.get("last_read_id"))
    if last is not None:
        await groups.read_up_to(session, me.account.id, last)
    return _badge(0)


def _badge(count: int) -> HTMLResponse:
    hidden = "" if count else " hidden"
    label = f' aria-label="{count} new"' if count else ""
    shown = str(count) if count < 100 else "99+"
    return HTMLResponse(
        f'<span id="notif-badge" class="badge" data-count="{count}"{label}{hidden}>'
        f"{shown if count else ''}</span>"
    )


@router.get("/web/notifications/unread_count")
async def unread(session: SessionDep, me: Me) -> Response:
    """The nav's badge: notification groups newer than the marker (loaded after the page)."""
    marker = await session.get(Marker, (me.account.id, "notifications"))
    after = parse_id(marker.last_read_id) if marker is not None else None
    count = await groups.unread_count(session, me.account.id, after, 100, grouped_types=GROUPABLE)
    return _badge(count)


@router.get("/notifications/requests")
async def requests_page(request: Request, session: SessionDep, me: Me) -> Response:
    """Filtered notifications: one request per sender the person's policy held back."""
    found = await policies.list_requests(session, me.account.id, page_of(request))
    people = await load_accounts(session, [v.request.from_account_id for v in found.items])
    accounts = {a.id: a for a in people}
    disclose_accounts(people)
    waiting = [
        (v, accounts[v.request.from_account_id])
        for v in found.items
        if v.request.from_account_id in accounts
    ]
    return render(
        request, "notification_requests.html", {"waiting": waiting, "nav": "notifications"}
    )


@router.post("/web/notifications/requests/{request_id}/{answer}")
async def answer_request(
    session: SessionDep, me: Me, form: Form, request_id: str, answer: str
) -> Response:
    """Accept (their notifications join the list) or dismiss (deleted) one request."""
    wanted = id_or_404(request_id)
    await policies.get_request(session, me.account.id, wanted)  # someone else's: 404
    if answer == "accept":
        await policies.accept_requests(session, me.account.id, [wanted])
    elif answer == "dismiss":
        await policies.dismiss_requests(session, me.account.id, [wanted])
    else:
        raise NotFound()
    return RedirectResponse("/notifications/requests", status_code=303)


@router.get("/web/notifications/{notification_id}")
async def one(request: Request, session: SessionDep, me: Me, notification_id: str) -> Response:
    """One notification as a fragment (inserted by the live stream)."""
    note = await get_notification(session, me.account.id, post_id_of(notification_id))
    row = NoteRow.of(note)
    group = groups.Group(f"ungrouped-{note.id}", row, sample_account_ids=[note.from_account_id])
    items = await notification_views(session, me.account.id, [group])
    html = render_fragment(
        "_notifications_page.html", items=items, viewer=me, csrf=request.state.csrf
    )
    return fragment(html)
