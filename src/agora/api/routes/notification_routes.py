"""Notifications and read markers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import Response

from agora.api import page_cache, serialise
from agora.api.entities import iso
from agora.db.locks import lock_account
from agora.db.models import Account, Marker, utcnow
from agora.http.deps import SessionDep, caller, caller_id, id_param, paging
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.http.links import paged
from agora.http.params import flag, read_params
from agora.ids import parse_id
from agora.social.reading import notifications as service
from agora.social.rules.paging import Page

router = APIRouter(prefix="/api/v1")


def _list(params: dict[str, Any], key: str) -> list[str] | None:
    value = params.get(key)
    if value is None:
        return None
    return [str(v) for v in (value if isinstance(value, list) else [value])]


@router.get("/notifications")
async def list_notifications(
    request: Request,
    session: SessionDep,
    page: Page = paging(40, 80),
    me_id: int = caller_id("read:notifications"),
) -> Response:
    params = await read_params(request)
    account = params.get("account_id")

    async def build() -> Response:
        notes = await service.list_notifications(
            session,
            me_id,
            page,
            types=_list(params, "types"),
            exclude_types=_list(params, "exclude_types"),
            from_account_id=id_param(str(account)) if account else None,
            include_filtered=flag(params.get("include_filtered")),
        )
        items = await serialise.notifications(session, me_id, notes.items)
        return paged(request, items, notes.next_max_id, notes.prev_min_id)

    sources = page_cache.account_sources(me_id)
    return await page_cache.served(request, session, me_id, sources, build)


@router.get("/notifications/{notification_id}")
async def get_notification(
    session: SessionDep, notification_id: str, me: Account = caller("read:notifications")
) -> JSON:
    note = await service.get_notification(session, me.id, id_param(notification_id))
    items = await serialise.notifications(session, me.id, [note])
    if not items:
        raise ApiError(404, "Record not found")
    return JSON(items[0])


@router.post("/notifications/clear")
async def clear(session: SessionDep, me: Account = caller("write:notifications")) -> JSON:
    await service.dismiss(session, me.id)
    return JSON({})


@router.post("/notifications/{notification_id}/dismiss")
async def dismiss(
    session: SessionDep, notification_id: str, me: Account = caller("write:notifications")
) -> JSON:
    await service.dismiss(session, me.id, id_param(notification_id))
    return JSON({})


TIMELINES = ("home", "notifications")


def _marker_json(m: Marker) -> dict[str, Any]:
    return {"last_read_id": m.last_read_id, "version": m.version, "updated_at": iso(m.updated_at)}


@router.get("/markers")
async def get_markers(
    request: Request, session: SessionDep, me: Account = caller("read:statuses")
) -> JSON:
    wanted = _list(await read_params(request), "timeline") or list(TIMELINES)
    rows = await session.scalars(
        select(Marker).where(Marker.account_id == me.id, Marker.timeline.in_(wanted))
    )
    return JSON({m.timeline: _marker_json(m) for m in rows})


@router.post("/markers")
async def set_markers(
    request: Request, session: SessionDep, me: Account = caller("write:statuses")
) -> JSON:
    params = await read_params(request)
    out = {}
    await lock_account(session, me.id)  # one marker per timeline, versions counted exactly
    for timeline in TIMELINES:
        given = params.get(timeline)
        if not isinstance(given, dict) or parse_id(given.get("last_read_id")) is None:
            continue
        marker = await session.get(Marker, (me.id, timeline))
        if marker is None:
            marker = Marker(account_id=me.id, timeline=timeline, version=0)
            session.add(marker)
        marker.last_read_id = str(parse_id(given["last_read_id"]))
        marker.version = (marker.version or 0) + 1
        marker.updated_at = utcnow()
        out[timeline] = marker
    if not out:
        raise ApiError(
            422, "Validation failed: home[last_read_id] or notifications[last_read_id] required"
        )
    await session.commit()
    return JSON({k: _marker_json(m) for k, m in out.items()})
