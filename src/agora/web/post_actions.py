"""What a signed-in person does to posts, as HTMX actions that answer only the changed post
(and, without JavaScript, as plain forms that go back to where they came from): write,
reply, quote (with who may quote it), edit, delete, like, boost, bookmark, mute or unmute the
conversation (on the thread page: the API's conversation mute), remove one's post from a
quote. Each is one service call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, Post
from agora.http.deps import SessionDep
from agora.http.params import flag
from agora.ids import parse_id
from agora.social.posts import interactions, quote_rule, scheduled_posts
from agora.social.posts.writing import Draft, create_post, delete_post, edit_post, get_visible_post
from agora.social.reading import conversation_mutes
from agora.social.rules.errors import NotFound
from agora.web.media_forms import composer_media, composer_poll
from agora.web.page_feeds import hydrate
from agora.web.post_cards import cards_html, shown_cards
from agora.web.render import SECURITY_HEADERS, render, render_fragment
from agora.web.route import id_or_404, safe_next, web_router
from agora.web.scheduled_pages import local_time
from agora.web.session import Form, Me, field, is_htmx

router = web_router()
Action = Callable[[AsyncSession, Account, int], Awaitable[object]]


async def _bookmark(session: AsyncSession, actor: Account, post_id: int) -> Post:
    return await interactions.set_bookmark(session, actor, post_id, True)


async def _unbookmark(session: AsyncSession, actor: Account, post_id: int) -> Post:
    return await interactions.set_bookmark(session, actor, post_id, False)


async def _mute(session: AsyncSession, actor: Account, post_id: int) -> Post:
    return await conversation_mutes.set_conversation_mute(session, actor, post_id, True)


async def _unmute(session: AsyncSession, actor: Account, post_id: int) -> Post:
    return await conversation_mutes.set_conversation_mute(session, actor, post_id, False)


ACTIONS: dict[str, Action] = {
    "favourite": interactions.favourite,
    "unfavourite": interactions.unfavourite,
    "reblog": interactions.reblog,
    "unreblog": interactions.unreblog,
    "bookmark": _bookmark,
    "unbookmark": _unbookmark,
    "mute": _mute,
    "unmute": _unmute,
}


post_id_of = id_or_404  # a post id from a URL or form (NotFound when it is not one)


def fragment(html: str, status: int = 200) -> HTMLResponse:
    """An HTML fragment answered to HTMX."""
    return HTMLResponse(html, status, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})


async def post_fragment(
    session: AsyncSession, request: Request, me: Me, ids: list[int], **extra: object
) -> HTMLResponse:
    """The card of the first of `ids` the viewer may see ('' if none), from the render cache
    (web/post_cards.py). `thread_focus`: shown as a thread's focus."""
    cards = await shown_cards(session, me.account.id, ids, context=None)
    if not cards:
        return fragment("")
    focus = bool(extra.get("thread_focus"))
    return fragment(cards_html(cards[:1], me.account.id, request.state.csrf, thread_focus=focus))


def came_from(request: Request) -> str:
    """The local page a form was sent from (its Referer), or /home."""
    referer = request.headers.get("referer", "")
    base = str(request.base_url)
    return safe_next(referer[len(base) - 1 :] if referer.startswith(base) else "/home")


def back(request: Request, form_next: str = "") -> RedirectResponse:
    """Without HTMX: back to the page the form was on."""
    return RedirectResponse(safe_next(form_next) if form_next else came_from(request), 303)


@router.get("/web/statuses/{post_id}")
async def show_post(request: Request, session: SessionDep, me: Me, post_id: str) -> Response:
    """One post as a fragment (the live timeline inserts new posts with it)."""
    pid = post_id_of(post_id)
    await get_visible_post(session, me.account.id, pid)
    return await post_fragment(session, request, me, [pid])


