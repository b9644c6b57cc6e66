"""Following, follow requests, blocks, mutes and featuring people in the browser. The
actions answer the relationship buttons as they now are (HTMX), or go back (plain forms)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from agora.data.signals import disclose_accounts
from agora.db.models import Account
from agora.http.deps import SessionDep
from agora.social.people import endorsements
from agora.social.people import relationships as rel
from agora.social.people.connections import blocked_accounts, follow_requesters, muted_accounts
from agora.social.people.lookup import get_account
from agora.social.rules.errors import NotFound
from agora.social.rules.paging import Page
from agora.web.post_actions import back, fragment
from agora.web.render import render, render_fragment
from agora.web.route import id_or_404, web_router
from agora.web.session import Form, Me, is_htmx

router = web_router()
Action = Callable[[AsyncSession, Account, int], Awaitable[None]]
LIST_SIZE = 40


async def _follow(session: AsyncSession, actor: Account, target_id: int) -> None:
    await rel.follow(session, actor, target_id)


async def _endorse(session: AsyncSession, actor: Account, target_id: int) -> None:
    await endorsements.endorse(session, actor.id, target_id)


async def _unendorse(session: AsyncSession, actor: Account, target_id: int) -> None:
    await endorsements.unendorse(session, actor.id, target_id)


ACTIONS: dict[str, Action] = {
    "follow": _follow,
    "unfollow": rel.unfollow,
    "block": rel.block,
    "unblock": rel.unblock,
    "mute": rel.mute,
    "unmute": rel.unmute,
    "pin": _endorse,  # feature on one's profile (the API's /accounts/:id/pin)
    "unpin": _unendorse,
}


account_id_of = id_or_404  # an account id from the URL (NotFound when it is not one)


@router.post("/web/accounts/{account_id}/{action}")
async def act(
    request: Request, session: SessionDep, me: Me, form: Form, account_id: str, action: str
) -> Response:
    """Follow (or ask to), unfollow, block, unblock, mute, unmute, feature (`pin`) or stop
    featuring (`unpin`) someone."""
    run = ACTIONS.get(action)
    if run is None:
        raise NotFound()
    target = await get_account(session, account_id_of(account_id))
    await run(session, me.account, target.id)
    await session.commit()
    if not is_htmx(request):
        return back(request)
    relation = (await rel.relationships(session, me.account.id, [target.id]))[0]
    html = render_fragment(
        "_relationship.html", account=target, relation=relation, csrf=request.state.csrf
    )
    return fragment(html)


@router.get("/follow_requests")
async def follow_requests(request: Request, session: SessionDep, me: Me) -> Response:
    """People waiting for the person to accept their follow."""
    waiting = await follow_requesters(session, me.account.id, Page(limit=LIST_SIZE))
    shown = disclose_accounts(waiting.items)
    return render(request, "follow_requests.html", {"waiting": shown})


@router.post("/web/follow_requests/{account_id}/{answer}")
async def answer(
    request: Request, session: SessionDep, me: Me, form: Form, account_id: str, answer: str
) -> Response:
    """Accept or reject a follow request; the row disappears."""
    if answer not in ("accept", "reject"):
        raise NotFound()
    requester = account_id_of(account_id)
    await rel.answer_follow_request(session, me.account, requester, accept=answer == "accept")
    await session.commit()
    return fragment("") if is_htmx(request) else back(request)


@router.get("/settings/blocks")
async def blocks_and_mutes(request: Request, session: SessionDep, me: Me) -> Response:
    """Who the person blocks and mutes, with undo buttons."""
    page = Page(limit=LIST_SIZE)
    context = {
        "nav": "settings",
        "section": "blocks",
        "blocked": (await blocked_accounts(session, me.account.id, page)).items,
        "muted": (await muted_accounts(session, me.account.id, page)).items,
    }
    return render(request, "settings_blocks.html", context)
