"""The job table as a queue.

`enqueue` adds a row in the caller's transaction, so work is recorded exactly when the change
that causes it commits (the transactional outbox). Workers `claim` due jobs with a lease, one
job at a time, when they are about to run it, so a worker that dies holds only the job it was
running; a job whose lease ran out (its worker died) is claimed again. Leases are short
(`job_lease_seconds`, 10 s): the slow phase of a two-phase job (`SlowJob.prepare`, outside any
transaction) keeps its lease renewed while it runs (`keep_leased`), so a dead worker's job is
free again within seconds.

A handler runs in one transaction that starts by deleting its job row, only if this worker
still holds it, so its database effects happen once: a worker that lost its lease commits
nothing, and while the transaction is open nobody else can claim the job (PostgreSQL: the
deleted row stays locked and `claim` skips locked rows; SQLite: writers are serialised). If the
worker dies mid-job, the transaction never commits and the job is claimed again once the lease
runs out. On failure the job is retried with its kind's backoff (`register_jobs`'s
`backoffs`, else `backoff_seconds`) and, after `max_attempts`, kept as a dead letter. A
handler that raises `Postpone` is run again later without spending an attempt (a delivery
held back by its domain's circuit breaker).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar, overload

from sqlalchemy import Result, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import Database
from agora.db.models import Job, JobQueueSample, utcnow
from agora.db.upsert import affected_rows, insert_ignore
from agora.jobs.job_kinds import (
    AccountJob,
    DeleteMediaJob,
    DeliveryJob,
    FederateBlockJob,
    FederateFollowAnswerJob,
    FederateFollowJob,
    FederatePostJob,
    FederateProfileJob,
    FederateReactionJob,
    FederateReportJob,
    FederateUnfollowJob,
    FederateVoteJob,
    FeedJob,
    FetchPostJob,
    InboxJob,
    JobKind,
    JobState,
    MailJob,
    MoveJob,
    NotifyJob,
    PollCountsJob,
    PollExpiredJob,
    PostDeletedJob,
    PostEditedJob,
    PostJob,
    RemoteMediaJob,
    ReportFiledJob,
    SweepJob,
    ThreadJob,
    WebPushJob,
)

P = TypeVar("P")  # a kind's payload (a TypedDict of jobs/job_kinds.py)
R = TypeVar("R")  # what a two-phase job's `prepare` hands to its `apply`
# A handler takes its kind's payload; the queue hands it the JSON the job row holds.
Handler = Callable[[AsyncSession, Any], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}
WAKE_KEY = "agora_jobs_enqueued"
LEASE_SECONDS = 10  # the default lease (`job_lease_seconds`)
log = logging.getLogger("agora.jobs")


@dataclass(frozen=True, slots=True)
class SlowJob(Generic[P, R]):
    """A job whose slow part (a model call, a network request, a fan-out written in short
    transactions of its own) must not hold a database transaction: `prepare` runs first,
    outside the job's transaction, with its lease kept renewed (it may run more than once if
    a worker dies, so it must be idempotent); `apply` then runs in the transaction that
    deletes the job, so its effects happen once. `on_dead` runs, in the transaction that marks
    the job dead, when retries are spent."""

    prepare: Callable[[Database, P], Awaitable[R]]
    apply: Callable[[AsyncSession, P, R], Awaitable[None]]
    on_dead: Callable[[AsyncSession, P], Awaitable[None]] | None = None


SLOW_JOBS: dict[str, SlowJob[Any, Any]] = {}
# A kind's delay before its next try, from the attempts made so far (default `backoff_seconds`).
Backoff = Callable[[int], float]
BACKOFFS: dict[str, Backoff] = {}


class Postpone(Exception):
    """Raised by a handler (or a slow job's `prepare`): run the job again in `seconds`,
    without counting this run as an attempt (nothing was tried)."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds


def register_jobs(
    handlers: Mapping[str, Handler],
    slow: Mapping[str, SlowJob[Any, Any]],
    backoffs: Mapping[str, Backoff] | None = None,
) -> None:
    """Make these the handlers of their kinds (one-phase `handlers`, two-phase `slow`) and,
    for kinds that retry on their own schedule, their `backoffs`; the application calls it
    once at start (agora/job_registry.py)."""
    HANDLERS.update(handlers)
    SLOW_JOBS.update(slow)
    BACKOFFS.update(backoffs or {})


# Each kind's payload (the contract its handler reads): one overload per payload type.
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.DISTRIBUTE_POST, JobKind.ASSISTANT_REPLY],
    payload: PostJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.POST_EDITED],
    payload: PostEditedJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.POST_DELETED],
    payload: PostDeletedJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.NOTIFY],
    payload: NotifyJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.MERGE_INTO_FEED, JobKind.UNMERGE_FROM_FEED],
    payload: FeedJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.POLL_EXPIRED],
    payload: PollExpiredJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.DELETE_MEDIA],
    payload: DeleteMediaJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.SWEEP_UNATTACHED_MEDIA],
    payload: SweepJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.REPORT_FILED],
    payload: ReportFiledJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.AP_INBOX],
    payload: InboxJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.FEDERATE_REACTION],
    payload: FederateReactionJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.FEDERATE_PROFILE],
    payload: FederateProfileJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.FEDERATE_FOLLOW_ANSWER],
    payload: FederateFollowAnswerJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.FEDERATE_POST],
    payload: FederatePostJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.FEDERATE_FOLLOW],
    payload: FederateFollowJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.FEDERATE_UNFOLLOW],
    payload: FederateUnfollowJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.FEDERATE_BLOCK],
    payload: FederateBlockJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.FEDERATE_REPORT],
    payload: FederateReportJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.AP_MOVE],
    payload: MoveJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.AP_DELIVER],
    payload: DeliveryJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.FEDERATE_VOTE],
    payload: FederateVoteJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.FEDERATE_POLL_COUNTS],
    payload: PollCountsJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.FETCH_REMOTE_POST],
    payload: FetchPostJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.CACHE_REMOTE_MEDIA],
    payload: RemoteMediaJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.WEB_PUSH],
    payload: WebPushJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.SEND_MAIL],
    payload: MailJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.DELETE_ACCOUNT],
    payload: AccountJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.FETCH_THREAD],
    payload: ThreadJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
