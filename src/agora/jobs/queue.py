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
runs out. The handler, and every service it calls, writes in that transaction and never
commits it: a commit there would make the job's deletion and half of its work durable before
the rest, so a failure after it would lose the rest (its retry gone with the job row). Such a
commit is refused (`HandlerCommitted`, raised by a `before_commit` hook while a handler runs),
so it fails the job, and the tests, instead of committing half of it. On failure the job is
retried with its kind's backoff (`register_jobs`'s `backoffs`, else `backoff_seconds`) and,
after `max_attempts`, kept as a dead letter. A
handler that raises `Postpone` is run again later without spending an attempt (a delivery
held back by its domain's circuit breaker).

Batches: a kind registered as batchable (`register_jobs`'s `batches`: received activities) is
claimed up to its batch size at once (`claim_next`) and run by `run_batch`: the slow phases
one after the other (the leases of the whole batch kept renewed), then the handlers in as few
transactions as fit in `BATCH_SECONDS` of the worker's CPU time each, every job in a savepoint
of its own that starts by deleting its row (only if this worker still holds it). The
guarantees stay the job's: a job whose handler raises is rolled back to its savepoint alone
(and the session's objects expired, so the next jobs read nothing it left in memory), the
others commit, and it is then run alone in a transaction of its own (failing there, it is
retried with backoff like any job); a transaction that fails as a whole (its commit, a broken
connection) commits nothing and its jobs are run alone; a worker that dies mid-batch commits
nothing of the open transaction, and its jobs run again once their lease expires. A batched
kind registered with a `Together` (`register_jobs`'s `together`: received Creates) applies
each run of consecutive jobs that join (`Together.joins`) at once, in one savepoint that
starts by deleting all their rows (only if this worker still holds every one); when that
raises (a job's failure, a lost lease) the savepoint is rolled back and each job of the run
is applied alone as above, so a failure is still one job's and settled alone. A batched
kind registered as concurrent (`register_jobs`'s `concurrent`: deliveries, whose slow phase
waits on another server) runs the slow phases of its batch at once, one group (a delivery's
domain) after another within the group, instead of all one after the other: a slow or dead
server holds up the batch for its own timeouts, not the others' sum, and the jobs of one
group see each other's outcomes as before (a domain's circuit breaker and its one trial
after the cool-down). Everything else (the transactions, the savepoints, the settling of
each failure) is the same.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Generic, Literal, TypeVar, overload

from sqlalchemy import bindparam, delete, event, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from agora.db.core_insert import insert_loaded
from agora.db.engine import Database
from agora.db.models import Job, JobQueueSample, UTCDateTime, utcnow
from agora.db.upsert import affected_rows, insert_ignore
from agora.jobs.job_kinds import (
    AccountDeleteJob,
    AccountJob,
    ArchiveJob,
    CsvImportJob,
    DeleteMediaJob,
    DeliveryJob,
    FederateBlockJob,
    FederateFollowAnswerJob,
    FederateFollowJob,
    FederateMoveJob,
    FederatePostJob,
    FederateProfileJob,
    FederateQuoteRevocationJob,
    FederateReactionJob,
    FederateReportJob,
    FederateUnfollowJob,
    FederateVoteJob,
    FeedJob,
    FetchPostJob,
    FollowersSyncJob,
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
    RefreshForYouJob,
    RefreshTrendsJob,
    RemoteMediaJob,
    ReportFiledJob,
    RescoreNotesJob,
    ScheduledPostJob,
    SweepJob,
    ThreadJob,
    TranscodeMediaJob,
    WebPushJob,
)
from agora.metrics import JOB_FAILURES, JOBS_RUN

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
# Kinds claimed and run in batches (`run_batch`): the most jobs of the kind per batch.
BATCHES: dict[str, int] = {}
# Batched kinds whose slow phases of a batch run at once (`_prepare_all`), with what groups
# them: the jobs of a group (a delivery's domain) run one after the other, groups at once.
Grouping = Callable[[Any], str]
CONCURRENT: dict[str, Grouping] = {}


@dataclass(frozen=True, slots=True)
class Together:
    """How a batched kind applies consecutive jobs of a batch at once (`run_batch`): `joins`
    says whether a job's payload may be applied with others (received Creates), `apply` applies
    a run of such payloads, in their order, with the effects of applying each alone. It is
    handed the payloads only: a kind whose slow phase returns something for its `apply` to
    use must not join."""

    joins: Callable[[Any], bool]
    apply: Callable[[AsyncSession, list[Any]], Awaitable[None]]


TOGETHER: dict[str, Together] = {}
# How much work a batch's transaction holds before it commits and the next one begins (it
# holds SQLite's one write lock meanwhile): seconds of the worker thread's CPU time
# (`time.thread_time`), not of the clock. On a loaded machine the clock runs on while the
# worker waits for a core, and a clock budget shrank batches to one or two jobs, a commit (and
# its after-commit work) per activity, just when the machine could least afford it; on a
# quiet machine the two are about the same.
BATCH_SECONDS = 0.1
# `session.info` key set while a job's handler runs in the session: its kind.
RUNNING_HANDLER = "agora_job_handler"


class HandlerCommitted(RuntimeError):
    """A job's handler (or a service it called) tried to commit the job's transaction."""


@event.listens_for(Session, "before_commit")
def _refuse_commit_in_handler(session: Session) -> None:
    """The queue alone commits a job's transaction (module docstring). Savepoints a handler
    opens are its own to release (this hook also runs for them)."""
    kind = session.info.get(RUNNING_HANDLER)
    if kind is not None and not session.in_nested_transaction():
        raise HandlerCommitted(f"a {kind} job's handler tried to commit its job's transaction")


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
    batches: Mapping[str, int] | None = None,
    concurrent: Mapping[str, Grouping] | None = None,
    together: Mapping[str, Together] | None = None,
) -> None:
    """Make these the handlers of their kinds (one-phase `handlers`, two-phase `slow`) and,
    for kinds that retry on their own schedule, their `backoffs`, for kinds run in batches
    their batch size (`batches`), which of those run their slow phases at once, grouped
    by what (`concurrent`), and which apply runs of their jobs at once (`together`); the
    application calls it once at start (agora/job_registry.py)."""
    HANDLERS.update(handlers)
    SLOW_JOBS.update(slow)
    BACKOFFS.update(backoffs or {})
    BATCHES.update(batches or {})
    CONCURRENT.update(concurrent or {})
    TOGETHER.update(together or {})


# Each kind's payload (the contract its handler reads): one overload per payload type.
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.DISTRIBUTE_POST, JobKind.ASSISTANT_REPLY, JobKind.FETCH_PREVIEW_CARD],
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
    kind: Literal[JobKind.RESCORE_NOTES],
    payload: RescoreNotesJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.REFRESH_FOR_YOU],
    payload: RefreshForYouJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.REFRESH_TRENDS],
    payload: RefreshTrendsJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.SWEEP_UNATTACHED_MEDIA, JobKind.SWEEP_EXPIRED_ARCHIVES],
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
    kind: Literal[JobKind.FEDERATE_QUOTE_REVOCATION],
    payload: FederateQuoteRevocationJob,
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
    kind: Literal[JobKind.AP_SYNC_FOLLOWERS],
    payload: FollowersSyncJob,
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
    kind: Literal[JobKind.TRANSCODE_MEDIA],
    payload: TranscodeMediaJob,
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
    kind: Literal[JobKind.PUBLISH_SCHEDULED],
    payload: ScheduledPostJob,
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
    kind: Literal[JobKind.FEDERATE_ACCOUNT_DELETE],
    payload: AccountDeleteJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.FEDERATE_MOVE],
    payload: FederateMoveJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.DELETE_ACCOUNT, JobKind.DROP_ACCOUNT_KEY],
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
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.BUILD_ARCHIVE],
    payload: ArchiveJob,
    *,
    delay: float = ...,
    max_attempts: int = ...,
) -> Job: ...
@overload
def enqueue(
    session: AsyncSession,
    kind: Literal[JobKind.RUN_CSV_IMPORT],
    payload: CsvImportJob,
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
    job = _new_job(kind, payload, delay, max_attempts)
    session.add(job)
    session.info[WAKE_KEY] = True
    return job


async def enqueue_post_job(
    session: AsyncSession,
    kind: Literal[JobKind.DISTRIBUTE_POST, JobKind.ASSISTANT_REPLY, JobKind.FETCH_PREVIEW_CARD],
    payload: PostJob,
    *,
    max_attempts: int = 8,
) -> Job:
    """`enqueue`, written at once by one Core INSERT (`db/core_insert.insert_loaded`) instead
    of at the session's next flush: for the posting path, which flushes nothing else there
    (a flush of one row costs the unit of work besides its INSERT)."""
    job = _new_job(kind, payload, 0.0, max_attempts)
    await insert_loaded(session, job)
    session.info[WAKE_KEY] = True
    return job


def _new_job(kind: str, payload: Mapping[str, Any], delay: float, max_attempts: int) -> Job:
    now = utcnow()
    return Job(
        kind=kind,
        payload=payload,
        state=JobState.PENDING,
        attempts=0,
        max_attempts=max_attempts,
        run_at=now + timedelta(seconds=delay),
        created_at=now,
    )


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


@dataclass(frozen=True, slots=True)
class Deferral:
    """Kinds of job a worker leaves for others (or for later) unless overdue by `up_to`."""

    kinds: frozenset[str]
    up_to: timedelta


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with jitter: ~2s, 4s, 8s ... capped at one hour."""
    base = min(3600.0, 2.0**attempts)
    return base * (0.75 + random.random() / 2)


_NOW = bindparam("now", type_=UTCDateTime())


def _due() -> Any:
    """SQL: the job is due at `:now` (pending and its time has come, or running with an
    expired lease)."""
    return or_(
        (Job.state == JobState.PENDING) & (Job.run_at <= _NOW),
        (Job.state == JobState.RUNNING) & (Job.locked_until < _NOW),
    )


ClaimPick = Literal["next", "same_kind", "any"]


@cache
def _claim_statement(pick: ClaimPick, skip_locked: bool, deferring: bool) -> Any:
    """One statement that leases the picked due jobs and returns them (built once; the time,
    worker and lease as parameters): `next`, the first due job (with `deferring`, jobs of
    the `:deferred` kinds only once due before `:overdue_before`); `same_kind`, up to
    `:more` due jobs of `:batch_kind` but `:batch_first`; `any`, up to `:limit` due jobs.
    Each is marked running, held by `:worker` until `:until`, an attempt counted.
    `skip_locked` (PostgreSQL): rows another claim has locked are passed over; SQLite
    serialises its writers."""
    picked = select(Job.id).where(_due()).order_by(Job.run_at)
    if pick == "next":
        picked = picked.limit(1)
        if deferring:
            overdue = Job.run_at < bindparam("overdue_before", type_=UTCDateTime())
            picked = picked.where(
                or_(Job.kind.not_in(bindparam("deferred", expanding=True)), overdue)
            )
    elif pick == "same_kind":
        picked = picked.where(
            Job.kind == bindparam("batch_kind"), Job.id != bindparam("batch_first")
        ).limit(bindparam("more"))
    else:
        picked = picked.limit(bindparam("limit"))
    if skip_locked:
        picked = picked.with_for_update(skip_locked=True)
    return (
        update(Job)
        .where(Job.id.in_(picked.scalar_subquery()))
        .values(
            state=JobState.RUNNING,
            attempts=Job.attempts + 1,
            locked_by=bindparam("worker"),
            locked_until=bindparam("until", type_=UTCDateTime()),
        )
        .returning(Job.id, Job.kind, Job.payload, Job.attempts, Job.max_attempts, Job.run_at)
        .execution_options(synchronize_session=False)
    )


async def _claim(
    session: AsyncSession,
    db: Database,
    pick: ClaimPick,
    worker_id: str,
    lease_seconds: int,
    params: Mapping[str, Any],
    deferring: bool = False,
) -> list[ClaimedJob]:
    """Lease the jobs `pick` selects (`_claim_statement`) in one statement; the claimed jobs
    in the order they were due."""
    now = utcnow()
    statement = _claim_statement(pick, not db.is_sqlite, deferring)
    values = {
        "now": now,
        "worker": worker_id,
        "until": now + timedelta(seconds=lease_seconds),
        **params,
    }
    found = (await session.execute(statement, values)).all()
    rows = sorted(found, key=lambda row: (row.run_at, row.id))
    return [ClaimedJob(r.id, r.kind, r.payload, r.attempts, r.max_attempts) for r in rows]


async def claim(db: Database, worker_id: str, limit: int, lease_seconds: int) -> list[ClaimedJob]:
    """Lease up to `limit` due jobs (pending, or running with an expired lease). Workers
    claim one job (or one batch, `claim_next`) at a time, when they are about to run it."""
    async with db.transaction() as session:
        return await _claim(session, db, "any", worker_id, lease_seconds, {"limit": limit})


async def claim_next(
    db: Database, worker_id: str, lease_seconds: int, defer: Deferral | None = None
) -> list[ClaimedJob]:
    """Lease the next due job or, when its kind runs in batches (`BATCHES`), it and more due
    jobs of its kind, up to the kind's batch size; [] when nothing is due. With `defer`,
    jobs of its kinds are left for later unless they are overdue by its `up_to`. One
    statement for the first job, one more for the rest of a batch."""
    async with db.transaction() as session:
        deferring = defer is not None and bool(defer.kinds)
        params: dict[str, Any] = {}
        if defer is not None and deferring:
            params = {"deferred": sorted(defer.kinds), "overdue_before": utcnow() - defer.up_to}
        first = await _claim(
            session, db, "next", worker_id, lease_seconds, params, deferring=deferring
        )
        if not first:
            return []
        size = BATCHES.get(first[0].kind, 1)
        if size == 1:
            return first
        more = {"batch_kind": first[0].kind, "batch_first": first[0].id, "more": size - 1}
        return first + await _claim(session, db, "same_kind", worker_id, lease_seconds, more)


class LeaseLost(Exception):
    """Another worker holds the job now (this one's lease ran out): nothing of ours commits."""


async def run_claimed(
    db: Database, job: ClaimedJob, worker_id: str, lease_seconds: int = LEASE_SECONDS
) -> bool:
    """Run one claimed job. Returns True on success."""
    ready = await _prepare_all(db, [job], worker_id, lease_seconds)
    if not ready:
        return False
    return await _apply_alone(db, job, worker_id, ready[0][1])


async def run_batch(
    db: Database, jobs: Sequence[ClaimedJob], worker_id: str, lease_seconds: int = LEASE_SECONDS
) -> int:
    """Run claimed jobs as one batch (see the module docstring): their slow phases, then their
    handlers in transactions of at most `BATCH_SECONDS` of work, each job in a savepoint; a job
    whose handler raised is run again alone once its batch's transaction committed. Returns how many
    succeeded (a postponed job counts, as in `run_claimed`)."""
    ready = await _prepare_all(db, jobs, worker_id, lease_seconds)
    succeeded = 0
    while ready:
        started = time.thread_time()
        ran: list[tuple[ClaimedJob, Any]] = []
        raised: list[tuple[ClaimedJob, Any, Exception]] = []
        try:
            async with db.transaction() as session:
                while ready and (not ran or time.thread_time() - started < BATCH_SECONDS):
                    run = _joined_run(ready)
                    ran += run
                    if len(run) > 1 and await _apply_together(session, run, worker_id):
                        continue
                    for job, prepared in run:  # alone, each in its savepoint
                        error = await _apply_in_savepoint(session, job, worker_id, prepared)
                        if error is not None:
                            raised.append((job, prepared, error))
        except Exception:  # nothing of this transaction committed: each of its jobs alone
            log.warning("jobs: a batch's transaction failed; its jobs run alone", exc_info=True)
            for job, prepared in ran:
                succeeded += await _apply_alone(db, job, worker_id, prepared)
            continue
        succeeded += len(ran) - len(raised)
        failed = {job.id for job, _, _ in raised}
        for job, _ in ran:
            if job.id not in failed:
                JOBS_RUN.labels(job.kind, "ok").inc()
        for job, prepared, failure in raised:
            if isinstance(failure, LeaseLost | Postpone):
                succeeded += await _settle(db, job, worker_id, failure)
            else:  # alone, so that what failed it cannot be another job's doing
                succeeded += await _apply_alone(db, job, worker_id, prepared)
    return succeeded


def _joined_run(ready: list[tuple[ClaimedJob, Any]]) -> list[tuple[ClaimedJob, Any]]:
    """Take from `ready` the jobs to apply next: its leading jobs of a kind that applies runs
    together (`TOGETHER`) whose payloads may join one, or else its first job alone."""
    kind = ready[0][0].kind
    together = TOGETHER.get(kind)
    taken = 0
    if together is not None:
        while (
            taken < len(ready)
            and ready[taken][0].kind == kind
            and together.joins(ready[taken][0].payload)
        ):
            taken += 1
    run = ready[: max(taken, 1)]
    del ready[: len(run)]
    return run


async def _apply_together(
    session: AsyncSession, run: list[tuple[ClaimedJob, Any]], worker_id: str
) -> bool:
    """Apply a run of jobs at once (their kind's `TOGETHER.apply`) in one savepoint that
    starts by deleting their rows (all of them, only if this worker still holds them); True
    when it committed. Anything raised rolls the savepoint back (the rows, the effects, the
    live events) and the session's objects are expired: the caller then applies each job
    alone in a savepoint of its own, so a job that fails fails alone, as without this."""
    kind = run[0][0].kind
    savepoint = await session.begin_nested()
    try:
        ids = [job.id for job, _ in run]
        mine = delete(Job).where(Job.id.in_(ids), Job.locked_by == worker_id)
        taken = await session.execute(mine.execution_options(synchronize_session=False))
        if affected_rows(taken) != len(ids):
            raise LeaseLost(ids[0])  # which ones: each job, applied alone, finds out
        session.info[RUNNING_HANDLER] = kind
        try:
            await TOGETHER[kind].apply(session, [job.payload for job, _ in run])
        finally:
            del session.info[RUNNING_HANDLER]
    except Exception as error:
        if not savepoint.is_active:
            raise
        await savepoint.rollback()
        session.expire_all()
        log.info("jobs: %d %s jobs applied together: %r; each runs alone", len(run), kind, error)
        return False
    await savepoint.commit()
    return True


async def _prepare_all(
    db: Database, jobs: Sequence[ClaimedJob], worker_id: str, lease_seconds: int
) -> list[tuple[ClaimedJob, Any]]:
    """Run the slow phase of each job (outside any transaction, the leases of all of them
    kept renewed): one after the other, or for a `CONCURRENT` kind its groups at once (the
    jobs of a group one after the other); the jobs ready for their transaction, in their
    order, each with what its `prepare` returned. A job without a handler, postponed or
    failing here is settled (`_settle`) and left out."""
    slow_ones = [job.id for job in jobs if job.kind in SLOW_JOBS]
    groups: dict[str, list[ClaimedJob]] = {}
    for job in jobs:
        grouping = CONCURRENT.get(job.kind) if len(jobs) > 1 else None
        groups.setdefault(grouping(job.payload) if grouping else "", []).append(job)

    async def one_after_another(group: list[ClaimedJob]) -> list[tuple[ClaimedJob, Any] | None]:
        return [await _prepare_one(db, job, worker_id) for job in group]

    async with keep_leased(db, slow_ones, worker_id, lease_seconds):
        found = await asyncio.gather(*(one_after_another(g) for g in groups.values()))
    ready = {r[0].id: r for rs in found for r in rs if r is not None}
    return [ready[job.id] for job in jobs if job.id in ready]


async def _prepare_one(
    db: Database, job: ClaimedJob, worker_id: str
) -> tuple[ClaimedJob, Any] | None:
    """One job's slow phase: the job with what its `prepare` returned, or None once settled
    (no handler, postponed, failed)."""
    slow = SLOW_JOBS.get(job.kind)
    try:
        if slow is None and job.kind not in HANDLERS:
            raise LookupError(f"no handler for job kind {job.kind!r}")
        return job, (await slow.prepare(db, job.payload) if slow else None)
    except Exception as exc:
        await _settle(db, job, worker_id, exc)
        return None


async def _apply(session: AsyncSession, job: ClaimedJob, worker_id: str, prepared: Any) -> None:
    """The job's transactional part, in the caller's transaction: delete its row (LeaseLost
    unless this worker still holds it), then its handler (or its slow job's `apply`)."""
    mine = delete(Job).where(Job.id == job.id, Job.locked_by == worker_id)
    # a claimed job is read as columns, never loaded as an object: none to keep in step
    taken = await session.execute(mine.execution_options(synchronize_session=False))
    if affected_rows(taken) != 1:
        raise LeaseLost(job.id)
    slow = SLOW_JOBS.get(job.kind)
    session.info[RUNNING_HANDLER] = job.kind
    try:
        if slow is not None:
            await slow.apply(session, job.payload, prepared)
        else:
            await HANDLERS[job.kind](session, job.payload)
    finally:
        del session.info[RUNNING_HANDLER]


async def _apply_in_savepoint(
    session: AsyncSession, job: ClaimedJob, worker_id: str, prepared: Any
) -> Exception | None:
    """Run the job's transactional part in a savepoint of the caller's transaction; the error
    it raised (its savepoint then rolled back), or None. A handler never commits: a commit
    is refused (`HandlerCommitted`) after it released the savepoints open in it, this one
    included, so the batch's transaction then fails as a whole and its jobs run alone."""
    savepoint = await session.begin_nested()
    try:
        await _apply(session, job, worker_id, prepared)
    except Exception as error:
        if not savepoint.is_active:
            raise
        await savepoint.rollback()
        # Objects the next jobs may find in the session (a batch's senders, federation/
        # inbox.py) are read again: a rolled-back bulk UPDATE's synchronised values stay
        # in memory otherwise.
        session.expire_all()
        return error
    await savepoint.commit()
    return None


async def _apply_alone(db: Database, job: ClaimedJob, worker_id: str, prepared: Any) -> bool:
    """Run the job's transactional part in a transaction of its own; True on success (or
    postponement), a failure is recorded."""
    try:
        async with db.transaction() as session:
            await _apply(session, job, worker_id, prepared)
    except Exception as exc:
        return await _settle(db, job, worker_id, exc)
    JOBS_RUN.labels(job.kind, "ok").inc()
    return True


async def _settle(db: Database, job: ClaimedJob, worker_id: str, error: Exception) -> bool:
    """What follows a run that raised: nothing for a lost lease (the job is another worker's
    now), the job put back for a `Postpone`, otherwise the failure recorded. True only for a
    postponement (nothing failed)."""
    if isinstance(error, LeaseLost):
        log.warning("job %s: lease lost to another worker; its run is rolled back", job.id)
        JOBS_RUN.labels(job.kind, "lost").inc()
        return False
    if isinstance(error, Postpone):
        await _postpone(db, job, worker_id, error)
        JOBS_RUN.labels(job.kind, "postponed").inc()
        return True
    await _record_failure(db, job, worker_id, f"{type(error).__name__}: {error}")
    JOB_FAILURES.labels(job.kind).inc()
    JOBS_RUN.labels(job.kind, "dead" if job.attempts >= job.max_attempts else "retry").inc()
    return False


@asynccontextmanager
async def keep_leased(
    db: Database, job_ids: Sequence[int], worker_id: str, lease_seconds: int
) -> AsyncIterator[None]:
    """Renew the jobs' leases every third of it while the body runs (each renewal a short
    transaction of its own), so that a long job keeps its lease and the job of a worker that
    died is free again within `lease_seconds`."""
    if not job_ids:
        yield
        return
    stop = asyncio.Event()

    async def renew() -> None:
        while not await _stopped(stop, lease_seconds / 3):
            try:
                async with db.transaction() as session:
                    await session.execute(
                        update(Job)
                        .where(Job.id.in_(job_ids), Job.locked_by == worker_id)
                        .values(locked_until=utcnow() + timedelta(seconds=lease_seconds))
                    )
            except Exception:  # the next renewal may succeed; losing the lease is safe
                log.warning("jobs %s: lease renewal failed", job_ids, exc_info=True)

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


async def queue_depths(db: Database) -> list[tuple[str, str, int, float]]:
    """Per kind and state: jobs in the queue, and the age in seconds of the oldest (metrics)."""
    now = utcnow()
    query = select(Job.kind, Job.state, func.count(), func.min(Job.created_at)).group_by(
        Job.kind, Job.state
    )
    async with db.session() as session:
        rows = (await session.execute(query)).all()
    return [
        (kind, state, count, (now - oldest).total_seconds() if oldest else 0.0)
        for kind, state, count, oldest in rows
    ]


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
