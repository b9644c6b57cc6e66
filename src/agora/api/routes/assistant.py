"""The assistant on demand: Mastodon's translate, and Agora's explain / summarise / compose
(`/api/v1/agora/assistant/...`). The model is called outside the request's write transaction,
which is ended right after authentication (on SQLite it would hold the write lock)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from agora.ai import actions
from agora.ai.actions import AssistantAnswer
from agora.api.deps import SessionDep, caller, id_param
from agora.api.json import JSON
from agora.api.params import Params, body, openapi_body
from agora.db.models import Account

router = APIRouter(prefix="/api/v1")


class TranslateForm(Params):
    lang: str | None = Field(default=None, max_length=10)


class PostForm(Params):
    status_id: str


class DraftForm(Params):
    action: str
    text: str = Field(max_length=actions.MAX_DRAFT_CHARS)


def _answer_json(answer: AssistantAnswer) -> dict[str, Any]:
    return {
        "content": actions.as_html(answer.content),
        "text": answer.content,
        "used_status_ids": [str(i) for i in answer.used_ids],
        "ai_generated": True,
    }


@router.post("/statuses/{status_id}/translate", openapi_extra=openapi_body(TranslateForm))
async def translate(
    request: Request,
    session: SessionDep,
    status_id: str,
    me: Account = caller("read:statuses"),
    form: TranslateForm = body(TranslateForm),
) -> JSON:
    """Mastodon's Translation entity, written by the assistant."""
    me_id = me.id
    await session.commit()
    answer = await actions.translate(request.app.state.db, me_id, id_param(status_id), form.lang)
    return JSON(
        {
            "content": actions.as_html(answer.content),
            "spoiler_text": "",
            "detected_source_language": answer.source_language or "und",
            "provider": "Agora assistant (AI-generated)",
            "media_attachments": [],
            "poll": None,
        }
    )


@router.post("/agora/assistant/explain", openapi_extra=openapi_body(PostForm))
async def explain(
    request: Request,
    session: SessionDep,
    me: Account = caller("read:statuses"),
    form: PostForm = body(PostForm),
) -> JSON:
    me_id = me.id
    await session.commit()
    answer = await actions.explain(request.app.state.db, me_id, id_param(form.status_id))
    return JSON(_answer_json(answer))


@router.post("/agora/assistant/summarise", openapi_extra=openapi_body(PostForm))
async def summarise(
    request: Request,
    session: SessionDep,
    me: Account = caller("read:statuses"),
    form: PostForm = body(PostForm),
) -> JSON:
    me_id = me.id
    await session.commit()
    answer = await actions.summarise(request.app.state.db, me_id, id_param(form.status_id))
    return JSON(_answer_json(answer))


@router.post("/agora/assistant/compose", openapi_extra=openapi_body(DraftForm))
async def compose(
    request: Request,
    session: SessionDep,
    me: Account = caller("write:statuses"),
    form: DraftForm = body(DraftForm),
) -> JSON:
    me_id = me.id
    await session.commit()
    text = await actions.help_with_draft(request.app.state.db, me_id, form.action, form.text)
    return JSON({"text": text, "ai_generated": True})
