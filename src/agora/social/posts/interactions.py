"""Reacting to posts: reblog, favourite, bookmark, pin (and their undo).

A boost or like by a local account of a remote post (or a boost by a local account with
remote followers) writes its federation job in the same transaction
(`remote_audience.schedule_reaction`); the same functions serve boosts and likes received
from other servers (federation/inbound_interactions.py), whose actor is remote, so nothing is
sent back for them.

None of them commits: the caller owns the transaction (an API or web door commits once after
the call; a job handler's transaction, which deleted its job row, commits with everything else
the handler did), so a handler that fails after the call leaves nothing behind and its retry
applies everything once.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import (
    Account,
    Bookmark,
    Favourite,
    HomeFeedEntry,
    Pin,
    Post,
    Visibility,
    utcnow,
)
from agora.db.upsert import affected_rows, insert_ignore
from agora.ids import new_id
from agora.jobs.job_kinds import JobKind, NotifyJob
from agora.jobs.queue import enqueue
from agora.social.live.streams import announce_deletion
from agora.social.posts.writing import get_visible_post
from agora.social.reading.remote_audience import schedule_reaction
from agora.social.rules.errors import Invalid
from agora.social.rules.limits import PINS, enforce
from agora.social.rules.visibility import is_public_or_unlisted


async def _original(session: AsyncSession, viewer_id: int, post_id: int) -> Post:
    post = await get_visible_post(session, viewer_id, post_id)
    if post.reblog_of_id is not None:
        post = await get_visible_post(session, viewer_id, post.reblog_of_id)
    return post


async def reblog(
    session: AsyncSession,
    actor: Account,
    post_id: int,
    visibility: str = "public",
    *,
    uri: str | None = None,
) -> Post:
    """Boost a post (idempotent: boosting twice, even concurrently, returns the first boost).
    `uri` is the id of a boost received from another server (its Announce). In the caller's
    transaction (the module docstring)."""
    original = await _original(session, actor.id, post_id)
    actor_id, original_id = actor.id, original.id
    existing = await _existing_reblog(session, actor_id, original_id)
    if existing is not None:
        return existing
    vis = _boost_visibility(original, actor_id, visibility)
    try:
        async with session.begin_nested():  # a lost race rolls back this boost alone
            boost = await _write_boost(session, actor_id, original, vis, uri)
            await schedule_reaction(
                session, "announce", actor, original, boost.id, visibility=boost.visibility
            )
    except IntegrityError:  # a concurrent boost of the same post won the race
        existing = await _existing_reblog(session, actor_id, original_id)
        if existing is None:
            raise
        return existing
    return boost


def _boost_visibility(original: Post, actor_id: int, requested: str) -> Visibility:
    own_private = original.visibility == Visibility.PRIVATE and original.account_id == actor_id
    if not is_public_or_unlisted(original.visibility) and not own_private:
        raise Invalid("Validation failed: This post cannot be boosted")
    try:
        vis = Visibility.parse(requested or "public")
    except KeyError:
        raise Invalid("Validation failed: Visibility is not included in the list") from None
    return max(vis, Visibility(original.visibility))


async def _write_boost(
    session: AsyncSession, actor_id: int, original: Post, visibility: Visibility, uri: str | None
) -> Post:
    boost = Post(
        id=new_id(),
        account_id=actor_id,
        uri=uri,
        reblog_of_id=original.id,
        text="",
        content_html="",
        visibility=int(visibility),
        created_at=utcnow(),
        spoiler_text="",
        sensitive=False,
        replies_count=0,
        reblogs_count=0,
        favourites_count=0,
    )
    session.add(boost)
    await session.flush()
    await session.execute(
        update(Post).where(Post.id == original.id).values(reblogs_count=Post.reblogs_count + 1)
    )
    enqueue(session, JobKind.DISTRIBUTE_POST, {"post_id": boost.id})
    notice = _notice("reblog", original.account_id, actor_id, original.id, boost.id)
    enqueue(session, JobKind.NOTIFY, notice)
    return boost


async def _existing_reblog(session: AsyncSession, account_id: int, original_id: int) -> Post | None:
    return await session.scalar(
        select(Post).where(Post.account_id == account_id, Post.reblog_of_id == original_id)
    )


async def unreblog(session: AsyncSession, actor: Account, post_id: int) -> Post:
    """Undo a boost; returns the original post. In the caller's transaction."""
    original = await _original(session, actor.id, post_id)
    boost = await _existing_reblog(session, actor.id, original.id)
    if boost is not None:
        await schedule_reaction(
            session, "announce", actor, original, boost.id, undo=True, visibility=boost.visibility
        )
        announce_deletion(session, boost.id, boost.account_id, boost.visibility, boost=True)
        await session.execute(delete(HomeFeedEntry).where(HomeFeedEntry.post_id == boost.id))
        await session.execute(delete(Post).where(Post.id == boost.id))
        await session.execute(
            update(Post)
            .where(Post.id == original.id, Post.reblogs_count > 0)
            .values(reblogs_count=Post.reblogs_count - 1)
        )
    return original


