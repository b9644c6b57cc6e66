"""Completing remote threads: opening a remote post's thread (the API's context, the web's
thread page) schedules a `fetch_thread` job that fetches its missing ancestors and replies
from their servers (federation/thread_fetch.py), so the thread fills in for the next look.

Invariants: at most one fetch per post per `REFETCH_AFTER` (the `thread_fetches` row is
claimed by one atomic insert or conditional update, so concurrent looks schedule one job);
a local post schedules nothing (its replies reach this server as deliveries); the caller's
read is never blocked by it (a short write of its own, only when a fetch is due).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from agora.db.engine import Database
from agora.db.models import Post, ThreadFetch, utcnow
from agora.db.upsert import affected_rows, insert_ignore_one
from agora.jobs.job_kinds import JobKind
from agora.jobs.queue import enqueue

REFETCH_AFTER = timedelta(minutes=15)


async def complete_later(db: Database, post_id: int) -> bool:
    """Schedule fetching the missing parts of a remote post's thread, unless it was asked for
    within `REFETCH_AFTER`. True when a fetch was scheduled."""
    cutoff = utcnow() - REFETCH_AFTER
    async with db.session() as session:
        uri = await session.scalar(select(Post.uri).where(Post.id == post_id))
        last = await session.scalar(
            select(ThreadFetch.requested_at).where(ThreadFetch.post_id == post_id)
        )
    if uri is None or (last is not None and last > cutoff):
        return False
    async with db.session(write=True) as session:
        now = utcnow()
        claimed = await insert_ignore_one(session, ThreadFetch, post_id=post_id, requested_at=now)
        if not claimed:
            moved = await session.execute(
                update(ThreadFetch)
                .where(ThreadFetch.post_id == post_id, ThreadFetch.requested_at <= cutoff)
                .values(requested_at=now)
            )
            claimed = bool(affected_rows(moved))
        if claimed:
            enqueue(session, JobKind.FETCH_THREAD, {"post_id": post_id}, max_attempts=2)
        await session.commit()
    return claimed
