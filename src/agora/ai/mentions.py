"""Answering a mention: the `assistant_reply` job (a two-phase job, see jobs.queue.SlowJob).

`prepare` reads the thread and calls the model outside any transaction; `apply` posts the
reply in the transaction that deletes the job, guarded by an `assistant_replies` row, so each
mention is answered exactly once even if a worker dies or two run the job. A provider failure
raises, and the queue retries with backoff; when retries are spent, `on_dead` tells the asker,
in a direct reply, that the assistant could not answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.ai import usage
from agora.ai.context import ThreadContext, thread_context
from agora.ai.prompts import context_budget, mention_messages, post_cost
from agora.ai.providers import Completion, Provider, get_provider
from agora.config import get_settings
from agora.db.engine import Database
from agora.db.models import Account, AssistantReply, Block, Post, Visibility, utcnow
from agora.db.upsert import affected_rows, insert_ignore
from agora.jobs.job_kinds import PostJob
from agora.social.people.lookup import find_by_username
from agora.social.posts.text import MENTION_RE
from agora.social.posts.writing import Draft, write_post

FAILURE_TEXT = "Sorry, I could not answer this time. Please ask me again later."
QUOTA_TEXT = "You have reached today's limit of questions to me; it resets at midnight UTC."


@dataclass
class Answer:
    """What `prepare` found: a reply to post, or a reason to stay silent or apologise."""

    outcome: str  # answered / skipped / quota
    context: ThreadContext | None = None
    completion: Completion | None = None
    provider: Provider | None = None
    started: float = 0.0


async def _blocked(session: AsyncSession, a: int, b: int) -> bool:
    found = await session.scalar(
        select(Block.id).where(
            ((Block.account_id == a) & (Block.target_account_id == b))
            | ((Block.account_id == b) & (Block.target_account_id == a))
        )
    )
    return found is not None


async def _should_answer(session: AsyncSession, post_id: int) -> tuple[Post, Account] | None:
    """The mention and its asker, unless it must get no reply: deleted, already answered,
    asked by a bot, the assistant itself or an account that asked bots to leave it alone
    (`no_bot`, #nobot), or either one blocks the other."""
    post = await session.get(Post, post_id)
    assistant = await find_by_username(session, get_settings().assistant_username)
    if post is None or post.deleted_at is not None or assistant is None:
        return None
    asker = await session.get(Account, post.account_id)
    if asker is None or asker.bot or asker.id == assistant.id or asker.suspended_at:
        return None
    if asker.no_bot:  # asked bots to leave them alone (#nobot): never answered nor mentioned
        return None
    if await session.get(AssistantReply, post_id) is not None:
        return None
    if await _blocked(session, asker.id, assistant.id):
        return None
    return post, asker


async def prepare(db: Database, payload: PostJob) -> Answer:
    """Read the thread and ask the model (raises ProviderError, so the job is retried)."""
    settings = get_settings()
    async with db.session() as session:
        found = await _should_answer(session, payload["post_id"])
        if found is None:
            return Answer("skipped")
        post, asker = found
        try:
            await usage.check_quota(session, asker.id, "mention")
        except usage.QuotaExceeded:
            return Answer("quota")
        provider = get_provider()
        budget, cost = context_budget(provider), post_cost(provider)
        context = await thread_context(session, asker.id, post.id, budget, cost)
    started = time.perf_counter()
    async with usage.model_slot(wait=True):
        completion = await provider.complete(mention_messages(context), settings.ai_max_new_tokens)
    return Answer("answered", context, completion, provider, started)


async def apply(session: AsyncSession, payload: PostJob, answer: Answer) -> None:
    """Post the reply (or the quota notice) once."""
    if answer.outcome == "skipped":
        return
    found = await _claim(session, payload["post_id"], answer.outcome)
    if found is None:
        return
    post, asker, assistant = found
    if answer.outcome == "quota":
        await _reply(session, assistant, asker, post, QUOTA_TEXT, Visibility.DIRECT, False)
        return
    assert answer.context and answer.completion and answer.provider
    text = defuse_mentions(answer.completion.text.strip()) or "I do not know."
    visibility = answer.context.reply_visibility()
    await _reply(session, assistant, asker, post, text, visibility, True)
    usage.record(session, asker.id, "mention", answer.provider, answer.completion, answer.started)


async def on_dead(session: AsyncSession, payload: PostJob) -> None:
    """Retries are spent: tell the asker, once, in a direct reply."""
    found = await _claim(session, payload["post_id"], "failed")
    if found is not None:
        post, asker, assistant = found
        await _reply(session, assistant, asker, post, FAILURE_TEXT, Visibility.DIRECT, False)


async def _claim(
    session: AsyncSession, post_id: int, outcome: str
) -> tuple[Post, Account, Account] | None:
    """Insert the guard row; None when the mention was answered already or must not be."""
    found = await _should_answer(session, post_id)
    if found is None:
        return None
    inserted = await session.execute(
        insert_ignore(session, AssistantReply).values(
            mention_post_id=post_id, outcome=outcome, created_at=utcnow()
        )
    )
    if not affected_rows(inserted):
        return None
    assistant = await find_by_username(session, get_settings().assistant_username)
    assert assistant is not None
    return found[0], found[1], assistant


async def _reply(
    session: AsyncSession,
    assistant: Account,
    asker: Account,
    post: Post,
    text: str,
    visibility: Visibility,
    ai_generated: bool,
) -> None:
    limit = get_settings().max_status_chars - len(asker.username) - 2
    body = f"@{asker.username} {text[:limit]}"
    draft = Draft(
        text=body,
        visibility=visibility.api_name,
        in_reply_to_id=post.id,
        language=post.language,
        ai_generated=ai_generated,
    )
    reply = await write_post(session, assistant.id, draft)
    await session.execute(
        update(AssistantReply)
        .where(AssistantReply.mention_post_id == post.id)
        .values(reply_post_id=reply.id)
    )


def defuse_mentions(text: str) -> str:
    """Generated text must not mention anyone (a mention would show a narrowed reply to that
    person and notify them): `@name` keeps its look but is no longer a mention."""
    return MENTION_RE.sub(lambda m: "@\u200b" + m.group(0)[1:], text)
