"""What a Note carries beyond its text, both ways: its poll (a `Question`), the post it
quotes and who may quote it, its images, and (sent) its replies collection and its hashtags
(`Hashtag` tags, `href` the tag's page here, as Mastodon sends them; received ones are read
by inbound_posts). One function
completes every local Note that leaves the server (deliveries and fetches alike), one stores
what a received Note carries once the post is stored, so no door builds or reads these parts
on its own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.models import Account, MediaAttachment, Poll, Post, PostTag, Tag
from agora.federation import inbound_polls, quote_objects
from agora.federation.activities import note_uri
from agora.federation.media_objects import attachments_json, attachments_of, read_images
from agora.federation.question_objects import as_question
from agora.federation.reply_collections import first_replies_of, replies_collection
from agora.social.media.remote_files import record_remote_images
from agora.social.posts.polls import PollView, load_polls


@dataclass(frozen=True, slots=True)
class NoteParts:
    """What `complete_note` reads of a batch of posts, loaded in a few queries
    (`load_note_parts`), so many Notes are made without queries per post."""

    attachments: dict[int, list[MediaAttachment]]
    replies: dict[int, list[tuple[Post, Account]]]
    polls: dict[int, PollView]  # by post id
    hashtags: dict[int, list[str]]  # tag names, by post id


async def hashtags_of(session: AsyncSession, ids: list[int]) -> dict[int, list[str]]:
    """The hashtag names of these posts, by post id, in one query."""
    found: dict[int, list[str]] = defaultdict(list)
    rows = await session.execute(
        select(PostTag.post_id, Tag.name)
        .join(Tag, Tag.id == PostTag.tag_id)
        .where(PostTag.post_id.in_(ids))
        .order_by(Tag.name)
    )
    for post_id, name in rows:
        found[post_id].append(name)
    return found


def _hashtags_json(names: list[str]) -> list[dict[str, str]]:
    base = get_settings().base_url.rstrip("/")
    return [{"type": "Hashtag", "href": f"{base}/tags/{n}", "name": f"#{n}"} for n in names]


async def load_note_parts(session: AsyncSession, posts: list[Post]) -> NoteParts:
    """The images, first replies and polls of these local posts (the posts they quote are
    read by `complete_note`: few posts quote)."""
    ids = [p.id for p in posts]
    poll_ids = dict(
        (await session.execute(select(Poll.id, Poll.post_id).where(Poll.post_id.in_(ids)))).all()
    )
    polls = await load_polls(session, None, set(poll_ids))
    return NoteParts(
        attachments=await attachments_of(session, ids),
        replies=await first_replies_of(session, ids),
        polls={poll_ids[i]: view for i, view in polls.items()},
        hashtags=await hashtags_of(session, ids),
    )


async def complete_note(
    session: AsyncSession,
    post: Post,
    author: Account,
    note: dict[str, Any],
    parts: NoteParts | None = None,
) -> dict[str, Any]:
    """A local post's Note (activities.note_json) with its quote policy, its images
    (media_objects), its replies collection (reply_collections), the post it quotes and its
    poll (then a Question); `parts` when the caller loaded them for a batch."""
    note = {**note, "interactionPolicy": quote_objects.interaction_policy(post, author)}
    names = (parts.hashtags if parts else await hashtags_of(session, [post.id])).get(post.id)
    if names:
        note["tag"] = [*note.get("tag", []), *_hashtags_json(names)]
    attachments = await attachments_json(
        session, post, parts.attachments.get(post.id, []) if parts else None
    )
    if attachments:
        note["attachment"] = attachments
    replies = await replies_collection(
        session, post, note["id"], parts.replies.get(post.id, []) if parts else None
    )
    if replies is not None:
        note["replies"] = replies
    if post.quote_of_id is not None:
        quoted = await session.get(Post, post.quote_of_id)
        quoted_author = await session.get(Account, quoted.account_id) if quoted else None
        if quoted is not None and quoted_author is not None:
            uri = note_uri(quoted_author, quoted)
            note |= quote_objects.quote_fields(uri)
            note["tag"] = [*note.get("tag", []), quote_objects.quote_link(uri)]
    if parts is not None:
        poll = parts.polls.get(post.id)
        return as_question(note, poll) if poll is not None else note
    poll_id = await session.scalar(select(Poll.id).where(Poll.post_id == post.id))
    if poll_id is not None:
        polls = await load_polls(session, None, {poll_id})
        if poll_id in polls:
            note = as_question(note, polls[poll_id])
    return note


async def store_extensions(session: AsyncSession, post: Post, note: dict[str, Any]) -> None:
    """Store what a just stored remote post's Note (or Question) carries: its poll, its
    images and the post it quotes. Does not commit."""
    await inbound_polls.attach_received_poll(session, post, note)
    images = read_images(note)
    if images:
        await record_remote_images(session, post.id, post.account_id, images)
    await quote_objects.attach_received_quote(session, post, note)
