"""The assistant drafts a Community Note on request; a person edits and submits it.

The draft is built from the post, its thread and the posts search finds for the post's words,
all read under the assistant's two rules (ai/context.py: visible to the asker, and allowed by
their authors), so a draft never cites or quotes a post the asker may not read. Its sources
are the links found in the public ones among them and their addresses (a note is public).
The draft is returned, never stored: the person submits it as their own note (marked
`drafted_with_assistant`, shown as "drafted with the assistant"). The assistant never rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.ai.actions import call_model
from agora.ai.context import (
    Author,
    ContextPost,
    as_context_post,
    context_columns,
    post_context,
    readable_by_assistant,
    thread_context,
)
from agora.ai.prompts import context_budget, note_draft_messages, post_cost
from agora.ai.providers import get_provider
from agora.config import get_settings
from agora.db.engine import Database
from agora.db.models import Account, Post, Visibility
from agora.social.community_notes.note_writing import (
    MAX_NOTE_CHARS,
    check_may_take_part,
    notable_post,
    source_links,
)
from agora.social.rules.errors import NotFound
from agora.social.search.posts import best_matching_posts

SEARCHED = 5
LABEL = "drafted with the assistant"


@dataclass
class NoteDraft:
    """The assistant's draft of a note, the posts it read, and the label it carries."""

    text: str
    classification: str
    used_ids: list[int] = field(default_factory=list)
    label: str = LABEL


async def _searched(
    session: AsyncSession, asker_id: int, text: str, skip: set[int]
) -> list[ContextPost]:
    """Posts search finds for the post's words that the assistant may read for the asker."""
    ids = await best_matching_posts(
        session, asker_id, text, SEARCHED + len(skip), for_assistant=True
    )
    ids = [i for i in ids if i not in skip][:SEARCHED]
    if not ids:
        return []
    rows = await session.execute(
        select(*context_columns())
        .join(Author, Author.id == Post.account_id)
        .where(Post.id.in_(ids), *readable_by_assistant(asker_id))
    )
    by_id = {row.id: as_context_post(row) for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def _post_url(post: ContextPost) -> str:
    return f"{get_settings().base_url}/@{post.handle}/{post.id}"


def cited_sources(used: list[ContextPost]) -> list[str]:
    """The draft's sources, from the public posts used only (a note is public): the links
    in them, then their own addresses."""
    public = [p for p in used if p.visibility == Visibility.PUBLIC]
    links: list[str] = []
    for post in public:
        links += [u for u in source_links(post.text) if u not in links]
    return links + [_post_url(p) for p in public]


async def draft_note(db: Database, asker_id: int, post_id: int) -> NoteDraft:
    """Draft a note on a public post for someone who may write notes (quota "note_draft")."""
    provider = get_provider()
    async with db.session() as session:
        asker = await session.get(Account, asker_id)
        if asker is None:
            raise NotFound()
        await check_may_take_part(session, asker)
        await notable_post(session, asker_id, post_id)
        question = (await post_context(session, asker_id, post_id)).question
        budget = context_budget(provider) // 2
        thread = await thread_context(session, asker_id, post_id, budget, post_cost(provider))
        seen = {question.id, *(p.id for p in thread.posts)}
        found = await _searched(session, asker_id, question.text, seen)
    related = [*thread.posts, *found]
    text = await call_model(db, asker_id, "note_draft", note_draft_messages(question, related))
    sources = [u for u in cited_sources(related) if u not in text]
    if sources:
        text = f"{text}\n\nSources: {' '.join(sources[:5])}"
    return NoteDraft(
        text[:MAX_NOTE_CHARS], "missing_context", [question.id, *(p.id for p in related)]
    )
