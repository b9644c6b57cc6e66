"""Scheduled posts (Mastodon's `/api/v1/scheduled_statuses`): list, show, move, cancel.
Scheduling itself is `POST /api/v1/statuses` with `scheduled_at` (api/routes/statuses.py).
Each route is one call of social/posts/scheduled_posts.py."""

from __future__ import annotations

from fastapi import APIRouter, Request

from agora.api import serialise
from agora.http.deps import SessionDep, caller_id, id_param, paging
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.http.links import paged
from agora.http.params import read_params
from agora.social.posts import scheduled_posts as service
from agora.social.rules.paging import Page

router = APIRouter(prefix="/api/v1/scheduled_statuses")


@router.get("")
async def list_scheduled(
    request: Request,
    session: SessionDep,
    page: Page = paging(20, 40),
    me_id: int = caller_id("read:statuses"),
) -> JSON:
    found = await service.list_scheduled(session, me_id, page)
    items = await serialise.scheduled_statuses(session, me_id, found.items)
    return paged(request, items, found.next_max_id, found.prev_min_id)


@router.get("/{scheduled_id}")
async def show(
    session: SessionDep, scheduled_id: str, me_id: int = caller_id("read:statuses")
) -> JSON:
    found = await service.get_scheduled(session, me_id, id_param(scheduled_id))
    return JSON((await serialise.scheduled_statuses(session, me_id, [found]))[0])


@router.put("/{scheduled_id}")
async def move(
    request: Request,
    session: SessionDep,
    scheduled_id: str,
    me_id: int = caller_id("write:statuses"),
) -> JSON:
    at = (await read_params(request)).get("scheduled_at")
    if not isinstance(at, str) or not at:
        raise ApiError(422, "Validation failed: Scheduled at can't be blank")
    found = await service.reschedule(session, me_id, id_param(scheduled_id), service.parse_time(at))
    return JSON((await serialise.scheduled_statuses(session, me_id, [found]))[0])


@router.delete("/{scheduled_id}")
async def cancel(
    session: SessionDep, scheduled_id: str, me_id: int = caller_id("write:statuses")
) -> JSON:
    await service.cancel(session, me_id, id_param(scheduled_id))
    return JSON({})
