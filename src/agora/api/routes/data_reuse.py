"""Agora extension: a person's data-reuse choices and where their data went.

`GET/PATCH /api/v1/agora/data_reuse`, `GET /api/v1/agora/data_reuse/log`,
`GET /api/v1/agora/data_reuse/exports`, `GET /api/v1/agora/data_reuse/exports/:id/posts`.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import ConfigDict

from agora.api.entities import iso
from agora.data import consent, transparency
from agora.data.consent import Category
from agora.db.models import Account
from agora.http.deps import SessionDep, caller, id_param, paging
from agora.http.json import JSON
from agora.http.links import paged
from agora.http.params import Params, body, openapi_body
from agora.social.rules.paging import Page

router = APIRouter(prefix="/api/v1/agora/data_reuse")


class Choice(Params):
    """The Bluesky shape of one intent: `{"allow": true}`; `null` puts it back to unset."""

    allow: bool | None = None


Value = bool | Literal["unset"] | Choice | None


class DataReuseForm(Params):
    """Any subset of the categories: true / false, `{"allow": ...}`, or null / "unset"."""

    model_config = ConfigDict(extra="forbid")

    syntheticContentGeneration: Value = None
    syntheticImageGeneration: Value = None
    bulkDataset: Value = None
    publicAccessArchive: Value = None
    protocolBridging: Value = None
    assistantContext: Value = None


def _allow(value: Value) -> bool | None:
    if isinstance(value, Choice):
        return value.allow
    return None if value in (None, "unset") else bool(value)


def _changes(form: DataReuseForm) -> dict[Category, bool | None]:
    chosen = form.model_fields_set
    return {c: _allow(getattr(form, c.value)) for c in Category if c.value in chosen}


def data_reuse_json(account: Account) -> dict[str, Any]:
    """The caller's choices: explicit intents (Bluesky shape), what applies now, defaults."""
    return {
        "intents": consent.public_intents(account),
        "effective": consent.effective(account),
        "defaults": {c.value: allow for c, allow in consent.DEFAULT_ALLOW.items()},
    }


@router.get("")
async def show(me: Account = caller("read:accounts")) -> JSON:
    return JSON(data_reuse_json(me))


@router.patch("", openapi_extra=openapi_body(DataReuseForm))
async def update(
    session: SessionDep,
    me: Account = caller("write:accounts"),
    form: DataReuseForm = body(DataReuseForm),
) -> JSON:
    account = await consent.set_intents(session, me, _changes(form))
    return JSON(data_reuse_json(account))


@router.get("/log")
async def log(session: SessionDep, me: Account = caller("read:accounts")) -> JSON:
    events = await consent.account_log(session, me.id)
    return JSON(
        [
            {
                "id": str(e.id),
                "category": e.category,
                "post_id": None if e.post_id is None else str(e.post_id),
                "allow": e.allow,
                "created_at": iso(e.created_at),
            }
            for e in events
        ]
    )


@router.get("/exports")
async def exports(session: SessionDep, me: Account = caller("read:accounts")) -> JSON:
    found = await transparency.exports_including(session, me.id)
    return JSON(
        [
            {
                "export_id": str(i.export_id),
                "purpose": i.purpose,
                "snapshot_at": iso(i.snapshot_at),
                "posts": i.posts,
                "withdrawn_since": i.withdrawn_since,
                "author": i.author,
            }
            for i in found
        ]
    )


@router.get("/exports/{export_id}/posts")
async def export_posts(
    request: Request,
    session: SessionDep,
    export_id: str,
    page: Page = paging(40, 80),
    me: Account = caller("read:accounts"),
) -> JSON:
    """The caller's posts an export included, each with the record id it was published
    under, and whether the newest export of the purpose has since left it out."""
    found = await transparency.included_posts(session, me.id, id_param(export_id), page)
    items = [
        {"id": str(p.post_id), "record_id": p.record_id, "withdrawn_since": p.withdrawn_since}
        for p in found
    ]
    cursors = (found[-1].post_id, found[0].post_id) if found else (None, None)
    return paged(request, items, *cursors)
