"""Home feeds: fan-out on write into a precomputed, capped feed per account.

Accounts with more followers than `fanout_follower_threshold` are not fanned out; their posts
are merged into home timelines at read time (see timelines.home_timeline). All handlers here
are jobs and idempotent: feed rows are inserted with ON CONFLICT DO NOTHING.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, bindparam, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from agora.config import get_settings
from agora.db.models import (
    Account,
    Block,
    Follow,
    FollowedTag,
    HomeFeedEntry,
    HomeFeedSize,
    Mention,
    Mute,
    Post,
    PostTag,
    utcnow,
)
from agora.db.upsert import insert_ignore
from agora.jobs.queue import job_handler
from agora.social.home_rule import home_rule, in_home
from agora.social.notifications import create_notification, notify_mentions, notify_subscribers
from agora.social.streams import announce_post
from agora.social.tags import record_tag_use
from agora.social.visibility import Visibility, timeline_filter

CHUNK = 500
TRIM_SLACK = 40
BACKFILL = 40


def _chunks(items: list[int], size: int = CHUNK) -> Iterable[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@job_handler("distribute_post")
async def distribute_post(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Job: put a new post (or boost) into its audience's home feeds; notify mentions."""
    post = await session.get(Post, payload["post_id"])
    if post is None or post.deleted_at is not None:
        return
    original = await session.get(Post, post.reblog_of_id) if post.reblog_of_id else None
    if original is not None and original.deleted_at is not None:
        return
    author = await session.get(Account, post.account_id)
    if author is None or author.suspended_at is not None:
        return
    recipients = await fan_out_recipients(session, post, author, original)
    if original is None:
        recipients += await tag_follower_recipients(session, post, author, set(recipients))
    await push_to_feeds(session, post, recipients, original)
    announce_post(session, post)  # streamed once this job commits
    if original is None:
        await notify_mentions(session, post)
        await notify_subscribers(session, post)
        await record_tag_use(session, post)


async def fan_out_recipients(
    session: AsyncSession, post: Post, author: Account, original: Post | None
) -> list[int]:
    """Who gets `post` in their home feed by following its author (the author always does):
    the followers (for a direct post, the mentioned followers) for whom the home rule
    (`home_rule.in_home`) holds, decided on the facts read for each of them in one query.
    A high-reach author's posts are merged at read time instead (direct ones are fanned out)."""
    threshold = get_settings().fanout_follower_threshold
    if post.visibility != Visibility.DIRECT and author.followers_count > threshold:
        return [author.id]
    rows = (await session.execute(_follower_facts(post, author, original))).all()
    to = post.in_reply_to_account_id
    members = [
        row.account_id
        for row in rows
        if row.account_id != author.id
        and in_home(
            is_author=False,
            follows_author=True,
            shows_boosts=row.show_reblogs,
            is_boost=original is not None,
            direct=post.visibility == Visibility.DIRECT,
            mentioned=row.mentioned,
            is_reply=to is not None,
            replies_to_viewer=row.account_id == to,
            self_reply=to == author.id,
            follows_replied_to=row.follows_replied_to,
        )
    ]
    return [author.id, *members]


def _follower_facts(post: Post, author: Account, original: Post | None) -> Select[Any]:
    """(account_id, show_reblogs, mentioned, follows_replied_to) of the author's followers
    whom neither a block nor a mute keeps away (only the mentioned ones for a direct post),
    the facts `in_home` decides on."""
    follower: Any = Follow.account_id
    mention, other = aliased(Mention), aliased(Follow)  # never correlated with the query's own
    mentioned = exists().where(mention.post_id == post.id, mention.account_id == follower)
    follows_replied_to = exists().where(
        other.account_id == follower, other.target_account_id == post.in_reply_to_account_id
    )
    query = select(
        follower,
        Follow.show_reblogs,
        mentioned.label("mentioned"),
        follows_replied_to.label("follows_replied_to"),
    ).where(Follow.target_account_id == author.id, *_not_silenced(follower, author.id, original))
    if post.visibility == Visibility.DIRECT:
        query = query.join(Mention, (Mention.account_id == follower) & (Mention.post_id == post.id))
    return query


async def tag_follower_recipients(
    session: AsyncSession, post: Post, author: Account, already: set[int]
) -> list[int]:
    """People following a hashtag of a public post, besides `already`: the post reaches
    their home feed unless they block or mute its author or are blocked by them. A silenced
    author's posts reach only their followers."""
    if post.visibility != Visibility.PUBLIC or author.silenced_at is not None:
        return []
    follower: Any = FollowedTag.account_id
    query = (
        select(follower)
        .distinct()
        .join(PostTag, PostTag.tag_id == FollowedTag.tag_id)
        .where(PostTag.post_id == post.id, *_not_silenced(follower, author.id, None))
    )
    return [a for a in (await session.scalars(query)).all() if a not in already]


def _not_silenced(recipient: Any, author_id: int, original: Post | None) -> list[Any]:
    """SQL conditions: the recipient neither blocks/mutes the author(s) nor is blocked."""
    authors = [author_id] + ([original.account_id] if original is not None else [])
    now = utcnow()
    blocked = (
        select(Block.id)
        .where(
            or_(
                (Block.account_id == recipient) & Block.target_account_id.in_(authors),
                Block.account_id.in_(authors) & (Block.target_account_id == recipient),
            )
        )
        .exists()
    )
    muted = (
        select(Mute.id)
        .where(
            Mute.account_id == recipient,
            Mute.target_account_id.in_(authors),
            or_(Mute.expires_at.is_(None), Mute.expires_at > now),
        )
        .exists()
    )
    return [~blocked, ~muted]