def enqueue(
    session: AsyncSession,
    kind: str,
    payload: Mapping[str, Any],
    *,
    delay: float = 0.0,
    max_attempts: int = 8,
) -> Job:
    """Add a job to the caller's transaction; it becomes visible to workers on commit. The
    payload is stored as JSON; `kind` says which TypedDict it is (the overloads above)."""
    now = utcnow()
    job = Job(
        kind=kind,
        payload=payload,
        state=JobState.PENDING,
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
    """Lease up to `limit` due jobs (pending, or running with an expired lease). Workers
    claim one at a time, when they are about to run it (see `Worker.run_once`)."""
    now = utcnow()
    async with db.transaction() as session:
        due = or_(
            (Job.state == JobState.PENDING) & (Job.run_at <= now),
            (Job.state == JobState.RUNNING) & (Job.locked_until < now),
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
                state=JobState.RUNNING,
                attempts=Job.attempts + 1,
                locked_by=worker_id,
                locked_until=now + timedelta(seconds=lease_seconds),
            )
        )
        rows: Result[int, str, dict[str, Any], int, int] = await session.execute(
            select(Job.id, Job.kind, Job.payload, Job.attempts, Job.max_attempts).where(
                Job.id.in_(ids)
            )
        )
        return [ClaimedJob(i, kind, payload, tries, most) for i, kind, payload, tries, most in rows]


class LeaseLost(Exception):
    """Another worker holds the job now (this one's lease ran out): nothing of ours commits."""


