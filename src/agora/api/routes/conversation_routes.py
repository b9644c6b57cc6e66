"""Direct-message conversations (Mastodon's `/api/v1/conversations`): list, mark read, remove.
Each route is one call of `social/reading/conversations.py`; what a conversation's last
message shows goes through hydration (`serialise.conversations`)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from agora.api import serialise
from agora.http.deps import SessionDep, caller_id, id_param, paging
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.http.links import paged
from agora.social.reading import conversations as service
from agora.social.rules.paging import Page

router = APIRouter(prefix="/api/v1")


@router.get("/conversations")
async def list_conversations(
    request: Request,
    session: SessionDep,
    page: Page = paging(20, 40),
    me_id: int = caller_id("read:statuses"),
) -> JSON:
    found = await service.list_conversations(session, me_id, page)
    items = await serialise.conversations(session, me_id, found.items)
    return paged(request, items, found.next_max_id, found.prev_min_id)


@router.post("/conversations/{conversation_id}/read")
async def mark_read(
    session: SessionDep, conversation_id: str, me_id: int = caller_id("write:conversations")
) -> JSON:
    found = await service.mark_read(session, me_id, id_param(conversation_id))
    items = await serialise.conversations(session, me_id, [found])
    if not items:
        raise ApiError(404, "Record not found")
    return JSON(items[0])


@router.delete("/conversations/{conversation_id}")
async def remove(
    session: SessionDep, conversation_id: str, me_id: int = caller_id("write:conversations")
) -> JSON:
    await service.remove(session, me_id, id_param(conversation_id))
    return JSON({})