async def push_to_feeds(
    session: AsyncSession, post: Post, recipients: list[int], original: Post | None = None
) -> None:
    """Insert `post` into each recipient's feed (idempotent), then trim feeds past the cap."""
    for chunk in _chunks(recipients):
        if original is not None:
            chunk = await _without_original(session, chunk, original.id)
        if not chunk:
            continue
        await session.execute(
            insert_ignore(session, HomeFeedEntry.__table__),
            [{"account_id": a, "post_id": post.id, "author_id": post.account_id} for a in chunk],
        )
        await _grow_and_trim(session, chunk)


async def _without_original(session: AsyncSession, chunk: list[int], original_id: int) -> list[int]:
    """Drop recipients whose feed already holds the original or another boost of it."""
    same = select(Post.id).where(or_(Post.id == original_id, Post.reblog_of_id == original_id))
    having = set(
        (
            await session.scalars(
                select(HomeFeedEntry.account_id).where(
                    HomeFeedEntry.account_id.in_(chunk), HomeFeedEntry.post_id.in_(same)
                )
            )
        ).all()
    )
    return [a for a in chunk if a not in having]


async def _grow_and_trim(session: AsyncSession, accounts: list[int], added: int = 1) -> None:
    cap = get_settings().home_feed_cap
    await session.execute(
        insert_ignore(session, HomeFeedSize.__table__),
        [{"account_id": a, "entries": 0} for a in accounts],
    )
    await session.execute(
        update(HomeFeedSize)
        .where(HomeFeedSize.account_id.in_(accounts))
        .values(entries=HomeFeedSize.entries + added)
    )
    full = (
        await session.scalars(
            select(HomeFeedSize.account_id).where(
                HomeFeedSize.account_id.in_(accounts), HomeFeedSize.entries > cap + TRIM_SLACK
            )
        )
    ).all()
    await trim_feeds(session, list(full), cap)


async def trim_feeds(session: AsyncSession, account_ids: list[int], cap: int) -> None:
    """Keep only the newest `cap` entries of each of these feeds, in three statements however
    many feeds there are (a fan-out to 10,000 followers trims a few hundred at once)."""
    if not account_ids:
        return
    entry = aliased(HomeFeedEntry)
    cutoff = (
        select(entry.post_id)
        .where(entry.account_id == Account.id)
        .order_by(entry.post_id.desc())
        .offset(cap - 1)
        .limit(1)
        .scalar_subquery()
    )
    rows = await session.execute(select(Account.id, cutoff).where(Account.id.in_(account_ids)))
    cuts = [{"owner": owner, "cutoff": post_id} for owner, post_id in rows if post_id is not None]
    if cuts:
        feed = HomeFeedEntry.__table__
        await session.execute(
            delete(feed).where(
                feed.c.account_id == bindparam("owner"), feed.c.post_id < bindparam("cutoff")
            ),
            cuts,
        )
    await session.execute(
        update(HomeFeedSize).where(HomeFeedSize.account_id.in_(account_ids)).values(entries=cap)
    )


async def trim_feed(session: AsyncSession, account_id: int, cap: int) -> None:
    """Keep only the newest `cap` entries of one feed."""
    await trim_feeds(session, [account_id], cap)


@job_handler("merge_into_feed")
async def merge_into_feed(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Job: after a follow, bring the followed account's recent posts into the home feed
    (those the home rule lets in)."""
    owner, target = payload["account_id"], payload["target_account_id"]
    author = await session.get(Account, target)
    if author is None or author.followers_count > get_settings().fanout_follower_threshold:
        return
    recent = (
        await session.scalars(
            select(Post.id)
            .where(
                Post.account_id == target,
                home_rule(owner, Post),
                timeline_filter(owner, Post),
            )
            .order_by(Post.id.desc())
            .limit(BACKFILL)
        )
    ).all()
    if recent:
        await session.execute(
            insert_ignore(session, HomeFeedEntry.__table__),
            [{"account_id": owner, "post_id": p, "author_id": target} for p in recent],
        )
        await _grow_and_trim(session, [owner], len(recent))


@job_handler("unmerge_from_feed")
async def unmerge_from_feed(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Job: after an unfollow, block or mute, remove the account's posts from the feed."""
    await session.execute(
        delete(HomeFeedEntry).where(
            HomeFeedEntry.account_id == payload["account_id"],
            HomeFeedEntry.author_id == payload["target_account_id"],
        )
    )


@job_handler("post_edited")
async def post_edited(session: AsyncSession, payload: dict[str, Any]) -> None:
    """Job: stream the edit (`status.update`) and tell everyone who boosted the post
    (`update` notification)."""
    post = await session.get(Post, payload["post_id"])
    if post is None or post.deleted_at is not None:
        return
    announce_post(session, post, "status.update")
    boosters = (
        await session.scalars(select(Post.account_id).where(Post.reblog_of_id == post.id))
    ).all()
    for account_id in boosters:
        await create_notification(
            session,
            type="update",
            account_id=account_id,
            from_account_id=post.account_id,
            post_id=post.id,
            activity_id=payload["edit_id"],
        )
