"""Voting in polls, and reading one poll. A poll is visible exactly when its post is (the
visibility rule, through `get_visible_post`); one that may not be seen does not exist.

Votes count once however often or concurrently they are sent: `poll_voters` holds one row per
account and poll, `poll_votes` one per account and option, both inserted with ON CONFLICT DO
NOTHING, and the counters move only by the rows really inserted. A single-choice poll takes a
vote only from an account with no voter row yet; a multiple-choice poll takes further options
later, each once (as on Mastodon).
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, Poll, PollOption, PollVote, PollVoter, utcnow
from agora.db.upsert import affected_rows, insert_ignore
from agora.social.posts import remote_polls
from agora.social.posts.polls import PollView, load_polls
from agora.social.posts.writing import get_visible_post
from agora.social.rules.errors import Invalid, NotFound


async def get_poll(
    session: AsyncSession, viewer_id: int | None, poll_id: int
) -> tuple[PollView, int]:
    """A poll whose post the viewer may see, with the viewer's votes, and the post's author;
    NotFound otherwise (a poll one may not see does not exist)."""
    post_id = await session.scalar(select(Poll.post_id).where(Poll.id == poll_id))
    if post_id is None:
        raise NotFound()
    post = await get_visible_post(session, viewer_id, post_id)
    views = await load_polls(session, viewer_id, {poll_id})
    if poll_id not in views:
        raise NotFound()
    return views[poll_id], post.account_id


async def vote(
    session: AsyncSession, voter: Account, poll_id: int, choices: list[int]
) -> tuple[PollView, int]:
    """Vote in a poll the voter may see (`cast_vote`'s rules). Commits. Returns the updated
    poll and its author."""
    try:
        _, author_id = await cast_vote(session, voter, poll_id, choices)
        await session.commit()
    except IntegrityError:  # the poll was replaced by an edit meanwhile (PostgreSQL)
        await session.rollback()
        raise NotFound() from None
    return (await load_polls(session, voter.id, {poll_id}))[poll_id], author_id


async def cast_vote(
    session: AsyncSession, voter: Account, poll_id: int, choices: list[int]
) -> tuple[Poll, int]:
    """Record a vote (local or received from another server) in a poll the voter may see,
    and write the jobs that tell other servers (remote_polls.schedule_after_vote). Does not
    commit; a refused vote changes nothing (its rows are written in a savepoint). Returns the
    poll and its post's author. Invalid (422) for an ended poll, one's own poll, choices out
    of range, several choices in a single-choice poll, or a vote already given."""
    voter_id = voter.id
    poll = await session.get(Poll, poll_id)
    if poll is None:
        raise NotFound()
    post = await get_visible_post(session, voter_id, poll.post_id)
    author_id = post.account_id
    if author_id == voter_id:
        raise Invalid("Validation failed: You cannot vote in your own poll")
    if poll.expires_at <= utcnow():
        raise Invalid("Validation failed: The poll has already ended")
    chosen = await _checked_choices(session, poll, choices)
    async with session.begin_nested():
        await _record(session, poll, voter_id, chosen)
    await remote_polls.schedule_after_vote(session, post, poll.id, voter, chosen)
    return poll, author_id


async def _checked_choices(session: AsyncSession, poll: Poll, choices: list[int]) -> list[int]:
    options = await session.scalar(
        select(func.count()).select_from(PollOption).where(PollOption.poll_id == poll.id)
    )
    if not choices:
        raise Invalid("Validation failed: Choices can't be blank")
    if any(c < 0 or c >= (options or 0) for c in choices):
        raise Invalid("Validation failed: The chosen vote option does not exist")
    chosen = sorted(set(choices))
    if not poll.multiple and len(choices) > 1:
        raise Invalid("Validation failed: This poll accepts only one choice")
    return chosen


async def _record(session: AsyncSession, poll: Poll, voter_id: int, chosen: list[int]) -> None:
    """Insert the voter and vote rows; move the counters by what was really inserted. A vote
    given before (or by a concurrent request that won) answers Invalid (the caller's
    savepoint rolls it back)."""
    now = utcnow()
    first = await session.execute(
        insert_ignore(session, PollVoter).values(
            poll_id=poll.id, account_id=voter_id, created_at=now
        )
    )
    first_vote = bool(affected_rows(first))
    added = 0
    if first_vote or poll.multiple:
        for choice in chosen:
            inserted = await session.execute(
                insert_ignore(session, PollVote).values(
                    poll_id=poll.id, account_id=voter_id, choice=choice, created_at=now
                )
            )
            added += affected_rows(inserted) or 0
    if added != len(chosen):  # raised inside the caller's savepoint, which rolls back
        raise Invalid("Validation failed: You have already voted on this poll")
    await session.execute(
        update(PollOption)
        .where(PollOption.poll_id == poll.id, PollOption.position.in_(chosen))
        .values(votes_count=PollOption.votes_count + 1)
    )
    await session.execute(
        update(Poll)
        .where(Poll.id == poll.id)
        .values(
            votes_count=Poll.votes_count + added,
            voters_count=Poll.voters_count + (1 if first_vote else 0),
        )
    )
