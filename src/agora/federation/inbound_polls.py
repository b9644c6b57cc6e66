"""Received polls and votes: Create(Question) stores a remote post with its poll (the same
tables as local polls), Update(Question) refreshes a remote poll's counts, and a vote on a
local poll (a `Create(Note)` with `name` = an option's title, `inReplyTo` = the poll's post)
is cast through `poll_votes.cast_vote`, so every voting rule holds for remote voters too:
the poll must be visible to them, open, not their own; one vote per person unless multiple
choice, each option once. A refused vote raises (the inbox logs and drops it) and changes
nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, Poll, PollOption, Post
from agora.federation.inbound_common import Handler, id_of, post_named
from agora.federation.question_objects import read_question
from agora.social.posts import poll_votes, remote_polls
from agora.social.posts.post_uris import is_local_uri
from agora.social.rules.errors import Invalid


async def take_vote(session: AsyncSession, actor: Account, note: dict[str, Any]) -> bool:
    """Cast the vote a received Note carries, when it is one (a `name`, no `content`, and an
    `inReplyTo` naming a local post with a poll, as Mastodon tells votes from replies). True
    when it was a vote (cast), False when it is not a vote; a refused vote raises a
    DomainError."""
    name, replied = note.get("name"), id_of(note.get("inReplyTo"))
    if note.get("type") != "Note" or not isinstance(name, str) or not replied:
        return False
    if note.get("content"):  # a reply with a title, not a vote
        return False
    if not is_local_uri(replied) or id_of(note.get("attributedTo")) != actor.uri:
        return False
    post = await post_named(session, replied)
    poll_id = await session.scalar(select(Poll.id).where(Poll.post_id == post.id)) if post else None
    if poll_id is None:
        return False
    position = await session.scalar(
        select(PollOption.position).where(
            PollOption.poll_id == poll_id, PollOption.title == name.strip()
        )
    )
    if position is None:
        raise Invalid("Validation failed: The chosen vote option does not exist")
    await poll_votes.cast_vote(session, actor, poll_id, [position])
    return True


async def attach_received_poll(session: AsyncSession, post: Post, obj: dict[str, Any]) -> None:
    """Store the poll of a just stored remote post when it is a Question."""
    if obj.get("type") != "Question":
        return
    poll = read_question(obj)
    if poll is not None:
        await remote_polls.store_remote_poll(session, post.id, poll)


async def _update_question(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    question = activity.get("object")
    if not isinstance(question, dict) or question.get("type") != "Question":
        return
    post_id = await session.scalar(
        select(Post.id).where(Post.uri == id_of(question), Post.account_id == actor.id)
    )
    poll = read_question(question)
    if post_id is not None and poll is not None:
        await remote_polls.apply_remote_counts(session, post_id, poll)


HANDLERS: dict[str, Handler] = {}
UNDO_HANDLERS: dict[str, Handler] = {}
UPDATE_HANDLERS: dict[str, Handler] = {"Question": _update_question}
