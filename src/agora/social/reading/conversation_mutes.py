"""Conversation mute (Mastodon's `POST /api/v1/statuses/:id/mute`): someone who muted a
thread is notified of nothing about a post in it.

Invariant: the mute is enforced where notifications are made (`notifications.
create_notification`, `muted_thread`), so no door (the v1 and v2 lists, the streams, Web
Push, the web app) can show one: a notification that is never created is never streamed or
pushed. A thread is named by its root post (`thread_root_id`, or the root's own id); muting
any post of it mutes the whole thread. Posts stay in timelines: this is not an account mute.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, ConversationMute, Post
from agora.db.upsert import insert_ignore
from agora.social.rules.errors import NotFound
from agora.social.rules.visibility import plain_visible_to


def thread_of(post: Any = Post) -> Any:
    """SQL (or a value for a loaded Post): the id naming a post's thread."""
    if isinstance(post, Post):
        return post.thread_root_id or post.id
    return func.coalesce(post.thread_root_id, post.id)


async def set_conversation_mute(
    session: AsyncSession, actor: Account, post_id: int, on: bool
) -> Post:
    """Mute (`on`) or unmute the thread of a post the actor may see (NotFound otherwise);
    idempotent. Returns the post. Commits."""
    post = await _visible(session, actor.id, post_id)
    if post.reblog_of_id is not None:
        post = await _visible(session, actor.id, post.reblog_of_id)
    thread = thread_of(post)
    if on:
        await session.execute(
            insert_ignore(session, ConversationMute).values(account_id=actor.id, thread_id=thread)
        )
    else:
        await session.execute(
            delete(ConversationMute).where(
                ConversationMute.account_id == actor.id, ConversationMute.thread_id == thread
            )
        )
    await session.commit()
    return post


async def _visible(session: AsyncSession, viewer_id: int, post_id: int) -> Post:
    post = await session.scalar(
        select(Post).where(Post.id == post_id, plain_visible_to(viewer_id, Post))
    )
    if post is None:
        raise NotFound()
    return post


def muted_thread(recipient: Any, post_id: Any) -> Any:
    """SQL: the recipient muted the thread of the post `post_id`."""
    return exists().where(
        Post.id == post_id,
        ConversationMute.account_id == recipient,
        ConversationMute.thread_id == thread_of(Post),
    )
