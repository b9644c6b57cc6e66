"""Polls: show one, vote in it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field, field_validator

from agora.api.entities import poll_json
from agora.db.models import Account
from agora.http.deps import SessionDep, caller, id_param, optional_caller
from agora.http.json import JSON
from agora.http.params import Params, body, openapi_body
from agora.social.posts import poll_votes

router = APIRouter(prefix="/api/v1/polls")


class VoteForm(Params):
    """`choices[]`: the indexes of the chosen options."""

    choices: list[int] = Field(max_length=100)

    @field_validator("choices", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return value if isinstance(value, list) else [value]


@router.get("/{poll_id}")
async def show(
    session: SessionDep, poll_id: str, me: Account | None = optional_caller("read:statuses")
) -> JSON:
    viewer = me.id if me else None
    poll, author_id = await poll_votes.get_poll(session, viewer, id_param(poll_id))
    return JSON(poll_json(poll, viewer, author_id))


@router.post("/{poll_id}/votes", openapi_extra=openapi_body(VoteForm))
async def vote(
    session: SessionDep,
    poll_id: str,
    me: Account = caller("write:statuses"),
    form: VoteForm = body(VoteForm),
) -> JSON:
    me_id = me.id  # a refused vote rolls back and expires `me`
    poll, author_id = await poll_votes.vote(session, me, id_param(poll_id), form.choices)
    return JSON(poll_json(poll, me_id, author_id))