async def run_claimed(
    db: Database, job: ClaimedJob, worker_id: str, lease_seconds: int = LEASE_SECONDS
) -> bool:
    """Run one claimed job. Returns True on success."""
    handler, slow = HANDLERS.get(job.kind), SLOW_JOBS.get(job.kind)
    try:
        if handler is None and slow is None:
            raise LookupError(f"no handler for job kind {job.kind!r}")
        prepared = None
        if slow:
            async with keep_leased(db, job.id, worker_id, lease_seconds):
                prepared = await slow.prepare(db, job.payload)
        async with db.transaction() as session:
            taken = await session.execute(
                delete(Job).where(Job.id == job.id, Job.locked_by == worker_id)
            )
            if affected_rows(taken) != 1:
                raise LeaseLost(job.id)
            if slow:
                await slow.apply(session, job.payload, prepared)
            elif handler is not None:  # one of the two exists (checked above)
                await handler(session, job.payload)
        return True
    except LeaseLost:
        log.warning("job %s: lease lost to another worker; its run is rolled back", job.id)
        return False
    except Postpone as later:
        await _postpone(db, job, worker_id, later)
        return True
    except Exception as exc:
        await _record_failure(db, job, worker_id, f"{type(exc).__name__}: {exc}")
        return False


@asynccontextmanager
async def keep_leased(
    db: Database, job_id: int, worker_id: str, lease_seconds: int
) -> AsyncIterator[None]:
    """Renew the job's lease every third of it while the body runs (each renewal a short
    transaction of its own), so that a long job keeps its lease and the job of a worker that
    died is free again within `lease_seconds`."""
    stop = asyncio.Event()

    async def renew() -> None:
        while not await _stopped(stop, lease_seconds / 3):
            try:
                async with db.transaction() as session:
                    await session.execute(
                        update(Job)
                        .where(Job.id == job_id, Job.locked_by == worker_id)
                        .values(locked_until=utcnow() + timedelta(seconds=lease_seconds))
                    )
            except Exception:  # the next renewal may succeed; losing the lease is safe
                log.warning("job %s: lease renewal failed", job_id, exc_info=True)

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        stop.set()
        await task  # never cancelled mid-statement: it ends after its current renewal


async def _stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `stop`; True when it is set."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def _postpone(db: Database, job: ClaimedJob, worker_id: str, later: Postpone) -> None:
    """Put a job back for later, giving back the attempt its claim counted."""
    async with db.transaction() as session:
        await session.execute(
            update(Job)
            .where(Job.id == job.id, Job.locked_by == worker_id)
            .values(
                state=JobState.PENDING,
                attempts=Job.attempts - 1,
                run_at=utcnow() + timedelta(seconds=later.seconds),
                locked_until=None,
                locked_by=None,
                last_error=f"postponed: {later}"[:2000],
            )
        )


async def _record_failure(db: Database, job: ClaimedJob, worker_id: str, error: str) -> None:
    now = utcnow()
    dead = job.attempts >= job.max_attempts
    values: dict[str, Any] = {"last_error": error[:2000], "locked_until": None, "locked_by": None}
    if dead:
        values.update(state=JobState.DEAD, finished_at=now)
    else:
        values.update(
            state=JobState.PENDING,
            run_at=now + timedelta(seconds=BACKOFFS.get(job.kind, backoff_seconds)(job.attempts)),
        )
    slow = SLOW_JOBS.get(job.kind)
    async with db.transaction() as session:
        mine = Job.locked_by == worker_id  # a job another worker took over is theirs now
        result = await session.execute(update(Job).where(Job.id == job.id, mine).values(**values))
        if affected_rows(result) and dead and slow and slow.on_dead:
            await slow.on_dead(session, job.payload)


async def queue_stats(db: Database) -> dict[JobState, int]:
    """Counts of jobs per state."""
    async with db.session() as session:
        rows = await session.execute(select(Job.state, func.count()).group_by(Job.state))
        return {JobState(state): count for state, count in rows}