@router.post("/web/statuses")
async def write(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Publish a post or a reply, with images or a poll (the idempotency field makes a
    double submit post once)."""
    poll = composer_poll(form)
    with_poll = poll is not None
    media_ids = await composer_media(request, session, me.account.id, form, with_poll=with_poll)
    draft = Draft(
        text=field(form, "status"),
        spoiler_text=field(form, "spoiler_text").strip(),
        visibility=field(form, "visibility", "public") or "public",
        in_reply_to_id=post_id_of(field(form, "in_reply_to_id"))
        if field(form, "in_reply_to_id")
        else None,
        quote_id=post_id_of(field(form, "quote_id")) if field(form, "quote_id") else None,
        quote_policy=field(form, "quote_policy") or None,
        poll=poll,
        media_ids=media_ids,
    )
    when = field(form, "scheduled_at")
    at = local_time(when, field(form, "utc_offset")) if when else None
    if at is not None and not scheduled_posts.is_due(at):
        await scheduled_posts.schedule_post(session, me.account.id, draft, at)
        if not is_htmx(request):
            return RedirectResponse("/scheduled", status_code=303)
        return fragment(render_fragment("_scheduled_notice.html", at=at))
    key = field(form, "idempotency") or None
    post = await create_post(session, me.account.id, draft, idempotency_key=key and f"web:{key}")
    if not is_htmx(request):
        return back(request)
    response = await post_fragment(session, request, me, [post.id])
    response.headers["HX-Trigger"] = "agora:posted"
    return response


@router.get("/web/statuses/{post_id}/edit")
async def edit_form(request: Request, session: SessionDep, me: Me, post_id: str) -> Response:
    """The edit form in place of the post."""
    pid = post_id_of(post_id)
    views = await hydrate(session, me.account.id, [pid])
    if not views or views[0].account.id != me.account.id:
        raise NotFound()
    if not is_htmx(request):
        return render(request, "edit.html", {"view": views[0]})
    return fragment(render_fragment("_edit.html", view=views[0], csrf=request.state.csrf))


@router.post("/web/statuses/{post_id}/edit")
async def edit(request: Request, session: SessionDep, me: Me, form: Form, post_id: str) -> Response:
    """Save an edit (the previous version goes into the history). The form shows the
    content warning and the sensitive box as they are; a field it did not send is kept."""
    pid = post_id_of(post_id)
    spoiler = form.get("spoiler_text")
    draft = Draft(
        text=field(form, "status"),
        spoiler_text=spoiler.strip() if isinstance(spoiler, str) else None,
        sensitive=flag(field(form, "sensitive")) if "sensitive_shown" in form else None,
    )
    await edit_post(session, me.account, pid, draft)
    if not is_htmx(request):
        return RedirectResponse(f"/@{me.account.username}/{pid}", status_code=303)
    return await post_fragment(session, request, me, [pid])


@router.post("/web/statuses/{post_id}/quotes/{quoting_id}/revoke")
async def revoke_quote(
    request: Request, session: SessionDep, me: Me, form: Form, post_id: str, quoting_id: str
) -> Response:
    """Remove one's post from a post quoting it ("Remove quote"); answers the quoting post
    as it now looks (its quote shown as removed)."""
    quoting = await quote_rule.revoke_quote(
        session, me.account, post_id_of(post_id), post_id_of(quoting_id)
    )
    if not is_htmx(request):
        return back(request)
    shown = parse_id(field(form, "shown"))
    return await post_fragment(session, request, me, [i for i in (shown, quoting.id) if i])


@router.post("/web/statuses/{post_id}/{action}")
async def act(
    request: Request, session: SessionDep, me: Me, form: Form, post_id: str, action: str
) -> Response:
    """Like, boost, bookmark, mute the conversation or undo (declared last: `/edit` is not
    one); answers the post as it now looks (the boost around it included when the action was
    taken on a boost; as the thread page's focused post when the form says `focus`)."""
    pid = post_id_of(post_id)
    if action == "delete":
        await delete_post(session, me.account, pid)
        await session.commit()
        return fragment("") if is_htmx(request) else back(request)
    run = ACTIONS.get(action)
    if run is None:
        raise NotFound()
    await run(session, me.account, pid)
    await session.commit()
    if not is_htmx(request):
        return back(request)
    shown = parse_id(field(form, "shown"))
    focus = {"thread_focus": True} if field(form, "focus") else {}
    return await post_fragment(session, request, me, [i for i in (shown, pid) if i], **focus)
