"""Polls across servers, the service side: a remote post's poll stored in the same tables as
a local one (so hydration, the API and the web show it unchanged), its counts refreshed from
its server, and the federation jobs a vote writes in its own transaction.

Invariants:
- A remote poll's counts are its server's: `apply_remote_counts` replaces them (a local
  person's vote is counted here at once, and comes back in the next count from its server).
- A vote on a remote poll by a local person writes a `federate_vote` job (the votes go to the
  poll's author only); a vote on a local poll writes a `federate_poll_counts` job (the new
  counts go to the post's audience and to the remote voters) when the poll has anyone on
  another server, debounced (`update_pending`: at most one pending per poll, due
  `federation_poll_update_delay` seconds after the vote that scheduled it, sending the counts
  as they are then). Both are written in the vote's transaction, so a refused or rolled-back
  vote sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.models import Account, Poll, PollOption, PollVoter, Post, utcnow
from agora.db.upsert import affected_rows
from agora.ids import new_id
from agora.jobs.job_kinds import JobKind
from agora.jobs.queue import enqueue
from agora.social.reading.remote_audience import has_remote_audience


@dataclass(frozen=True, slots=True)
class RemotePoll:
    """A poll as another server describes it (read from a `Question`)."""

    options: list[tuple[str, int]]  # title, votes
    expires_at: datetime
    multiple: bool
    voters_count: int


async def store_remote_poll(session: AsyncSession, post_id: int, poll: RemotePoll) -> int:
    """Write the poll of a flushed remote post, and its expiry job (which tells local voters
    when it ends). Does not commit. Returns the poll id."""
    now = utcnow()
    poll_id = new_id()
    await session.execute(
        insert(Poll).values(
            id=poll_id,
            post_id=post_id,
            expires_at=poll.expires_at,
            multiple=poll.multiple,
            hide_totals=False,
            votes_count=sum(votes for _, votes in poll.options),
            voters_count=poll.voters_count,
            created_at=now,
        )
    )
    await session.execute(
        insert(PollOption),
        [
            {"poll_id": poll_id, "position": i, "title": title, "votes_count": votes}
            for i, (title, votes) in enumerate(poll.options)
        ],
    )
    delay = max(0.0, (poll.expires_at - now).total_seconds())
    enqueue(session, JobKind.POLL_EXPIRED, {"poll_id": poll_id}, delay=delay)
    return poll_id


async def apply_remote_counts(session: AsyncSession, post_id: int, poll: RemotePoll) -> bool:
    """Replace a remote poll's counts (and end time) with its server's; options are matched
    by title, unknown titles ignored. False when the post has no poll. Does not commit."""
    found = await session.scalar(select(Poll).where(Poll.post_id == post_id))
    if found is None:
        return False
    titles = dict(poll.options)
    rows = (await session.scalars(select(PollOption).where(PollOption.poll_id == found.id))).all()
    for option in rows:
        if option.title in titles:
            option.votes_count = max(0, titles[option.title])
    found.votes_count = sum(o.votes_count for o in rows)
    found.voters_count = max(0, poll.voters_count)
    found.expires_at = poll.expires_at
    return True


async def schedule_after_vote(
    session: AsyncSession, post: Post, poll_id: int, voter: Account, chosen: list[int]
) -> None:
    """Write the federation jobs of a vote just recorded (see the module docstring)."""
    author = await session.get(Account, post.account_id)
    if author is None:
        return
    if author.domain is not None:
        if voter.domain is None:
            enqueue(
                session,
                JobKind.FEDERATE_VOTE,
                {"poll_id": poll_id, "account_id": voter.id, "choices": chosen},
            )
        return
    remote = voter.domain is not None or await _has_remote_voter(session, poll_id)
    if remote or await has_remote_audience(session, post):
        await _schedule_counts(session, poll_id)


async def _schedule_counts(session: AsyncSession, poll_id: int) -> None:
    """Schedule the Update(Question) of a local poll, debounced: only the vote that finds no
    update pending writes the job (the flag flips atomically), due after the delay."""
    flipped = await session.execute(
        update(Poll)
        .where(Poll.id == poll_id, Poll.update_pending.is_(False))
        .values(update_pending=True)
        .execution_options(synchronize_session=False)
    )
    if affected_rows(flipped):
        delay = get_settings().federation_poll_update_delay
        enqueue(session, JobKind.FEDERATE_POLL_COUNTS, {"poll_id": poll_id}, delay=delay)


async def counts_sent(session: AsyncSession, poll_id: int) -> None:
    """The pending Update(Question) of a poll is being sent: the next vote schedules
    another. Does not commit."""
    await session.execute(
        update(Poll)
        .where(Poll.id == poll_id)
        .values(update_pending=False)
        .execution_options(synchronize_session=False)
    )


async def _has_remote_voter(session: AsyncSession, poll_id: int) -> bool:
    remote_voter = exists().where(
        PollVoter.poll_id == poll_id,
        PollVoter.account_id == Account.id,
        Account.domain.is_not(None),
    )
    return bool(await session.scalar(select(remote_voter)))