async def dead_jobs(db: Database, limit: int = 50) -> list[Job]:
    """The most recent dead letters."""
    async with db.session() as session:
        query = select(Job).where(Job.state == JobState.DEAD).order_by(Job.id.desc()).limit(limit)
        return list((await session.scalars(query)).all())


async def retry_dead(db: Database, job_id: int | None = None) -> int:
    """Put dead jobs (one, or all) back in the queue with a fresh attempt budget (the CLI)."""
    async with db.transaction() as session:
        return await requeue_dead(session, job_id)


async def requeue_dead(session: AsyncSession, job_id: int | None = None) -> int:
    """`retry_dead` in the caller's transaction (the admin console logs it there): how many
    dead jobs went back to the queue. Only dead ones: a job running or waiting is left as it
    is. Wakes this process's workers once it commits."""
    query = update(Job).where(Job.state == JobState.DEAD)
    if job_id is not None:
        query = query.where(Job.id == job_id)
    result = await session.execute(
        query.values(state=JobState.PENDING, attempts=0, run_at=utcnow(), finished_at=None)
    )
    session.info[WAKE_KEY] = True
    return affected_rows(result) or 0


async def discard_dead(session: AsyncSession, job_id: int) -> Job | None:
    """Delete one dead letter for good (its work will never be done), in the caller's
    transaction; the job as it was, or None when it is not a dead job."""
    job = await session.scalar(select(Job).where(Job.id == job_id, Job.state == JobState.DEAD))
    if job is not None:
        await session.execute(delete(Job).where(Job.id == job_id, Job.state == JobState.DEAD))
    return job


async def counts_by_kind(session: AsyncSession) -> dict[str, dict[JobState, int]]:
    """Jobs per kind and state (the admin console's queue page)."""
    rows = await session.execute(
        select(Job.kind, Job.state, func.count()).group_by(Job.kind, Job.state)
    )
    counts: dict[str, dict[JobState, int]] = {}
    for kind, state, count in rows:
        counts.setdefault(kind, {})[JobState(state)] = count
    return dict(sorted(counts.items()))


async def dead_letters(session: AsyncSession, limit: int = 50) -> list[Job]:
    """The most recent dead letters, newest first, with their last error."""
    query = select(Job).where(Job.state == JobState.DEAD).order_by(Job.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


SAMPLE_MINUTES = 10
SAMPLES_KEPT_DAYS = 30


def sample_bucket(now: datetime) -> datetime:
    """The start of the `SAMPLE_MINUTES` bucket `now` falls in."""
    return now.replace(minute=now.minute - now.minute % SAMPLE_MINUTES, second=0, microsecond=0)


async def sample_depth(db: Database) -> bool:
    """Record the queue's depth (jobs waiting to run, dead letters) for the current bucket,
    once whichever worker gets there first; forget samples older than `SAMPLES_KEPT_DAYS`.
    True when this call wrote the sample."""
    now = utcnow()
    bucket = sample_bucket(now)
    async with db.session() as session:  # most calls end here, without SQLite's write lock
        if await session.get(JobQueueSample, bucket) is not None:
            return False
    async with db.transaction() as session:
        rows = await session.execute(
            select(Job.state, func.count())
            .where(Job.state.in_((JobState.PENDING, JobState.DEAD)))
            .group_by(Job.state)
        )
        counts = {JobState(state): count for state, count in rows}
        written = await session.execute(
            insert_ignore(session, JobQueueSample).values(
                taken_at=bucket,
                pending=counts.get(JobState.PENDING, 0),
                dead=counts.get(JobState.DEAD, 0),
            )
        )
        await session.execute(
            delete(JobQueueSample).where(
                JobQueueSample.taken_at < now - timedelta(days=SAMPLES_KEPT_DAYS)
            )
        )
        return bool(affected_rows(written))
