"""Agora extension: Community Notes (docs/COMMUNITY_NOTES.md).

`POST /api/v1/agora/notes` writes a note, `GET /api/v1/agora/notes` lists recent ones (or,
with `to_rate=true`, those the caller may rate), `GET /api/v1/agora/notes/:id` shows one,
`POST /api/v1/agora/notes/:id/ratings` rates it, `GET /api/v1/statuses/:id/notes` lists a
post's notes, `POST /api/v1/agora/notes/draft` asks the assistant for a draft (never saved),
`GET /api/v1/agora/notes/dataset/{notes,ratings,history}.tsv` downloads the public dataset and
`POST /api/v1/admin/agora/notes/rescore` rescores at once (admins).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import Field, field_validator

from agora.ai import note_drafts
from agora.api.note_entities import note_json
from agora.data import notes_dataset
from agora.db.models import Account
from agora.http.deps import SessionDep, admin_caller, caller, id_param, optional_caller
from agora.http.json import JSON
from agora.http.params import Params, body, openapi_body
from agora.social.community_notes import note_reading, note_rescoring, note_writing
from agora.social.rules.errors import NotFound

router = APIRouter(prefix="/api/v1")


class NoteForm(Params):
    status_id: str
    text: str = Field(max_length=note_writing.MAX_NOTE_CHARS * 2)
    classification: str
    drafted_with_assistant: bool = False


class RatingForm(Params):
    helpfulness: str
    reasons: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("reasons", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return value if isinstance(value, list) else [value]


class DraftForm(Params):
    status_id: str


@router.post("/agora/notes", openapi_extra=openapi_body(NoteForm))
async def write(
    session: SessionDep, me: Account = caller("write:statuses"), form: NoteForm = body(NoteForm)
) -> JSON:
    """Write a note on a public post."""
    me_id = me.id
    note = await note_writing.write_note(
        session,
        me,
        id_param(form.status_id),
        form.text,
        form.classification,
        drafted_with_assistant=form.drafted_with_assistant,
    )
    return JSON(note_json(await note_reading.one_note(session, me_id, note)))


@router.get("/agora/notes")
async def index(
    session: SessionDep,
    status: str | None = None,
    to_rate: bool = False,
    max_id: str | None = None,
    limit: int = 20,
    me: Account | None = optional_caller("read:statuses"),
) -> JSON:
    """Recent notes on posts the caller may see (`status` to choose; `to_rate` for those the
    caller may rate and has not)."""
    views = await note_reading.recent_notes(
        session,
        me.id if me else None,
        status=status,
        to_rate=to_rate,
        max_id=id_param(max_id) if max_id else None,
        limit=limit,
    )
    return JSON([note_json(v) for v in views])


@router.post("/agora/notes/draft", openapi_extra=openapi_body(DraftForm))
async def draft(
    request: Request,
    session: SessionDep,
    me: Account = caller("write:statuses"),
    form: DraftForm = body(DraftForm),
) -> JSON:
    """The assistant's draft of a note on a post (not saved: the person edits and submits)."""
    me_id = me.id
    await session.commit()  # the model is called outside the request's transaction
    found = await note_drafts.draft_note(request.app.state.db, me_id, id_param(form.status_id))
    return JSON(
        {
            "text": found.text,
            "classification": found.classification,
            "used_status_ids": [str(i) for i in found.used_ids],
            "drafted_with_assistant": True,
            "label": found.label,
            "ai_generated": True,
        }
    )


@router.get("/agora/notes/dataset/{name}")
async def dataset(request: Request, name: str) -> StreamingResponse:
    """The public dataset: `notes.tsv`, `ratings.tsv` or `history.tsv`."""
    table = name.removesuffix(".tsv")
    if not name.endswith(".tsv") or table not in notes_dataset.TABLES:
        raise NotFound()
    rows = notes_dataset.rows(request.app.state.db, table)
    return StreamingResponse(
        rows,
        media_type="text/tab-separated-values; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="community-{name}"'},
    )


@router.get("/agora/notes/{note_id}")
async def show(
    session: SessionDep, note_id: str, me: Account | None = optional_caller("read:statuses")
) -> JSON:
    """One note on a post the caller may see."""
    viewer = me.id if me else None
    note = await note_writing.visible_note(session, viewer, id_param(note_id))
    return JSON(note_json(await note_reading.one_note(session, viewer, note)))


@router.post("/agora/notes/{note_id}/ratings", openapi_extra=openapi_body(RatingForm))
async def rate(
    session: SessionDep,
    note_id: str,
    me: Account = caller("write:statuses"),
    form: RatingForm = body(RatingForm),
) -> JSON:
    """Rate a note (again: the rating changes)."""
    me_id = me.id
    rating = await note_writing.rate_note(
        session, me, id_param(note_id), form.helpfulness, form.reasons
    )
    return JSON(
        {
            "note_id": str(rating.note_id),
            "account_id": str(me_id),
            "helpfulness": rating.helpfulness,
            "reasons": rating.reasons,
        }
    )


@router.get("/statuses/{status_id}/notes")
async def on_status(
    session: SessionDep, status_id: str, me: Account | None = optional_caller("read:statuses")
) -> JSON:
    """Every note on a post the caller may see."""
    viewer = me.id if me else None
    views = await note_reading.notes_on_post(session, viewer, id_param(status_id))
    return JSON([note_json(v) for v in views])


@router.post("/admin/agora/notes/rescore")
async def rescore(
    request: Request, session: SessionDep, me: Account = admin_caller("admin:write")
) -> JSON:
    """Rescore every note now (admins)."""
    await session.commit()
    ratings, notes, changed = await note_rescoring.rescore_now(request.app.state.db)
    return JSON({"ratings": ratings, "notes": notes, "changed": changed})
