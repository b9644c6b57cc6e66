"""Precomputed For You candidates: the `refresh_for_you` job writes, for the signed-in people
whose set is the oldest, their candidates and the slow features (`for_you.SlowFeatures`:
likes by the people they follow and by people like them, followers of the author among the
people they follow, quotes, a trending hashtag) into `for_you_candidates`, and when it did
into `for_you_sets`. A request then reads the set (for_you.py) instead of the sources and
those features, and applies the rule, the counters, "seen" and the feedback itself.

The job is two-phase (`SlowJob`): `compute` reads each person's set in its own read session
(`for_you.candidate_set`, the same code the request's whole pipeline runs), `store` replaces
the rows in the transaction that deletes the job and queues the next run.

Invariants:
- bounded: at most `for_you.CANDIDATES` rows per person, at most `VIEWERS_PER_RUN` people per
  run, fewer when a web process running it starts answering requests, or the machine of an
  `agora worker` running it gets busy (jobs/courtesy.py: the run stops after the person at
  hand, and the rest are due at the next run); a person is due
  when their set is missing or older than `REFRESH_SECONDS`; the next run comes after
  `REFRESH_SECONDS`, or after `CATCH_UP_SECONDS` while more were due than one run takes;
- idempotent: a person's rows are replaced whole (delete, then insert, one transaction), so
  two runs on the same state leave the same rows;
- a set decides nothing about who may see what: the request applies the rule to every row
  (a block, a deletion or a suspension after the run hides the post at once), and a post's
  rows go with the post (foreign key);
- sets older than `FORGET_AFTER` are deleted, and at most one `refresh_for_you` job is
  pending (`ensure_scheduled`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import Database
from agora.db.models import (
    AccessToken,
    Account,
    ForYouCandidate,
    ForYouSet,
    ForYouSettings,
    Job,
    WebSession,
    utcnow,
)
from agora.ids import min_id_for_ms
from agora.jobs.courtesy import should_give_way
from agora.jobs.job_kinds import JobKind, JobState, RefreshForYouJob
from agora.jobs.queue import enqueue
from agora.social.reading.for_you import SlowFeatures, candidate_set
from agora.social.reading.for_you_scoring import WINDOW_HOURS

REFRESH_SECONDS = 600.0
CATCH_UP_SECONDS = 5.0
VIEWERS_PER_RUN = 20
FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Precomputed:
    """What a run computed: each person's candidates with their slow features, as of `at`;
    `more_due`: people were left for the next run."""

    at: datetime
    sets: dict[int, dict[int, SlowFeatures]]
    more_due: bool = False


async def ensure_scheduled(session: AsyncSession, delay: float = REFRESH_SECONDS) -> None:
    """Queue the precompute job in the caller's transaction unless one is already pending."""
    pending = await session.scalar(
        select(Job.id)
        .where(Job.kind == JobKind.REFRESH_FOR_YOU, Job.state != JobState.DEAD)
        .limit(1)
    )
    if pending is None:
        enqueue(session, JobKind.REFRESH_FOR_YOU, {}, delay=delay)


async def due_viewers(session: AsyncSession, at: datetime, limit: int) -> list[int]:
    """Signed-in local people (a token not revoked, or a web session not expired) with the
    feed on, not suspended, whose set is missing or older than `REFRESH_SECONDS`: the
    oldest first (none first of all), at most `limit`."""
    token = exists().where(AccessToken.account_id == Account.id, AccessToken.revoked_at.is_(None))
    web = exists().where(WebSession.account_id == Account.id, WebSession.expires_at > at)
    computed = ForYouSet.computed_at
    query = (
        select(Account.id)
        .outerjoin(ForYouSet, ForYouSet.account_id == Account.id)
        .outerjoin(ForYouSettings, ForYouSettings.account_id == Account.id)
        .where(
            Account.domain.is_(None),
            Account.suspended_at.is_(None),
            Account.deleted_at.is_(None),
            or_(ForYouSettings.enabled.is_(None), ForYouSettings.enabled),
            or_(computed.is_(None), computed < at - timedelta(seconds=REFRESH_SECONDS)),
            or_(token, web),
        )
        .order_by(func.coalesce(computed, at - FORGET_AFTER * 2), Account.id)
        .limit(limit)
    )
    return list(await session.scalars(query))


async def compute_sets(db: Database, viewer_ids: Sequence[int], at: datetime) -> Precomputed:
    """Each person's candidate set as of `at` (read-only; a read session per person). In a
    web process answering requests (or an `agora worker` on a busy machine) it stops after
    the person at hand (`should_give_way`):
    the people left are due still, and `more_due` says so."""
    start = min_id_for_ms(int((at.timestamp() - WINDOW_HOURS * 3600) * 1000))
    sets: dict[int, dict[int, SlowFeatures]] = {}
    for viewer_id in viewer_ids:
        async with db.session() as session:
            sets[viewer_id] = await candidate_set(session, viewer_id, start)
        if len(sets) < len(viewer_ids) and should_give_way():
            return Precomputed(at, sets, more_due=True)
    return Precomputed(at, sets)


async def compute(db: Database, payload: RefreshForYouJob) -> Precomputed:
    """The job's read phase: the sets of the people due now (one more than a run takes is
    asked for, to know whether others wait)."""
    at = utcnow()
    async with db.session() as session:
        due = await due_viewers(session, at, VIEWERS_PER_RUN + 1)
    found = await compute_sets(db, due[:VIEWERS_PER_RUN], at)
    more_due = found.more_due or len(due) > VIEWERS_PER_RUN
    return Precomputed(found.at, found.sets, more_due=more_due)


async def store_sets(session: AsyncSession, result: Precomputed) -> None:
    """Replace each computed person's rows and set (in the caller's transaction), and forget
    the sets older than `FORGET_AFTER`."""
    for viewer_id, slow in result.sets.items():
        await session.execute(
            delete(ForYouCandidate).where(ForYouCandidate.account_id == viewer_id)
        )
        await session.execute(delete(ForYouSet).where(ForYouSet.account_id == viewer_id))
        rows = [
            {
                "account_id": viewer_id,
                "post_id": post_id,
                "network_likes": f.network_likes,
                "similar_likes": f.similar_likes,
                "author_follows": f.author_follows,
                "quotes": f.quotes,
                "trending_tag": f.trending_tag,
            }
            for post_id, f in slow.items()
        ]
        if rows:
            await session.execute(insert(ForYouCandidate.__table__), rows)  # one executemany
        await session.execute(
            insert(ForYouSet),
            [{"account_id": viewer_id, "computed_at": result.at, "candidates": len(rows)}],
        )
    old = select(ForYouSet.account_id).where(ForYouSet.computed_at < result.at - FORGET_AFTER)
    await session.execute(delete(ForYouCandidate).where(ForYouCandidate.account_id.in_(old)))
    await session.execute(delete(ForYouSet).where(ForYouSet.account_id.in_(old)))


async def store(session: AsyncSession, payload: RefreshForYouJob, result: Precomputed) -> None:
    """The job's write phase: the sets, then the next run queued."""
    await store_sets(session, result)
    await ensure_scheduled(session, CATCH_UP_SECONDS if result.more_due else REFRESH_SECONDS)


async def precompute(db: Database, viewer_ids: Sequence[int]) -> Precomputed:
    """Compute and store these people's sets now (what a run does for those it picks; the
    benchmarks and `agora` use it for chosen people)."""
    found = await compute_sets(db, viewer_ids, utcnow())
    async with db.transaction() as session:
        await store_sets(session, found)
    return found
