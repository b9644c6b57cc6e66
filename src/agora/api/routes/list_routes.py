"""Lists: CRUD, members, the lists holding an account, and the list timeline."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field, field_validator

from agora.api import serialise
from agora.api.entities import FOR_YOU_LIST_ID, for_you_list_json, list_json
from agora.api.routes.for_you_routes import ranked_response
from agora.db.models import Account
from agora.http.deps import SessionDep, caller, id_param, paging
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.http.links import paged
from agora.http.params import Params, body, openapi_body
from agora.social.reading import lists
from agora.social.reading.for_you_settings import feed_settings
from agora.social.reading.list_timeline import list_timeline
from agora.social.rules.paging import Page

router = APIRouter(prefix="/api/v1")
ALL_MEMBERS = 2**31 - 1  # `limit=0`: every member, unpaged (as Mastodon allows)
NOT_EDITABLE = "The For You list is the ranked feed: it cannot be edited or given members"


def _editable(list_id: str) -> str:
    """`list_id`, unless it is the For You list (403: it cannot be changed)."""
    if list_id == FOR_YOU_LIST_ID:
        raise ApiError(403, NOT_EDITABLE)
    return list_id


class ListForm(Params):
    """A list's title, replies policy (followed / list / none) and exclusivity."""

    title: str | None = Field(default=None, max_length=10_000)
    replies_policy: str | None = None
    exclusive: bool | None = None


class MembersForm(Params):
    """`account_ids[]`: the accounts to add or remove."""

    account_ids: list[str] = Field(default_factory=list, max_length=1000)

    @field_validator("account_ids", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return value if isinstance(value, list) else [value]


@router.get("/lists")
async def index(session: SessionDep, me: Account = caller("read:lists")) -> JSON:
    owned = [list_json(found) for found in await lists.owned_lists(session, me.id)]
    if (await feed_settings(session, me.id)).enabled:
        owned.insert(0, for_you_list_json())
    return JSON(owned)


@router.post("/lists", openapi_extra=openapi_body(ListForm))
async def create(
    session: SessionDep, me: Account = caller("write:lists"), form: ListForm = body(ListForm)
) -> JSON:
    found = await lists.create_list(
        session, me, form.title, form.replies_policy, bool(form.exclusive)
    )
    await session.commit()
    return JSON(list_json(found))


@router.get("/lists/{list_id}")
async def show(session: SessionDep, list_id: str, me: Account = caller("read:lists")) -> JSON:
    if list_id == FOR_YOU_LIST_ID and (await feed_settings(session, me.id)).enabled:
        return JSON(for_you_list_json())
    return JSON(list_json(await lists.get_own_list(session, me.id, id_param(list_id))))


@router.put("/lists/{list_id}", openapi_extra=openapi_body(ListForm))
async def update(
    session: SessionDep,
    list_id: str,
    me: Account = caller("write:lists"),
    form: ListForm = body(ListForm),
) -> JSON:
    found = await lists.update_list(
        session,
        me.id,
        id_param(_editable(list_id)),
        title=form.title,
        replies_policy=form.replies_policy,
        exclusive=form.exclusive,
    )
    await session.commit()
    return JSON(list_json(found))


@router.delete("/lists/{list_id}")
async def destroy(session: SessionDep, list_id: str, me: Account = caller("write:lists")) -> JSON:
    await lists.delete_list(session, me.id, id_param(_editable(list_id)))
    await session.commit()
    return JSON({})


@router.get("/lists/{list_id}/accounts")
async def members(
    request: Request,
    session: SessionDep,
    list_id: str,
    page: Page = paging(40, 40),
    me: Account = caller("read:lists"),
) -> JSON:
    if list_id == FOR_YOU_LIST_ID:
        return paged(request, [], None, None)  # ranked from everyone: no members
    if request.query_params.get("limit") == "0":
        page = replace(page, limit=ALL_MEMBERS)
    ids = await lists.members(session, me.id, id_param(list_id), page)
    items = await serialise.accounts(session, ids)
    paging_on = page.limit != ALL_MEMBERS and bool(ids)
    return paged(request, items, ids[-1] if paging_on else None, ids[0] if paging_on else None)


@router.post("/lists/{list_id}/accounts", openapi_extra=openapi_body(MembersForm))
async def add_members(
    session: SessionDep,
    list_id: str,
    me: Account = caller("write:lists"),
    form: MembersForm = body(MembersForm),
) -> JSON:
    ids = [id_param(i) for i in form.account_ids]
    await lists.add_members(session, me.id, id_param(_editable(list_id)), ids)
    await session.commit()
    return JSON({})


@router.delete("/lists/{list_id}/accounts", openapi_extra=openapi_body(MembersForm))
async def remove_members(
    session: SessionDep,
    list_id: str,
    me: Account = caller("write:lists"),
    form: MembersForm = body(MembersForm),
) -> JSON:
    ids = [id_param(i) for i in form.account_ids]
    await lists.remove_members(session, me.id, id_param(_editable(list_id)), ids)
    await session.commit()
    return JSON({})


@router.get("/accounts/{account_id}/lists")
async def holding_account(
    session: SessionDep, account_id: str, me: Account = caller("read:lists")
) -> JSON:
    found = await lists.lists_with_account(session, me.id, id_param(account_id))
    return JSON([list_json(item) for item in found])


@router.get("/timelines/list/{list_id}")
async def timeline(
    request: Request,
    session: SessionDep,
    list_id: str,
    page: Page = paging(),
    me: Account = caller("read:lists"),
) -> JSON:
    if list_id == FOR_YOU_LIST_ID:
        return await ranked_response(request, session, me.id, page)
    found = await list_timeline(session, me.id, id_param(list_id), page)
    items = await serialise.shown_statuses(session, me.id, found.items, context="home")
    return paged(request, items, found.next_max_id, found.prev_min_id)
