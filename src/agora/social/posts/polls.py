"""Polls: what a poll may look like, attaching one to a post (and changing it on an edit),
loading polls for display, and the expiry job. Voting is in poll_votes.py.

A poll belongs to one post and is visible exactly when its post is. Its expiry is a durable
job scheduled for `expires_at` when the poll is written (same transaction): it sends a `poll`
notification to every voter and to the author, once (notifications are unique per cause, the
poll id), and does nothing for a deleted post or a poll replaced by an edit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, exists, insert, null, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.models import ID, Poll, PollOption, PollVote, PollVoter, Post, utcnow
from agora.ids import new_id
from agora.jobs.job_kinds import JobKind, PollExpiredJob
from agora.jobs.queue import enqueue
from agora.social.media.custom_emojis import used_in
from agora.social.reading.notifications import create_notification
from agora.social.rules.errors import Invalid


@dataclass(slots=True)
class PollDraft:
    """A poll as a person submits it with a post."""

    options: list[str]
    expires_in: int
    multiple: bool = False
    hide_totals: bool = False


@dataclass(slots=True)
class PollView:
    """A poll with its options and the viewer's own votes, ready to show."""

    id: int
    post_id: int
    expires_at: datetime
    multiple: bool
    hide_totals: bool
    votes_count: int
    voters_count: int
    options: list[tuple[str, int]] = field(default_factory=list)
    own_votes: list[int] = field(default_factory=list)
    emojis: list[dict[str, Any]] | None = None  # the custom emoji its options use

    def expired(self, now: datetime | None = None) -> bool:
        """Whether voting has closed."""
        return self.expires_at <= (now or utcnow())


def clean_options(draft: PollDraft) -> list[str]:
    """The poll's options, trimmed, or Invalid with Mastodon's message for what is wrong."""
    s = get_settings()
    options = [str(o).strip() for o in draft.options]
    if len(options) < 2:
        raise Invalid("Validation failed: Poll options must have more than one item")
    if len(options) > s.poll_max_options:
        raise Invalid(
            f"Validation failed: Poll options can't contain more than {s.poll_max_options} items"
        )
    if any(not o for o in options):
        raise Invalid("Validation failed: Poll options must not be blank")
    if any(len(o) > s.poll_max_option_chars for o in options):
        raise Invalid(
            "Validation failed: Poll options cannot be longer than "
            f"{s.poll_max_option_chars} characters each"
        )
    if len(set(options)) != len(options):
        raise Invalid("Validation failed: Poll options must not contain duplicate items")
    if draft.expires_in < s.poll_min_expiration:
        raise Invalid("Validation failed: Poll expires at is too soon")
    if draft.expires_in > s.poll_max_expiration:
        raise Invalid("Validation failed: Poll expires at is too far into the future")
    return options


async def check_poll(
    session: AsyncSession,
    draft: PollDraft | None,
    media_ids: list[int] | None,
    post_id: int | None = None,
) -> None:
    """Before anything is written: the poll of a new post or an edit is well formed, and a
    post has a poll or media attachments, not both (as on Mastodon)."""
    if draft is not None:
        clean_options(draft)
    if not media_ids:
        return
    has_poll = draft is not None or (
        post_id is not None
        and await session.scalar(select(Poll.id).where(Poll.post_id == post_id)) is not None
    )
    if has_poll:
        raise Invalid("Validation failed: A post cannot have both a poll and media attachments")


async def attach_poll(session: AsyncSession, post_id: int, draft: PollDraft) -> int:
    """Write a poll (checked with `clean_options`) for a flushed post and schedule its expiry
    job for the end. Does not commit. Returns the poll id."""
    options = clean_options(draft)
    now = utcnow()
    poll_id = new_id()
    await session.execute(
        insert(Poll).values(
            id=poll_id,
            post_id=post_id,
            expires_at=now + timedelta(seconds=draft.expires_in),
            multiple=bool(draft.multiple),
            hide_totals=bool(draft.hide_totals),
            votes_count=0,
            voters_count=0,
            created_at=now,
            emojis=await used_in(session, None, *options),
        )
    )
    await session.execute(
        insert(PollOption),
        [
            {"poll_id": poll_id, "position": i, "title": title, "votes_count": 0}
            for i, title in enumerate(options)
        ],
    )
    enqueue(session, JobKind.POLL_EXPIRED, {"poll_id": poll_id}, delay=draft.expires_in)
    return poll_id


