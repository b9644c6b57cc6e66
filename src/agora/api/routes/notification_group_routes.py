"""Grouped notifications (`/api/v2/notifications`), unread counts, notification policies
(`/api/v2/notifications/policy`, and 4.3's older v1 shape at `/api/v1/notifications/policy`)
and notification requests (`/api/v1/notifications/requests`),
as Mastodon 4.3 answers them. Included before notification_routes.py so that its
`/notifications/{id}` does not take `requests` or `unread_count` for an id."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from agora.api import page_cache, serialise
from agora.api.entities import account_json, iso
from agora.api.status_cache import status_fragments
from agora.db.models import Marker
from agora.http.deps import SessionDep, caller_id, id_param, paging
from agora.http.json import JSON
from agora.http.links import paged
from agora.http.params import flag, read_params
from agora.ids import parse_id
from agora.social.posts.hydrate import load_accounts
from agora.social.reading import notification_groups as groups
from agora.social.reading import notification_policies as policies
from agora.social.reading.notifications import GROUPABLE
from agora.social.rules.errors import Invalid
from agora.social.rules.paging import Page

router = APIRouter()
READ, WRITE = "read:notifications", "write:notifications"


def _list(params: dict[str, Any], key: str) -> tuple[str, ...]:
    value = params.get(key)
    if value is None:
        return ()
    return tuple(str(v) for v in (value if isinstance(value, list) else [value]))


def _filters(params: dict[str, Any]) -> groups.GroupFilters:
    account = params.get("account_id")
    return groups.GroupFilters(
        grouped_types=_list(params, "grouped_types") or GROUPABLE,
        types=_list(params, "types"),
        exclude_types=_list(params, "exclude_types"),
        from_account_id=id_param(str(account)) if account else None,
        include_filtered=flag(params.get("include_filtered")),
    )


def _expand(params: dict[str, Any]) -> bool:
    """True for `expand_accounts=partial_avatars`; 422 for a value Mastodon does not know."""
    value = params.get("expand_accounts", "full")
    if value not in ("full", "partial_avatars"):
        raise Invalid("Validation failed: expand_accounts must be full or partial_avatars")
    return bool(value == "partial_avatars")


@router.get("/api/v2/notifications")
async def list_groups(
    request: Request,
    session: SessionDep,
    page: Page = paging(40, 80),
    me_id: int = caller_id(READ),
) -> Response:
    params = await read_params(request)
    partial = _expand(params)
    filters = _filters(params)

    async def build() -> Response:
        found = await groups.list_groups(session, me_id, page, filters)
        body = await serialise.notification_groups(session, me_id, found.items, partial=partial)
        return paged(request, body, found.next_max_id, found.prev_min_id)

    sources = page_cache.account_sources(me_id)
    return await page_cache.served(request, session, me_id, sources, build)


async def _unread(request: Request, session: AsyncSession, me_id: int, grouped: bool) -> JSON:
    params = await read_params(request)
    limit = max(1, min(int(parse_id(params.get("limit")) or 100), 1000))
    marker = await session.get(Marker, (me_id, "notifications"))
    after = parse_id(marker.last_read_id) if marker is not None else None
    types = (_list(params, "grouped_types") or GROUPABLE) if grouped else None
    count = await groups.unread_count(session, me_id, after, limit, grouped_types=types)
    return JSON({"count": count})


@router.get("/api/v2/notifications/unread_count")
async def unread_groups(
    request: Request, session: SessionDep, me_id: int = caller_id(READ)
) -> JSON:
    return await _unread(request, session, me_id, True)


@router.get("/api/v1/notifications/unread_count")
async def unread_notifications(
    request: Request, session: SessionDep, me_id: int = caller_id(READ)
) -> JSON:
    return await _unread(request, session, me_id, False)


async def _policy_json(session: AsyncSession, me_id: int, policy: policies.Policy) -> JSON:
    summary = await policies.summary(session, me_id)
    return JSON({**asdict(policy), "summary": asdict(summary)})


@router.get("/api/v2/notifications/policy")
async def get_policy(session: SessionDep, me_id: int = caller_id(READ)) -> JSON:
    return await _policy_json(session, me_id, await policies.get_policy(session, me_id))


@router.patch("/api/v2/notifications/policy")
async def update_policy(
    request: Request, session: SessionDep, me_id: int = caller_id(WRITE)
) -> JSON:
    params = await read_params(request)
    policy = await policies.update_policy(session, me_id, params)
    return await _policy_json(session, me_id, policy)


# Mastodon 4.3's v1 shape: one true/false per kind of sender (true: anything but accept)
V1_POLICY = {
    "filter_not_following": "for_not_following",
    "filter_not_followers": "for_not_followers",
    "filter_new_accounts": "for_new_accounts",
    "filter_private_mentions": "for_private_mentions",
}


async def _policy_v1_json(session: AsyncSession, me_id: int, policy: policies.Policy) -> JSON:
    summary = await policies.summary(session, me_id)
    shown: dict[str, Any] = {v1: getattr(policy, v2) != "accept" for v1, v2 in V1_POLICY.items()}
    return JSON({**shown, "summary": asdict(summary)})


@router.get("/api/v1/notifications/policy")
async def get_policy_v1(session: SessionDep, me_id: int = caller_id(READ)) -> JSON:
    """The policy in v1's shape (`filter_not_following`… true / false)."""
    return await _policy_v1_json(session, me_id, await policies.get_policy(session, me_id))


