"""What the assistant may read, and who may read what it writes: the safety core.

A context holds only posts the asker may see (the visibility rule, blocks and mutes) AND
whose authors let the assistant read them (the consent rule), trimmed to a token budget with
the thread's root and the most recent posts first. Its reply is shown to nobody who could not
see every post it used: `reply_visibility` narrows it, down to a direct reply to the asker.
The question itself (the post that asks) is always read: its author asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from agora.ai.providers import cautious_tokens
from agora.data.consent import Category, allowed_sql
from agora.db.models import ID, Account, Post, Visibility
from agora.social.rules.errors import Forbidden, NotFound
from agora.social.rules.visibility import is_public_or_unlisted, plain_visible_to, timeline_filter

MAX_THREAD_POSTS = 400
# The author, aliased: the visibility rule's own subqueries on accounts must not correlate
# with it.
Author = aliased(Account)


@dataclass(frozen=True, slots=True)
class ContextPost:
    """A post as the assistant reads it."""

    id: int
    author_id: int
    handle: str
    created_at: datetime
    text: str
    visibility: Visibility


@dataclass
class ThreadContext:
    """The question, the posts the assistant may use (oldest first), and the reply's reach."""

    question: ContextPost
    posts: list[ContextPost] = field(default_factory=list)

    @property
    def used_ids(self) -> list[int]:
        """Every post that enters the prompt, the question included."""
        return [self.question.id, *(p.id for p in self.posts)]

    def reply_visibility(self) -> Visibility:
        """Public only if everything used is public; unlisted if everything is at most
        unlisted; otherwise a direct reply to the asker, who may see all of it."""
        widest = max(p.visibility for p in [self.question, *self.posts])
        return widest if is_public_or_unlisted(widest) else Visibility.DIRECT


def context_columns() -> tuple[Any, ...]:
    """The columns a ContextPost is made of (select them joined with `Author`)."""
    return (
        Post.id,
        Post.account_id,
        Author.username,
        Post.created_at,
        Post.text,
        Post.spoiler_text,
        Post.visibility,
    )


def as_context_post(row: Any) -> ContextPost:
    """A ContextPost from a row of `context_columns()`."""
    text = f"[CW: {row.spoiler_text}] {row.text}" if row.spoiler_text else row.text
    return ContextPost(
        row.id, row.account_id, row.username, row.created_at, text, Visibility(row.visibility)
    )


def readable_by_assistant(asker_id: int) -> tuple[Any, ...]:
    """SQL conditions (on Post joined with its author Account) for posts the assistant may
    read on behalf of `asker_id`: visible to the asker, not muted, and consented (the query
    joins the author as `Author`)."""
    return (
        Post.reblog_of_id.is_(None),
        plain_visible_to(asker_id, Post),
        timeline_filter(asker_id, Post) | (Post.account_id == asker_id),
        allowed_sql(Category.ASSISTANT, Author, Post),
    )


async def question_post(session: AsyncSession, asker_id: int, post_id: int) -> ContextPost:
    """The post that asks (the asker's own, or any post they may see); NotFound otherwise."""
    row = (
        await session.execute(
            select(*context_columns())
            .join(Author, Author.id == Post.account_id)
            .where(
                Post.id == post_id, Post.reblog_of_id.is_(None), plain_visible_to(asker_id, Post)
            )
        )
    ).first()
    if row is None:
        raise NotFound()
    return as_context_post(row)


def rough_cost(post: ContextPost) -> int:
    """Tokens one quoted post takes, roughly (prompts.cost_of_post measures it for a model)."""
    return cautious_tokens(post.text) + 24  # handle, time and delimiters


async def thread_context(
    session: AsyncSession,
    asker_id: int,
    post_id: int,
    budget_tokens: int,
    cost: Callable[[ContextPost], int] = rough_cost,
) -> ThreadContext:
    """The context for a question in a thread (and the post it quotes), in three queries
    whatever the thread's size; the question and the posts kept cost at most `budget_tokens`
    as `cost` counts them."""
    question = await question_post(session, asker_id, post_id)
    links = await session.execute(
        select(Post.thread_root_id, Post.quote_of_id).where(Post.id == post_id)
    )
    thread_root, quoted = links.one()
    root = thread_root or post_id
    # the thread's ids come first, from the thread index: a condition like `or_(…)` here let
    # SQLite's planner start from the far less selective reblog index (0.5 s on 1M posts)
    in_thread = select(Post.id).where(Post.thread_root_id == root)
    ids = in_thread.union_all(select(literal(root, ID)), select(literal(quoted or -1, ID)))
    rows = (
        await session.execute(
            select(*context_columns())
            .join(Author, Author.id == Post.account_id)
            .where(
                Post.id.in_(ids),
                Post.id != post_id,
                *readable_by_assistant(asker_id),
            )
            .order_by(Post.id.desc())
            .limit(MAX_THREAD_POSTS)
        )
    ).all()
    posts = [as_context_post(r) for r in rows]
    budget = budget_tokens - cost(question)
    return ThreadContext(question, trim_to_budget(posts, root, budget, cost))


def trim_to_budget(
    newest_first: list[ContextPost],
    root: int,
    budget: int,
    cost: Callable[[ContextPost], int] = rough_cost,
) -> list[ContextPost]:
    """The root, then the most recent posts, while they fit; returned oldest first."""
    ordered = sorted(newest_first, key=lambda p: (p.id != root, -p.id))
    kept: list[ContextPost] = []
    for post in ordered:
        tokens = cost(post)
        if tokens > budget:
            continue
        kept.append(post)
        budget -= tokens
    return sorted(kept, key=lambda p: p.id)


async def post_context(session: AsyncSession, asker_id: int, post_id: int) -> ThreadContext:
    """One post to explain or translate: it must be visible to the asker and its author must
    allow the assistant (NotFound / Forbidden otherwise, as for any post)."""
    question = await question_post(session, asker_id, post_id)
    consented = await session.scalar(
        select(Post.id)
        .join(Author, Author.id == Post.account_id)
        .where(Post.id == post_id, allowed_sql(Category.ASSISTANT, Author, Post))
    )
    if consented is None and question.author_id != asker_id:
        raise Forbidden("The author of this post does not let the assistant read it")
    return ThreadContext(question)
