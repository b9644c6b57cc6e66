"""The job table as a queue.

`enqueue` adds a row in the caller's transaction, so work is recorded exactly when the change
that causes it commits (the transactional outbox). Workers `claim` due jobs with a lease; a
job whose lease ran out (its worker died) is claimed again. A handler runs in one transaction
together with the deletion of its job, so its database effects happen once; on failure the
job is retried with exponential backoff and, after `max_attempts`, kept as a dead letter.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import Database
from agora.db.models import Job, utcnow

Handler = Callable[[AsyncSession, dict[str, Any]], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}
WAKE_KEY = "agora_jobs_enqueued"


def job_handler(kind: str) -> Callable[[Handler], Handler]:
    """Register an idempotent handler for jobs of `kind`."""

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


@dataclass(frozen=True, slots=True)
class SlowJob:
    """A job whose slow part (a model call, a network request) must not hold a database
    transaction: `prepare` runs first, outside any transaction (it may run more than once if
    a worker dies); `apply` then runs in the transaction that deletes the job, so its effects
    happen once. `on_dead` runs, in the transaction that marks the job dead, when retries are
    spent."""

    prepare: Callable[[Database, dict[str, Any]], Awaitable[Any]]
    apply: Callable[[AsyncSession, dict[str, Any], Any], Awaitable[None]]
    on_dead: Callable[[AsyncSession, dict[str, Any]], Awaitable[None]] | None = None


SLOW_JOBS: dict[str, SlowJob] = {}


def slow_job(kind: str, job: SlowJob) -> None:
    """Register a two-phase job kind."""
    SLOW_JOBS[kind] = job


def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    delay: float = 0.0,
    max_attempts: int = 8,
) -> Job:
    """Add a job to the caller's transaction; it becomes visible to workers on commit."""
    now = utcnow()
    job = Job(
        kind=kind,
        payload=payload,
        state="pending",
        attempts=0,
        max_attempts=max_attempts,
        run_at=now + timedelta(seconds=delay),
        created_at=now,
    )
    session.add(job)
    session.info[WAKE_KEY] = True
    return job


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with jitter: ~2s, 4s, 8s ... capped at one hour."""
    base = min(3600.0, 2.0**attempts)
    return base * (0.75 + random.random() / 2)


async def claim(db: Database, worker_id: str, limit: int, lease_seconds: int) -> list[ClaimedJob]:
    """Lease up to `limit` due jobs (pending, or running with an expired lease)."""
    now = utcnow()
    async with db.transaction() as session:
        due = or_(
            (Job.state == "pending") & (Job.run_at <= now),
            (Job.state == "running") & (Job.locked_until < now),
        )
        query = select(Job.id).where(due).order_by(Job.run_at).limit(limit)
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        ids = list((await session.scalars(query)).all())
        if not ids:
            return []
        await session.execute(
            update(Job)
            .where(Job.id.in_(ids))
            .values(
                state="running",
                attempts=Job.attempts + 1,
                locked_by=worker_id,
                locked_until=now + timedelta(seconds=lease_seconds),
            )
        )
        rows = await session.execute(
            select(Job.id, Job.kind, Job.payload, Job.attempts, Job.max_attempts).where(
                Job.id.in_(ids)
            )
        )
        return [ClaimedJob(*row) for row in rows]


async def run_claimed(db: Database, job: ClaimedJob, worker_id: str) -> bool:
    """Run one claimed job. Returns True on success."""
    handler, slow = HANDLERS.get(job.kind), SLOW_JOBS.get(job.kind)
    try:
        if handler is None and slow is None:
            raise LookupError(f"no handler for job kind {job.kind!r}")
        prepared = await slow.prepare(db, job.payload) if slow else None
        async with db.transaction() as session:
            if slow:
                await slow.apply(session, job.payload, prepared)
            else:
                await handler(session, job.payload)  # type: ignore[misc]
            await session.execute(delete(Job).where(Job.id == job.id, Job.locked_by == worker_id))
        return True
    except Exception as exc:
        await _record_failure(db, job, f"{type(exc).__name__}: {exc}")
        return False


async def _record_failure(db: Database, job: ClaimedJob, error: str) -> None:
    now = utcnow()
    dead = job.attempts >= job.max_attempts
    values: dict[str, Any] = {"last_error": error[:2000], "locked_until": None, "locked_by": None}
    if dead:
        values.update(state="dead", finished_at=now)
    else:
        values.update(
            state="pending", run_at=now + timedelta(seconds=backoff_seconds(job.attempts))
        )
    slow = SLOW_JOBS.get(job.kind)
    async with db.transaction() as session:
        await session.execute(update(Job).where(Job.id == job.id).values(**values))
        if dead and slow and slow.on_dead:
            await slow.on_dead(session, job.payload)


async def queue_stats(db: Database) -> dict[str, int]:
    """Counts of jobs per state."""
    async with db.session() as session:
        rows = await session.execute(select(Job.state, func.count()).group_by(Job.state))
        return {state: count for state, count in rows}


async def dead_jobs(db: Database, limit: int = 50) -> list[Job]:
    """The most recent dead letters."""
    async with db.session() as session:
        query = select(Job).where(Job.state == "dead").order_by(Job.id.desc()).limit(limit)
        return list((await session.scalars(query)).all())


async def retry_dead(db: Database, job_id: int | None = None) -> int:
    """Put dead jobs (one, or all) back in the queue with a fresh attempt budget."""
    query = update(Job).where(Job.state == "dead")
    if job_id is not None:
        query = query.where(Job.id == job_id)
    async with db.transaction() as session:
        result = await session.execute(
            query.values(state="pending", attempts=0, run_at=utcnow(), finished_at=None)
        )
        return result.rowcount or 0
