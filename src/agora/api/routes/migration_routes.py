"""Agora extension: moving an account (Mastodon's account migration, which Mastodon offers
only as settings pages).

`GET /api/v1/agora/account/aliases`, `POST /api/v1/agora/account/aliases` {acct} (name a
former account, `user@host` or its actor URL, so that it may move here; published as
`alsoKnownAs`), `DELETE /api/v1/agora/account/aliases` {acct}, and
`POST /api/v1/agora/account/move` {target_acct, password} (social/people/account_moves.py).
A remote account named here is fetched first (WebFinger and its actor document, signed by the
instance actor), outside the request's read transaction, so its `alsoKnownAs` is fresh.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession

from agora.api.entities import account_json
from agora.db.engine import end_read_transaction
from agora.db.models import Account
from agora.federation import actors as federation
from agora.http.deps import SessionDep, caller
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.http.params import Params, body, openapi_body
from agora.http.remote_resolver import is_remote_reference, resolve_remote
from agora.social.people.account_moves import move_own_account
from agora.social.people.accounts import set_alias
from agora.social.people.lookup import find_by_username

router = APIRouter(prefix="/api/v1/agora/account")


class AliasForm(Params):
    """The other account: `user@host` (or `@user@host`), or its actor URL."""

    acct: str = ""


class MoveForm(Params):
    """The account to move to (`user@host`, or a local `name`) and the current password."""

    target_acct: str = ""
    password: str = ""


async def resolve_account(request: Request, session: AsyncSession, acct: str) -> Account:
    """The account `acct` names: a remote one fetched now (by handle or actor URL; 422 when it
    cannot be), or a local one by name (404 when there is none)."""
    given = acct.strip()
    if not is_remote_reference(given):
        found = await find_by_username(session, given.lstrip("@"))
        if found is None:
            raise ApiError(404, "Record not found")
        return found
    await end_read_transaction(session)
    return await resolve_remote(request, given.lstrip("@"))


def aliases_json(aliases: list[str]) -> dict[str, Any]:
    return {"aliases": aliases}


@router.get("/aliases")
async def list_aliases(me: Account = caller("read:accounts")) -> JSON:
    """The caller's former accounts (actor URLs), as published in `alsoKnownAs`."""
    return JSON(aliases_json(list(me.also_known_as or [])))


@router.post("/aliases", openapi_extra=openapi_body(AliasForm))
async def add_alias(
    request: Request,
    session: SessionDep,
    me: Account = caller("write:accounts"),
    form: AliasForm = body(AliasForm),
) -> JSON:
    """Name a former account (it may then move here)."""
    other = await resolve_account(request, session, form.acct)
    if other.domain is None or not other.uri:
        raise ApiError(422, "Validation failed: an alias is an account on another server")
    return JSON(aliases_json(await set_alias(session, me.username, other.uri, keep=True)))


@router.delete("/aliases", openapi_extra=openapi_body(AliasForm))
async def remove_alias(
    request: Request,
    session: SessionDep,
    me: Account = caller("write:accounts"),
    form: AliasForm = body(AliasForm),
) -> JSON:
    """Stop naming a former account (by its actor URL, or its handle)."""
    uri = form.acct.strip()
    if not uri.startswith(("http://", "https://")):
        other = await resolve_account(request, session, uri)
        uri = other.uri or ""
    return JSON(aliases_json(await set_alias(session, me.username, uri, keep=False)))


@router.post("/move", openapi_extra=openapi_body(MoveForm))
async def move(
    request: Request,
    session: SessionDep,
    me: Account = caller("write:accounts"),
    form: MoveForm = body(MoveForm),
) -> JSON:
    """Move the caller's account to `target_acct`, which must name it as an alias."""
    target = await resolve_account(request, session, form.target_acct)
    moved = await move_own_account(session, me, form.password, target.id, federation.actor_uri(me))
    found = await session.get(Account, target.id)
    assert found is not None
    return JSON({"moved_to": account_json(found), "local_followers_moved": moved})
