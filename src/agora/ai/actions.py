"""The assistant on demand: explain a post, summarise its thread, translate it, help with a
draft. Each call checks the person's daily quota, takes a model slot (a 429 when all are
busy), calls the model outside any write transaction, then records its usage."""

from __future__ import annotations

import asyncio
import base64
import html
import time
from dataclasses import dataclass, field

from agora.ai import usage
from agora.ai.context import post_context, thread_context
from agora.ai.prompts import (
    ACTIONS,
    action_messages,
    alt_text_messages,
    context_budget,
    draft_messages,
    post_cost,
    translate_messages,
)
from agora.ai.providers import Completion, Message, ProviderError, get_provider
from agora.config import get_settings
from agora.db.engine import Database
from agora.db.models import User
from agora.social.media.files import storage_key
from agora.social.media.storage import media_storage
from agora.social.media.uploads import get_own_media
from agora.social.rules.errors import Invalid

DRAFT_ACTIONS = ("rewrite", "shorten", "fix_spelling", "suggest_hashtags")
MAX_DRAFT_CHARS = 5_000


@dataclass
class AssistantAnswer:
    """Text the assistant wrote (always AI-generated) and the posts it read."""

    content: str
    used_ids: list[int] = field(default_factory=list)
    source_language: str | None = None


async def call_model(db: Database, account_id: int, action: str, messages: list[Message]) -> str:
    """One interactive model call, with quota, slot, error mapping and usage record."""
    async with db.session() as session:
        await usage.check_quota(session, account_id, action)
    provider = get_provider()
    started = time.perf_counter()
    async with usage.model_slot(wait=False):
        try:
            completion: Completion = await provider.complete(
                messages, get_settings().ai_max_new_tokens
            )
        except ProviderError as exc:
            raise usage.unavailable(exc) from exc
    async with db.transaction() as session:
        usage.record(session, account_id, action, provider, completion, started)
    return completion.text.strip()


async def explain(db: Database, account_id: int, post_id: int) -> AssistantAnswer:
    """Explain one post the person may see (and whose author lets the assistant read it)."""
    async with db.session() as session:
        ctx = await post_context(session, account_id, post_id)
    text = await call_model(db, account_id, "explain", action_messages("explain", ctx))
    return AssistantAnswer(text, ctx.used_ids)


async def summarise(db: Database, account_id: int, post_id: int) -> AssistantAnswer:
    """Summarise the thread around a post, from the posts the person may see and read."""
    provider = get_provider()
    async with db.session() as session:
        await post_context(session, account_id, post_id)
        ctx = await thread_context(
            session, account_id, post_id, context_budget(provider), post_cost(provider)
        )
    text = await call_model(db, account_id, "summarise", action_messages("summarise", ctx))
    return AssistantAnswer(text, ctx.used_ids)


async def translate(
    db: Database, account_id: int, post_id: int, language: str | None
) -> AssistantAnswer:
    """Translate a post into `language`, or the reader's own language."""
    async with db.session() as session:
        ctx = await post_context(session, account_id, post_id)
        user = await session.get(User, account_id)
    target = (language or (user.locale if user else "") or "en")[:10]
    if not target.replace("-", "").isalpha():
        raise Invalid("Validation failed: lang must be a language code")
    messages = translate_messages(ctx.question.text, target)
    text = await call_model(db, account_id, "translate", messages)
    return AssistantAnswer(text, ctx.used_ids)


POST_ACTIONS = ("explain", "summarise", "translate")


async def about_post(
    db: Database, account_id: int, action: str, post_id: int, language: str | None = None
) -> AssistantAnswer:
    """Explain a post, summarise its thread or translate it (`language`: the reader's own
    when None); Invalid for any other action."""
    if action == "explain":
        return await explain(db, account_id, post_id)
    if action == "summarise":
        return await summarise(db, account_id, post_id)
    if action == "translate":
        return await translate(db, account_id, post_id, language)
    raise Invalid(f"Validation failed: action must be one of {', '.join(POST_ACTIONS)}")


async def help_with_draft(db: Database, account_id: int, action: str, draft: str) -> str:
    """Rewrite, shorten, fix spelling of, or suggest hashtags for the person's own draft."""
    if action not in DRAFT_ACTIONS:
        raise Invalid(f"Validation failed: action must be one of {', '.join(DRAFT_ACTIONS)}")
    if not draft.strip():
        raise Invalid("Validation failed: text can't be blank")
    if len(draft) > MAX_DRAFT_CHARS:
        raise Invalid(f"Validation failed: text is longer than {MAX_DRAFT_CHARS} characters")
    assert action in ACTIONS
    return await call_model(db, account_id, "compose", draft_messages(action, draft))


async def suggest_alt_text(db: Database, account_id: int, media_id: int) -> str:
    """Alt text for one of the person's own uploads, from its preview, when the configured
    model can see images (422 otherwise; 404 for anyone else's upload)."""
    async with db.session() as session:
        row = await get_own_media(session, account_id, media_id)
        key, file_format = storage_key(row.key, "small", row.preview_format), row.preview_format
    if not get_provider().capabilities.vision:
        raise Invalid(
            "The configured model cannot see images: an admin can point Agora at one that can "
            "(AGORA_AI_PROVIDER=openai with AGORA_OPENAI_VISION=true)"
        )
    data = await asyncio.to_thread(_read_file, key)
    image = f"data:image/{file_format};base64,{base64.b64encode(data).decode()}"
    return await call_model(db, account_id, "alt_text", alt_text_messages(image))


def _read_file(key: str) -> bytes:
    with media_storage().open(key) as stored:
        return stored.read()


def as_html(text: str) -> str:
    """Plain model text as safe HTML paragraphs."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()] or [""]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
