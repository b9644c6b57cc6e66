"""Search: GET /api/v2/search and GET /api/v1/accounts/search.

Registered before the accounts router, so /accounts/search is not taken for an account id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from agora.api import serialise
from agora.api.entities import tag_json
from agora.config import get_settings
from agora.db.engine import end_read_transaction
from agora.db.models import Account
from agora.federation import actors as federation
from agora.federation.client import FederationError
from agora.http.deps import SessionDep, caller, optional_caller
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.http.params import flag
from agora.ids import parse_id
from agora.social import search
from agora.social.people.lookup import find_by_username, get_account
from agora.social.posts import tags
from agora.social.posts.writing import get_visible_post
from agora.social.rules.errors import NotFound

router = APIRouter()

TYPES = ("accounts", "hashtags", "statuses")
LOCAL_POST = re.compile(r"^/(?:@([A-Za-z0-9_]+)|users/([A-Za-z0-9_]+)/statuses)/(\d+)/?$")
LOCAL_PROFILE = re.compile(r"^/(?:@|users/)([A-Za-z0-9_]+)/?$")


def _number(name: str, value: str | None, default: int) -> int:
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(422, f"Validation failed: {name} must be a number") from None


def _cursor(name: str, value: str | None) -> int | None:
    if not value:
        return None
    parsed = parse_id(value)
    if parsed is None:
        raise ApiError(422, f"Validation failed: {name} must be an id")
    return parsed


def _query(q: str | None) -> str:
    """The search text: 400 when missing or blank (as Mastodon), 422 when too long."""
    if q is None or not q.strip():
        raise ApiError(400, "param is missing or the value is empty: q")
    if len(q) > search.MAX_QUERY_CHARS:
        most = search.MAX_QUERY_CHARS
        raise ApiError(422, f"Validation failed: q is too long (maximum is {most} characters)")
    return q.strip()


@dataclass(frozen=True, slots=True)
class SearchParams:
    """The query parameters of GET /api/v2/search, validated."""

    q: str
    type: str | None
    resolve: bool
    following: bool
    account_id: int | None
    max_id: int | None
    min_id: int | None
    limit: int
    offset: int


async def search_params(  # async: FastAPI runs a plain def in a thread
    q: Annotated[str | None, Query()] = None,
    type: Annotated[str | None, Query()] = None,
    resolve: Annotated[str | None, Query()] = None,
    following: Annotated[str | None, Query()] = None,
    account_id: Annotated[str | None, Query()] = None,
    exclude_unreviewed: Annotated[str | None, Query()] = None,  # no hashtag review here
    max_id: Annotated[str | None, Query()] = None,
    min_id: Annotated[str | None, Query()] = None,
    limit: Annotated[str | None, Query()] = None,
    offset: Annotated[str | None, Query()] = None,
) -> SearchParams:
    """Dependency: the search parameters (limit clamped to 1..40, offset to 0..10000; the
    offset applies only with a `type`, as on Mastodon)."""
    if type not in (None, "", *TYPES):
        raise ApiError(422, "Validation failed: type must be accounts, hashtags or statuses")
    skip = max(0, min(10_000, _number("offset", offset, 0)))
    return SearchParams(
        q=_query(q),
        type=type or None,
        resolve=flag(resolve),
        following=flag(following),
        account_id=_cursor("account_id", account_id),
        max_id=_cursor("max_id", max_id),
        min_id=_cursor("min_id", min_id),
        limit=max(1, min(40, _number("limit", limit, 20))),
        offset=skip if type else 0,
    )


@router.get("/api/v2/search")
async def search_v2(
    request: Request,
    session: SessionDep,
    params: SearchParams = Depends(search_params),
    me: Account | None = optional_caller("read:search"),
) -> JSON:
    if me is None and params.offset:
        raise ApiError(401, "Search queries pagination is not supported without authentication")
    if me is None and params.resolve:
        raise ApiError(
            401,
            "Search queries that resolve remote resources are not supported without authentication",
        )
    viewer = me.id if me else None
    if params.resolve and _wants(params, "accounts"):
        await _resolve_handle(request, session, params.q, me)
    found = await _local_url(session, viewer, params.q)
    if found is None:
        found = await _search(session, viewer, params)
    return JSON(found)


async def _resolve_handle(
    request: Request, session: AsyncSession, q: str, me: Account | None
) -> None:
    """Fetch and store the remote account a handle (`@user@host`) names, so the search below
    finds it (the fetch signed by the instance actor, as every fetch is); nothing when `q`
    is no remote handle or it cannot be resolved."""
    if not federation.is_remote_handle(q):
        return
    await end_read_transaction(session)  # the search below must see the stored account
    try:
        await federation.resolve_handle(request.app.state.db, q)
    except FederationError:
        return


def _wants(params: SearchParams, kind: str) -> bool:
    return params.type in (None, kind)


async def _search(
    session: AsyncSession, viewer: int | None, params: SearchParams
) -> dict[str, list[Any]]:
    """Each kind `search.kinds_for` says the query looks for, as `params.type` allows."""
    q = params.q
    result: dict[str, list[Any]] = {"accounts": [], "statuses": [], "hashtags": []}
    kinds = search.kinds_for(q, viewer is not None)
    if _wants(params, "accounts") and "accounts" in kinds:
        ids = await search.search_accounts(
            session,
            viewer,
            q,
            limit=params.limit,
            offset=params.offset,
            following=params.following,
        )
        result["accounts"] = await serialise.accounts(session, ids)
    if _wants(params, "hashtags") and "hashtags" in kinds:
        found = await search.search_hashtags(
            session, viewer, q, limit=params.limit, offset=params.offset
        )
        result["hashtags"] = [tag_json(v) for v in await tags.describe_tags(session, viewer, found)]
    if _wants(params, "statuses") and viewer is not None and "statuses" in kinds:
        if params.account_id is not None:
            await get_account(session, params.account_id)
        where = search.PostFilter(params.account_id, params.max_id, params.min_id)
        ids = await search.search_posts(
            session, viewer, q, where=where, limit=params.limit, offset=params.offset
        )
        result["statuses"] = await serialise.shown_statuses(session, viewer, ids)
    return result


async def _local_url(
    session: AsyncSession, viewer: int | None, q: str
) -> dict[str, list[Any]] | None:
    """A URL finds what it points at when it is one of this server's profile or post pages
    (what clients send to open a link), nothing otherwise (no federation yet); None when `q`
    is not a URL."""
    if not q.startswith(("http://", "https://")) or " " in q:
        return None
    result: dict[str, list[Any]] = {"accounts": [], "statuses": [], "hashtags": []}
    parsed = urlparse(q)
    if parsed.netloc.lower() != urlparse(get_settings().base_url).netloc.lower():
        return result
    post = LOCAL_POST.match(parsed.path)
    profile = LOCAL_PROFILE.match(parsed.path)
    if post and (post_id := parse_id(post.group(3))) is not None:
        try:  # hydration trusts its ids: the visibility rule is asked first
            found = await get_visible_post(session, viewer, post_id)
        except NotFound:
            return result
        result["statuses"] = await serialise.shown_statuses(session, viewer, [found.id])
    elif profile:
        account = await find_by_username(session, profile.group(1))
        result["accounts"] = await serialise.accounts(session, [account.id] if account else [])
    return result


@router.get("/api/v1/accounts/search")
async def account_search(
    session: SessionDep,
    q: Annotated[str | None, Query()] = None,
    limit: Annotated[str | None, Query()] = None,
    offset: Annotated[str | None, Query()] = None,
    resolve: Annotated[str | None, Query()] = None,  # no federation: nothing to resolve
    following: Annotated[str | None, Query()] = None,
    me: Account = caller("read:accounts"),
) -> JSON:
    ids = await search.search_accounts(
        session,
        me.id,
        _query(q),
        limit=max(1, min(80, _number("limit", limit, 40))),
        offset=max(0, min(10_000, _number("offset", offset, 0))),
        following=flag(following),
    )
    return JSON(await serialise.accounts(session, ids))
