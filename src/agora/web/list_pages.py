"""Lists in the browser: `/lists` (create, rename, change the replies policy and exclusivity,
delete) and `/lists/ID` (the list timeline with infinite scroll, and its members: add from the
accounts the person follows, remove). Each action is one call to agora.social.reading.lists; someone
else's list is NotFound there, so a 404 page here."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from agora.data.signals import disclose_accounts
from agora.db.models import Account, UserList
from agora.http.deps import SessionDep
from agora.http.params import flag
from agora.social.people.connections import followed_accounts
from agora.social.posts.hydrate import load_accounts
from agora.social.reading import lists
from agora.social.reading.list_timeline import list_timeline
from agora.social.rules.errors import Invalid
from agora.social.rules.paging import Page
from agora.web.page_feeds import feed_of, feed_response, page_of
from agora.web.render import render
from agora.web.route import id_or_404, web_router
from agora.web.session import Form, Me, field

router = web_router()
POLICIES = [
    ("list", "Replies to other members of the list"),
    ("followed", "Replies to anyone I follow"),
    ("none", "No replies"),
]
MEMBERS_SHOWN = 200  # members, and followed accounts offered to add


def _settings(form: Any) -> dict[str, Any]:
    """The title, replies policy and exclusivity a list form sends."""
    return {
        "title": field(form, "title"),
        "replies_policy": field(form, "replies_policy", "list"),
        "exclusive": flag(field(form, "exclusive")),
    }


async def _recover(session: AsyncSession, me: Me) -> None:
    """After a refused change: nothing of it stays, and the viewer's row is usable again."""
    await session.rollback()
    await session.refresh(me.account)


async def _lists_page(
    request: Request, session: AsyncSession, me: Me, error: str | None = None
) -> Response:
    found = await lists.owned_lists(session, me.account.id)
    context = {"nav": "lists", "lists": found, "policies": POLICIES, "error": error}
    return render(request, "lists.html", context, status=422 if error else 200)


@router.get("/lists")
async def lists_page(request: Request, session: SessionDep, me: Me) -> Response:
    """The person's lists, with a form to make one."""
    return await _lists_page(request, session, me)


@router.post("/lists")
async def create(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Make a list, then open it (a bad title is shown on the lists page)."""
    try:
        made = await lists.create_list(session, me.account, **_settings(form))
    except Invalid as exc:
        await _recover(session, me)
        return await _lists_page(request, session, me, exc.message)
    await session.commit()
    return RedirectResponse(f"/lists/{made.id}", status_code=303)


@router.post("/lists/{list_id}/update")
async def update(
    request: Request, session: SessionDep, me: Me, form: Form, list_id: str
) -> Response:
    """Rename a list or change its replies policy or exclusivity."""
    lid = id_or_404(list_id)
    try:
        await lists.update_list(session, me.account.id, lid, **_settings(form))
    except Invalid as exc:
        await _recover(session, me)
        return await _list_page(request, session, me, lid, exc.message)
    await session.commit()
    return RedirectResponse(f"/lists/{lid}?saved=1", status_code=303)


@router.post("/lists/{list_id}/delete")
async def delete(
    request: Request, session: SessionDep, me: Me, form: Form, list_id: str
) -> Response:
    """Delete a list (its members stay followed)."""
    await lists.delete_list(session, me.account.id, id_or_404(list_id))
    await session.commit()
    return RedirectResponse("/lists", status_code=303)


@router.get("/lists/{list_id}")
async def list_page(request: Request, session: SessionDep, me: Me, list_id: str) -> Response:
    """A list's timeline (infinite scroll) and its members."""
    return await _list_page(request, session, me, id_or_404(list_id))


async def _list_page(
    request: Request, session: AsyncSession, me: Me, list_id: int, error: str | None = None
) -> Response:
    found = await lists.get_own_list(session, me.account.id, list_id)
    page = page_of(request)
    timeline = await list_timeline(session, me.account.id, found.id, page)
    feed = await feed_of(
        session, me.account.id, timeline, page, f"/lists/{found.id}", context="home"
    )
    context: dict[str, Any] = {"nav": "lists", "lst": found, "policies": POLICIES}
    if not request.query_params.get("max_id"):
        context.update(await _membership(session, me.account.id, found), error=error)
    response = feed_response(request, "list.html", context, feed)
    if error:
        response.status_code = 422
    return response


async def _membership(session: AsyncSession, owner_id: int, found: UserList) -> dict[str, Any]:
    """The list's members, and the followed accounts that could be added."""
    page = Page(limit=MEMBERS_SHOWN)
    member_ids = await lists.members(session, owner_id, found.id, page)
    followed = (await followed_accounts(session, owner_id, page)).items
    on_list = set(member_ids)
    addable: list[Account] = [a for a in followed if a.id not in on_list]
    members = disclose_accounts(await load_accounts(session, member_ids))
    return {"members": members, "addable": addable, "follows_anyone": bool(followed)}


@router.post("/lists/{list_id}/members")
async def add_member(
    request: Request, session: SessionDep, me: Me, form: Form, list_id: str
) -> Response:
    """Put a followed account on the list."""
    lid = id_or_404(list_id)
    try:
        await lists.add_members(session, me.account.id, lid, [id_or_404(field(form, "account_id"))])
    except Invalid as exc:
        await _recover(session, me)
        return await _list_page(request, session, me, lid, exc.message)
    await session.commit()
    return RedirectResponse(f"/lists/{lid}", status_code=303)


@router.post("/lists/{list_id}/members/{account_id}/remove")
async def remove_member(
    request: Request, session: SessionDep, me: Me, form: Form, list_id: str, account_id: str
) -> Response:
    """Take an account off the list."""
    lid = id_or_404(list_id)
    await lists.remove_members(session, me.account.id, lid, [id_or_404(account_id)])
    await session.commit()
    return RedirectResponse(f"/lists/{lid}", status_code=303)
