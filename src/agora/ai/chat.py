"""Private chats with the assistant. A question is answered from posts found by the search
module among those the asker may see and whose authors allow the assistant; the answer
streams as it is written and ends with the posts it cites (all of them visible to the asker).
Conversations belong to the asker alone and can be deleted."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.ai import usage
from agora.ai.context import (
    Author,
    ContextPost,
    as_context_post,
    context_columns,
    readable_by_assistant,
)
from agora.ai.prompts import fitted_chat
from agora.ai.providers import Completion, Message, ProviderError, estimate_tokens, get_provider
from agora.config import get_settings
from agora.db.engine import Database
from agora.db.models import AssistantConversation, AssistantMessage, Post, utcnow
from agora.social.rules.errors import DomainError, Invalid, NotFound
from agora.social.search.posts import best_matching_posts

SOURCES = 5
HISTORY_TURNS = 6
MAX_QUESTION_CHARS = 2_000
_CITATION = re.compile(r"\[(\d{1,2})\]")


@dataclass
class Turn:
    """A question ready to be answered: everything read before the model is called."""

    account_id: int
    conversation_id: int
    question: str
    history: list[Message]
    sources: list[ContextPost]
    answer: list[str] = field(default_factory=list)


async def create_conversation(
    session: AsyncSession, account_id: int, title: str = ""
) -> AssistantConversation:
    """Start a conversation. Commits."""
    now = utcnow()
    conversation = AssistantConversation(
        account_id=account_id, title=title.strip()[:200], created_at=now, updated_at=now
    )
    session.add(conversation)
    await session.commit()
    return conversation


async def conversations(session: AsyncSession, account_id: int) -> list[AssistantConversation]:
    """The person's conversations, most recently active first."""
    query = (
        select(AssistantConversation)
        .where(AssistantConversation.account_id == account_id)
        .order_by(AssistantConversation.updated_at.desc())
        .limit(100)
    )
    return list((await session.scalars(query)).all())


async def get_conversation(
    session: AsyncSession, account_id: int, conversation_id: int
) -> AssistantConversation:
    """One of the person's conversations; NotFound for anyone else's."""
    found = await session.get(AssistantConversation, conversation_id)
    if found is None or found.account_id != account_id:
        raise NotFound()
    return found


async def messages(session: AsyncSession, conversation_id: int) -> list[AssistantMessage]:
    """A conversation's turns, oldest first."""
    query = (
        select(AssistantMessage)
        .where(AssistantMessage.conversation_id == conversation_id)
        .order_by(AssistantMessage.id)
    )
    return list((await session.scalars(query)).all())


async def delete_conversation(session: AsyncSession, account_id: int, conversation_id: int) -> None:
    """Delete a conversation and every message in it. Commits."""
    conversation = await get_conversation(session, account_id, conversation_id)
    await session.execute(
        delete(AssistantMessage).where(AssistantMessage.conversation_id == conversation.id)
    )
    await session.delete(conversation)
    await session.commit()


async def prepare_turn(db: Database, account_id: int, conversation_id: int, question: str) -> Turn:
    """Check the question, the quota and the conversation, and find the sources (raises the
    errors a client should see before any streaming starts)."""
    question = question.strip()
    if not question:
        raise Invalid("Validation failed: content can't be blank")
    if len(question) > MAX_QUESTION_CHARS:
        raise Invalid(f"Validation failed: content is longer than {MAX_QUESTION_CHARS} characters")
    async with db.session() as session:
        await get_conversation(session, account_id, conversation_id)
        await usage.check_quota(session, account_id, "chat")
        history = [Message(m.role, m.content) for m in (await messages(session, conversation_id))][
            -HISTORY_TURNS:
        ]
        sources = await _sources(session, account_id, question)
    return Turn(account_id, conversation_id, question, history, sources)


async def _sources(session: AsyncSession, account_id: int, question: str) -> list[ContextPost]:
    ids = await best_matching_posts(session, account_id, question, SOURCES, for_assistant=True)
    if not ids:
        return []
    rows = await session.execute(
        select(*context_columns())
        .join(Author, Author.id == Post.account_id)
        .where(Post.id.in_(ids), *readable_by_assistant(account_id))
    )
    by_id = {row.id: as_context_post(row) for row in rows}
    return [by_id[i] for i in ids if i in by_id]


async def stream_answer(db: Database, turn: Turn) -> AsyncIterator[str]:
    """The answer, piece by piece; when it ends, the turn is saved with its citations.
    Raises usage.AssistantUnavailable if the model fails."""
    provider = get_provider()
    prompt, turn.sources = fitted_chat(provider, turn.history, turn.question, turn.sources)
    started = time.perf_counter()
    async with usage.model_slot(wait=False):
        try:
            async for piece in provider.stream(prompt, get_settings().ai_max_new_tokens):
                turn.answer.append(piece)
                yield piece
        except ProviderError as exc:
            raise usage.unavailable(exc) from exc
    text = "".join(turn.answer).strip()
    cost = Completion(text, sum(estimate_tokens(m.content) for m in prompt), estimate_tokens(text))
    async with db.transaction() as session:
        await _save(session, turn, text)
        usage.record(session, turn.account_id, "chat", provider, cost, started)


async def answer_events(db: Database, turn: Turn) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """The answer as (event, data) for a stream: `token` pieces, or a last `error` when the
    model failed (after which nothing was saved)."""
    try:
        async for piece in stream_answer(db, turn):
            yield "token", {"text": piece}
    except DomainError as exc:
        yield "error", {"error": exc.message}


def cited(turn: Turn, text: str) -> list[int]:
    """The sources the answer cites by number; all the sources it was given if it cites none."""
    numbers = {int(n) for n in _CITATION.findall(text)}
    chosen = [p.id for n, p in enumerate(turn.sources, start=1) if n in numbers]
    return chosen or [p.id for p in turn.sources]


async def _save(session: AsyncSession, turn: Turn, text: str) -> None:
    now = utcnow()
    session.add(
        AssistantMessage(
            conversation_id=turn.conversation_id,
            role="user",
            content=turn.question,
            cited_post_ids=[],
            created_at=now,
        )
    )
    session.add(
        AssistantMessage(
            conversation_id=turn.conversation_id,
            role="assistant",
            content=text,
            cited_post_ids=[str(i) for i in cited(turn, text)],
            created_at=now,
        )
    )
    conversation = await session.get(AssistantConversation, turn.conversation_id)
    if conversation is not None:
        conversation.updated_at = now
        if not conversation.title:
            conversation.title = turn.question[:80]


def message_json(message: AssistantMessage) -> dict[str, Any]:
    """A chat message as the API returns it."""
    return {
        "id": str(message.id),
        "role": message.role,
        "content": message.content,
        "cited_status_ids": list(message.cited_post_ids),
        "ai_generated": message.role == "assistant",
        "created_at": message.created_at.isoformat(timespec="milliseconds")[:23] + "Z",
    }