async def update_poll(session: AsyncSession, post_id: int, draft: PollDraft | None) -> None:
    """Apply the poll of an edit, as Mastodon does: none given keeps the poll as it is; the
    same options and choice mode keep the votes (totals visibility and expiry may change);
    other options or another mode replace the poll, which resets its votes. Does not commit."""
    if draft is None:
        return
    options = clean_options(draft)
    current = await session.execute(select(Poll.id, Poll.multiple).where(Poll.post_id == post_id))
    row = current.first()
    if row is None:
        await attach_poll(session, post_id, draft)
        return
    titles = (
        await session.scalars(
            select(PollOption.title)
            .where(PollOption.poll_id == row.id)
            .order_by(PollOption.position)
        )
    ).all()
    if list(titles) == options and row.multiple == bool(draft.multiple):
        await _retime(session, row.id, draft)
        return
    await session.execute(delete(Poll).where(Poll.id == row.id))  # votes go with it
    await attach_poll(session, post_id, draft)


async def _retime(session: AsyncSession, poll_id: int, draft: PollDraft) -> None:
    poll = await session.get(Poll, poll_id)
    assert poll is not None
    poll.hide_totals = bool(draft.hide_totals)
    poll.expires_at = utcnow() + timedelta(seconds=draft.expires_in)
    enqueue(session, JobKind.POLL_EXPIRED, {"poll_id": poll_id}, delay=draft.expires_in)


async def load_polls(
    session: AsyncSession, viewer_id: int | None, poll_ids: set[int]
) -> dict[int, PollView]:
    """PollViews by poll id, in one query: polls, their options in order, and which options
    the viewer chose. Callers check that the posts are visible (hydration does)."""
    if not poll_ids:
        return {}
    params = {"poll_ids": list(poll_ids), "viewer_id": viewer_id}
    rows = await session.execute(_polls_statement(viewer_id is not None), params)
    views: dict[int, PollView] = {}
    for row in rows:
        view = views.get(row.id)
        if view is None:
            view = views[row.id] = PollView(*row[:7])
            view.emojis = row.emojis
        view.options.append((row.title, row.option_votes))
        if row.mine:
            view.own_votes.append(row.position)
    return views


@cache
def _polls_statement(signed_in: bool) -> Select[*tuple[Any, ...]]:
    """Polls `poll_ids` with one row per option, built once per kind of viewer."""
    mine: Any = null()
    if signed_in:
        mine = exists().where(
            PollVote.poll_id == Poll.id,
            PollVote.account_id == bindparam("viewer_id", type_=ID),
            PollVote.choice == PollOption.position,
        )
    return (
        select(
            Poll.id,
            Poll.post_id,
            Poll.expires_at,
            Poll.multiple,
            Poll.hide_totals,
            Poll.votes_count,
            Poll.voters_count,
            Poll.emojis,
            PollOption.title,
            PollOption.votes_count.label("option_votes"),
            PollOption.position,
            mine.label("mine"),
        )
        .join(PollOption, PollOption.poll_id == Poll.id)
        .where(Poll.id.in_(bindparam("poll_ids", expanding=True)))
        .order_by(Poll.id, PollOption.position)
    )


def poll_id_column() -> Any:
    """SQL: the id of the poll of `Post` (NULL for most posts), for hydration's one query."""
    return select(Poll.id).where(Poll.post_id == Post.id).scalar_subquery().label("poll_id")


async def poll_expired(session: AsyncSession, payload: PollExpiredJob) -> None:
    """Job: tell the author and every voter that a poll has ended (`poll` notification), once.
    Skips polls that are gone (replaced by an edit), not yet due (re-timed by an edit) or whose
    post was deleted."""
    found = await session.execute(
        select(Poll.id, Poll.expires_at, Post.id.label("post_id"), Post.account_id)
        .join(Post, and_(Post.id == Poll.post_id, Post.deleted_at.is_(None)))
        .where(Poll.id == payload["poll_id"])
    )
    poll = found.first()
    if poll is None or poll.expires_at > utcnow():
        return
    voters = (
        await session.scalars(select(PollVoter.account_id).where(PollVoter.poll_id == poll.id))
    ).all()
    for account_id in [poll.account_id, *voters]:
        await create_notification(
            session,
            type="poll",
            account_id=account_id,
            from_account_id=poll.account_id,
            post_id=poll.post_id,
            activity_id=poll.id,
            to_self=account_id == poll.account_id,
        )
