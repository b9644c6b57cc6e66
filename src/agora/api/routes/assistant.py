"""The assistant on demand: Mastodon's translate, Agora's explain / summarise / compose and
private chats (`/api/v1/agora/assistant/...`). The model is called outside the request's
write transaction, which is ended right after authentication (on SQLite it would hold the
write lock)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import Field

from agora.ai import actions, chat
from agora.ai.actions import AssistantAnswer
from agora.api import serialise
from agora.api.entities import iso
from agora.db.models import Account
from agora.http.deps import SessionDep, caller, id_param
from agora.http.json import JSON
from agora.http.params import Params, body, openapi_body
from agora.http.streaming.frames import json_sse

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


def _post_action(action: str) -> None:
    """`POST /api/v1/agora/assistant/<action>` (explain, summarise) about one post."""

    @router.post(f"/agora/assistant/{action}", openapi_extra=openapi_body(PostForm), name=action)
    async def about_post(
        request: Request,
        session: SessionDep,
        me: Account = caller("read:statuses"),
        form: PostForm = body(PostForm),
    ) -> JSON:
        me_id = me.id
        await session.commit()
        db = request.app.state.db
        answer = await actions.about_post(db, me_id, action, id_param(form.status_id))
        return JSON(_answer_json(answer))


for _action in ("explain", "summarise"):
    _post_action(_action)


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


class MediaForm(Params):
    media_id: str


@router.post("/agora/assistant/alt_text", openapi_extra=openapi_body(MediaForm))
async def alt_text(
    request: Request,
    session: SessionDep,
    me: Account = caller("write:media"),
    form: MediaForm = body(MediaForm),
) -> JSON:
    """Suggested alt text for one of the caller's uploads (models that can see images)."""
    me_id = me.id
    await session.commit()
    text = await actions.suggest_alt_text(request.app.state.db, me_id, id_param(form.media_id))
    return JSON({"text": text, "ai_generated": True})


class ConversationForm(Params):
    title: str = Field(default="", max_length=200)


class QuestionForm(Params):
    content: str = Field(max_length=chat.MAX_QUESTION_CHARS)
    stream: bool = True


def _conversation_json(conversation: Any) -> dict[str, Any]:
    return {
        "id": str(conversation.id),
        "title": conversation.title,
        "created_at": iso(conversation.created_at),
        "updated_at": iso(conversation.updated_at),
    }


@router.post("/agora/assistant/conversations", openapi_extra=openapi_body(ConversationForm))
async def start_conversation(
    session: SessionDep,
    me: Account = caller("write:conversations"),
    form: ConversationForm = body(ConversationForm),
) -> JSON:
    conversation = await chat.create_conversation(session, me.id, form.title)
    return JSON(_conversation_json(conversation))


@router.get("/agora/assistant/conversations")
async def list_conversations(session: SessionDep, me: Account = caller("read:statuses")) -> JSON:
    return JSON([_conversation_json(c) for c in await chat.conversations(session, me.id)])


@router.get("/agora/assistant/conversations/{conversation_id}")
async def show_conversation(
    session: SessionDep, conversation_id: str, me: Account = caller("read:statuses")
) -> JSON:
    conversation = await chat.get_conversation(session, me.id, id_param(conversation_id))
    turns = await chat.messages(session, conversation.id)
    data = _conversation_json(conversation)
    data["messages"] = [chat.message_json(m) for m in turns]
    return JSON(data)


@router.delete("/agora/assistant/conversations/{conversation_id}")
async def delete_conversation(
    session: SessionDep, conversation_id: str, me: Account = caller("write:conversations")
) -> JSON:
    await chat.delete_conversation(session, me.id, id_param(conversation_id))
    return JSON({})


@router.post(
    "/agora/assistant/conversations/{conversation_id}/messages",
    openapi_extra=openapi_body(QuestionForm),
)
async def ask(
    request: Request,
    session: SessionDep,
    conversation_id: str,
    me: Account = caller("write:conversations"),
    form: QuestionForm = body(QuestionForm),
) -> Any:
    """Ask in a conversation. Streams Server-Sent Events (`token`, then `message` with the
    citations, or `error`) unless `stream` is false, which answers with the message JSON."""
    me_id = me.id
    await session.commit()
    db = request.app.state.db
    turn = await chat.prepare_turn(db, me_id, id_param(conversation_id), form.content)
    if not form.stream:
        async for _ in chat.stream_answer(db, turn):
            pass
        return JSON(await _last_answer(db, turn))
    return StreamingResponse(_events(db, turn), media_type="text/event-stream")


async def _last_answer(db: Any, turn: chat.Turn) -> dict[str, Any]:
    async with db.session() as session:
        turns = await chat.messages(session, turn.conversation_id)
        message = chat.message_json(turns[-1])
        cited = [int(i) for i in message["cited_status_ids"]]
        message["cited_statuses"] = await serialise.shown_statuses(session, turn.account_id, cited)
    return message


async def _events(db: Any, turn: chat.Turn) -> AsyncIterator[bytes]:
    async for event, data in chat.answer_events(db, turn):
        yield json_sse(event, data)
        if event == "error":
            return
    yield json_sse("message", await _last_answer(db, turn))
