"""Moving an account in the browser (`/settings/migration`, Mastodon's aliases and migration
pages in one): name a former account as an alias, stop naming it, and move this account to
another that names it. Each form is one service call (social/people/accounts.set_alias,
social/people/account_moves.move_own_account); a remote account named in a form is fetched
first through the application's resolver (http/remote_resolver.py)."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.engine import end_read_transaction
from agora.db.models import Account
from agora.http.deps import SessionDep
from agora.http.remote_resolver import is_remote_reference, resolve_remote
from agora.social.people.account_moves import move_own_account
from agora.social.people.accounts import set_alias
from agora.social.people.lookup import find_by_username
from agora.social.rules.errors import DomainError, Invalid
from agora.web.render import render
from agora.web.route import web_router
from agora.web.session import Form, Me, field

router = web_router()
PATH = "/settings/migration"


async def _page(
    request: Request, session: AsyncSession, me: Me, error: str | None = None
) -> Response:
    account = await session.get(Account, me.account.id)
    moved_to = None
    if account is not None and account.moved_to_account_id is not None:
        moved_to = await session.get(Account, account.moved_to_account_id)
    context = {
        "nav": "settings",
        "section": "migration",
        "aliases": list(account.also_known_as or []) if account else [],
        "moved_to": moved_to,
        "error": error,
    }
    return render(request, "settings_migration.html", context, status=422 if error else 200)


async def _account(request: Request, session: AsyncSession, given: str) -> Account:
    if not is_remote_reference(given):
        found = await find_by_username(session, given.strip().lstrip("@"))
        if found is None:
            raise Invalid(f"Validation failed: nobody here is called {given}")
        return found
    await end_read_transaction(session)
    return await resolve_remote(request, given.strip().lstrip("@"))


@router.get(PATH)
async def migration_page(request: Request, session: SessionDep, me: Me) -> Response:
    """The aliases, and the move form."""
    return await _page(request, session, me)


@router.post(f"{PATH}/aliases")
async def add_alias(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Name a former account (`user@host` or its URL), so that it may move here."""
    try:
        other = await _account(request, session, field(form, "acct"))
        if other.domain is None or not other.uri:
            raise Invalid("Validation failed: an alias is an account on another server")
        await set_alias(session, me.account.username, other.uri, keep=True)
    except DomainError as exc:
        return await _page(request, session, me, exc.message)
    return RedirectResponse(f"{PATH}?saved=1", status_code=303)


@router.post(f"{PATH}/aliases/remove")
async def remove_alias(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Stop naming a former account (by its actor URL)."""
    try:
        await set_alias(session, me.account.username, field(form, "uri"), keep=False)
    except DomainError as exc:
        return await _page(request, session, me, exc.message)
    return RedirectResponse(f"{PATH}?saved=1", status_code=303)


@router.post(PATH)
async def move(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Move this account to another that names it as an alias."""
    username = me.account.username
    own_uri = f"{get_settings().base_url.rstrip('/')}/users/{username}"
    try:
        target = await _account(request, session, field(form, "target_acct"))
        account = await session.get(Account, me.account.id)
        assert account is not None
        await move_own_account(session, account, field(form, "password"), target.id, own_uri)
    except DomainError as exc:
        return await _page(request, session, me, exc.message)
    return RedirectResponse(f"{PATH}?saved=1", status_code=303)