def _notice(
    kind: Literal["favourite", "reblog"], to: int, by: int, post_id: int | None, activity_id: int
) -> NotifyJob:
    return {
        "type": kind,
        "account_id": to,
        "from_account_id": by,
        "post_id": post_id,
        "activity_id": activity_id,
    }


async def favourite(session: AsyncSession, actor: Account, post_id: int) -> Post:
    """Like a post; concurrent or repeated likes count once. In the caller's transaction.
    Returns the original post liked, not read again: every door shows it through hydration,
    which reads its counters."""
    post = await _original(session, actor.id, post_id)
    fav_id = new_id()
    inserted = await session.execute(
        insert_ignore(session, Favourite).values(id=fav_id, account_id=actor.id, post_id=post.id)
    )
    if affected_rows(inserted):
        enqueue(
            session,
            JobKind.NOTIFY,
            _notice("favourite", post.account_id, actor.id, post.id, fav_id),
        )
        await schedule_reaction(session, "like", actor, post, fav_id)
        # the post's row last: other likers of a popular post wait for its lock until commit
        await session.execute(
            update(Post)
            .where(Post.id == post.id)
            .values(favourites_count=Post.favourites_count + 1)
        )
    return post


async def unfavourite(session: AsyncSession, actor: Account, post_id: int) -> Post:
    """Undo a like. In the caller's transaction. Returns the original post, not read again
    (as `favourite`)."""
    post = await _original(session, actor.id, post_id)
    mine = (Favourite.account_id == actor.id, Favourite.post_id == post.id)
    fav_id = await session.scalar(select(Favourite.id).where(*mine))
    removed = await session.execute(delete(Favourite).where(*mine))
    if affected_rows(removed) and fav_id is not None:
        await schedule_reaction(session, "like", actor, post, fav_id, undo=True)
        await session.execute(
            update(Post)
            .where(Post.id == post.id, Post.favourites_count > 0)
            .values(favourites_count=Post.favourites_count - 1)
        )
    return post


async def set_bookmark(session: AsyncSession, actor: Account, post_id: int, on: bool) -> Post:
    """Bookmark or un-bookmark a visible post. In the caller's transaction."""
    post = await _original(session, actor.id, post_id)
    await _set_mark(session, Bookmark, actor.id, post.id, on)
    return post


async def set_pin(session: AsyncSession, actor: Account, post_id: int, on: bool) -> Post:
    """Pin or unpin one's own post on one's profile (at most `limits.PINS`, also when
    requests race). In the caller's transaction."""
    post = await get_visible_post(session, actor.id, post_id)
    if post.account_id != actor.id or post.reblog_of_id is not None:
        raise Invalid("Validation failed: You can only pin your own posts")
    if on and post.visibility == Visibility.DIRECT:
        raise Invalid("Validation failed: Direct posts cannot be pinned")
    if on:
        await enforce(session, PINS, actor.id)
    await _set_mark(session, Pin, actor.id, post.id, on)
    return post


async def _set_mark(
    session: AsyncSession, model: Any, account_id: int, post_id: int, on: bool
) -> None:
    if on:
        await session.execute(
            insert_ignore(session, model).values(
                id=new_id(), account_id=account_id, post_id=post_id
            )
        )
    else:
        await session.execute(
            delete(model).where(model.account_id == account_id, model.post_id == post_id)
        )
