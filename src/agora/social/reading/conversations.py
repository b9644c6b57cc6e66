"""Direct-message conversations, as Mastodon's `/api/v1/conversations` shows them.

A conversation is a thread of direct posts (keyed by its root post) as one local participant
sees it: one `ConversationEntry` per participant and thread, pointing at the newest direct
post of the thread that the participant wrote or is mentioned in, and marked unread when
someone else wrote it. Invariants:

- entries are written only by `record_direct_post` (in the fan-out's exactly-once
  transaction, for local and remote direct posts alike) and `forget_post` (a deleted post's
  entries fall back to the thread's newest remaining post, or go); both are idempotent;
- an entry never decides who may see anything: the doors render its last post through
  hydration (`hydrate.load_posts`), and an entry whose post the viewer may not see (a block,
  a suspension) is left out of every page;
- removing an entry hides the conversation for that person only, until its next post;
- each participant's `direct` stream gets a `conversation` event once the post's entries
  are committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, ConversationEntry, Mention, Post, Visibility
from agora.db.upsert import dialect_insert
from agora.ids import new_id
from agora.social.live.streams import announce_conversation
from agora.social.rules.errors import NotFound
from agora.social.rules.paging import Page, Slice, apply_page, keyed_slice


@dataclass(frozen=True, slots=True)
class Conversation:
    """One page item: the entry and the other participants of its last post (ids, the
    viewer left out), for the door to hydrate."""

    entry: ConversationEntry
    participant_ids: list[int]


def _root(post: Post) -> int:
    return post.thread_root_id or post.id


async def record_direct_post(session: AsyncSession, post: Post) -> None:
    """Make `post` (a direct post, not a boost) the newest message of its thread for each of
    its local participants (author and mentioned people): unread for everyone but its author.
    A post older than an entry's newest one leaves that entry's last post as it is."""
    if post.visibility != Visibility.DIRECT or post.reblog_of_id is not None:
        return
    mentioned = select(Mention.account_id).where(Mention.post_id == post.id)
    local = (
        await session.scalars(
            select(Account.id).where(
                or_(Account.id == post.account_id, Account.id.in_(mentioned)),
                Account.domain.is_(None),
            )
        )
    ).all()
    for account_id in local:
        stmt = dialect_insert(session, ConversationEntry).values(
            id=new_id(),
            account_id=account_id,
            root_id=_root(post),
            last_post_id=post.id,
            unread=account_id != post.account_id,
        )
        newer = stmt.excluded.last_post_id > ConversationEntry.last_post_id
        stmt = stmt.on_conflict_do_update(
            index_elements=["account_id", "root_id"],
            set_={
                "last_post_id": case(
                    (newer, stmt.excluded.last_post_id), else_=ConversationEntry.last_post_id
                ),
                "unread": case(
                    (newer, stmt.excluded.unread),
                    else_=or_(ConversationEntry.unread, stmt.excluded.unread),
                ),
            },
        )
        entry_id = await session.scalar(stmt.returning(ConversationEntry.id))
        if entry_id is not None:
            announce_conversation(session, account_id, entry_id)


def _part_of(account_id: int) -> ColumnElement[bool]:
    """The direct posts `account_id` wrote or is mentioned in (SQL)."""
    mentioned = exists().where(Mention.post_id == Post.id, Mention.account_id == account_id)
    return or_(Post.account_id == account_id, mentioned)


async def forget_post(session: AsyncSession, post_id: int) -> None:
    """A deleted post leaves every conversation it was the newest message of: each such entry
    points at its participant's newest remaining direct post of the thread, or goes."""
    entries = (
        await session.scalars(
            select(ConversationEntry).where(ConversationEntry.last_post_id == post_id)
        )
    ).all()
    for entry in entries:
        newest = await session.scalar(
            select(func.max(Post.id)).where(
                or_(Post.thread_root_id == entry.root_id, Post.id == entry.root_id),
                Post.visibility == Visibility.DIRECT,
                Post.deleted_at.is_(None),
                Post.reblog_of_id.is_(None),
                Post.id != post_id,
                _part_of(entry.account_id),
            )
        )
        if newest is None:
            await session.delete(entry)
        else:
            entry.last_post_id = newest


async def list_conversations(
    session: AsyncSession, viewer_id: int, page: Page
) -> Slice[Conversation]:
    """A page of the viewer's conversations, the most recently active first (paged by their
    last post's id, as Mastodon pages them)."""
    query = select(ConversationEntry).where(ConversationEntry.account_id == viewer_id)
    entries = (await session.scalars(apply_page(query, ConversationEntry.last_post_id, page))).all()
    found = keyed_slice(entries, page, lambda entry: entry.last_post_id)
    return Slice(await _with_participants(session, viewer_id, found.items), found.cursors)


async def _with_participants(
    session: AsyncSession, viewer_id: int, entries: Sequence[ConversationEntry]
) -> list[Conversation]:
    """Each entry with the author and mentioned people of its last post, but the viewer."""
    last = [entry.last_post_id for entry in entries]
    people: dict[int, list[int]] = {post_id: [] for post_id in last}
    authors = await session.execute(select(Post.id, Post.account_id).where(Post.id.in_(last)))
    mentions = await session.execute(
        select(Mention.post_id, Mention.account_id)
        .where(Mention.post_id.in_(last))
        .order_by(Mention.post_id, Mention.account_id)
    )
    for post_id, account_id in [*authors.all(), *mentions.all()]:
        if account_id != viewer_id and account_id not in people[post_id]:
            people[post_id].append(account_id)
    return [Conversation(entry, people[entry.last_post_id]) for entry in entries]


async def get_conversation(session: AsyncSession, viewer_id: int, entry_id: int) -> Conversation:
    """One of the viewer's conversations; NotFound for anyone else's."""
    entry = await session.scalar(
        select(ConversationEntry).where(
            ConversationEntry.id == entry_id, ConversationEntry.account_id == viewer_id
        )
    )
    if entry is None:
        raise NotFound()
    return (await _with_participants(session, viewer_id, [entry]))[0]


async def mark_read(session: AsyncSession, viewer_id: int, entry_id: int) -> Conversation:
    """Mark one of the viewer's conversations read; NotFound for anyone else's. Commits."""
    found = await get_conversation(session, viewer_id, entry_id)
    await session.execute(
        update(ConversationEntry).where(ConversationEntry.id == entry_id).values(unread=False)
    )
    await session.commit()
    await session.refresh(found.entry)
    return found


async def remove(session: AsyncSession, viewer_id: int, entry_id: int) -> None:
    """Hide one of the viewer's conversations until its next post; NotFound for anyone
    else's. Commits."""
    await get_conversation(session, viewer_id, entry_id)
    await session.execute(delete(ConversationEntry).where(ConversationEntry.id == entry_id))
    await session.commit()


async def unread_count(session: AsyncSession, viewer_id: int) -> int:
    """How many of the viewer's conversations have an unread message (the web app's badge)."""
    count = await session.scalar(
        select(func.count()).where(
            ConversationEntry.account_id == viewer_id, ConversationEntry.unread.is_(True)
        )
    )
    return int(count or 0)