@router.put("/api/v1/notifications/policy")
async def update_policy_v1(
    request: Request, session: SessionDep, me_id: int = caller_id(WRITE)
) -> JSON:
    """Change the policy in v1's shape: true is `filter`, false `accept`."""
    params = await read_params(request)
    changes = {
        v2: "filter" if flag(params[v1]) else "accept"
        for v1, v2 in V1_POLICY.items()
        if v1 in params
    }
    policy = await policies.update_policy(session, me_id, changes)
    return await _policy_v1_json(session, me_id, policy)


@router.get("/api/v2/notifications/{group_key}")
async def get_group(session: SessionDep, group_key: str, me_id: int = caller_id(READ)) -> JSON:
    group = await groups.get_group(session, me_id, group_key)
    return JSON(await serialise.notification_groups(session, me_id, [group]))


@router.post("/api/v2/notifications/{group_key}/dismiss")
async def dismiss_group(session: SessionDep, group_key: str, me_id: int = caller_id(WRITE)) -> JSON:
    await groups.dismiss_group(session, me_id, group_key)
    return JSON({})


@router.get("/api/v2/notifications/{group_key}/accounts")
async def group_accounts(session: SessionDep, group_key: str, me_id: int = caller_id(READ)) -> JSON:
    ids = await groups.group_account_ids(session, me_id, group_key)
    found = {a.id: a for a in await load_accounts(session, ids)}
    return JSON([account_json(found[i]) for i in ids if i in found])


async def _requests_json(
    session: AsyncSession, me_id: int, views: list[policies.RequestView]
) -> list[dict[str, Any]]:
    """NotificationRequest entities (constant queries)."""
    accounts = {
        a.id: a for a in await load_accounts(session, [v.request.from_account_id for v in views])
    }
    post_ids = [v.last_post_id for v in views if v.last_post_id is not None]
    posts = await status_fragments(session, me_id, post_ids, context="notifications")
    return [
        {
            "id": str(v.request.id),
            "created_at": iso(v.request.updated_at),
            "updated_at": iso(v.request.updated_at),
            "account": account_json(accounts[v.request.from_account_id]),
            "notifications_count": str(v.notifications_count),
            "last_status": posts.get(v.last_post_id) if v.last_post_id is not None else None,
        }
        for v in views
        if v.request.from_account_id in accounts
    ]


@router.get("/api/v1/notifications/requests")
async def list_requests(
    request: Request,
    session: SessionDep,
    page: Page = paging(40, 80),
    me_id: int = caller_id(READ),
) -> JSON:
    found = await policies.list_requests(session, me_id, page)
    items = await _requests_json(session, me_id, found.items)
    return paged(request, items, found.next_max_id, found.prev_min_id)


@router.get("/api/v1/notifications/requests/merged")
async def merged(me_id: int = caller_id(READ)) -> JSON:
    return JSON({"merged": True})  # accepting and dismissing are done in their request


def _ids(params: dict[str, Any]) -> list[int]:
    return [i for i in (parse_id(v) for v in _list(params, "id")) if i is not None]


@router.post("/api/v1/notifications/requests/accept")
async def accept_many(request: Request, session: SessionDep, me_id: int = caller_id(WRITE)) -> JSON:
    await policies.accept_requests(session, me_id, _ids(await read_params(request)))
    return JSON({})


@router.post("/api/v1/notifications/requests/dismiss")
async def dismiss_many(
    request: Request, session: SessionDep, me_id: int = caller_id(WRITE)
) -> JSON:
    await policies.dismiss_requests(session, me_id, _ids(await read_params(request)))
    return JSON({})


@router.get("/api/v1/notifications/requests/{request_id}")
async def get_request(session: SessionDep, request_id: str, me_id: int = caller_id(READ)) -> JSON:
    view = await policies.get_request(session, me_id, id_param(request_id))
    return JSON((await _requests_json(session, me_id, [view]))[0])


@router.post("/api/v1/notifications/requests/{request_id}/accept")
async def accept(session: SessionDep, request_id: str, me_id: int = caller_id(WRITE)) -> JSON:
    await policies.get_request(session, me_id, id_param(request_id))  # 404 for others'
    await policies.accept_requests(session, me_id, [id_param(request_id)])
    return JSON({})


@router.post("/api/v1/notifications/requests/{request_id}/dismiss")
async def dismiss(session: SessionDep, request_id: str, me_id: int = caller_id(WRITE)) -> JSON:
    await policies.get_request(session, me_id, id_param(request_id))  # 404 for others'
    await policies.dismiss_requests(session, me_id, [id_param(request_id)])
    return JSON({})
