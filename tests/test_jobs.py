"""The durable job queue: outbox semantics, retries, dead letters, leases, idempotent handlers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from agora.db.models import HomeFeedEntry, Job, Notification, utcnow
from agora.jobs import queue
from agora.jobs.worker import Worker

CALLS: list[dict] = []


@queue.job_handler("test_flaky")
async def _flaky(session, payload):
    CALLS.append(payload)
    if len(CALLS) <= payload.get("fail_times", 0):
        raise RuntimeError("provider down")


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


async def _jobs(db, **where):
    async with db.session() as session:
        query = select(Job)
        for key, value in where.items():
            query = query.where(getattr(Job, key) == value)
        return list((await session.scalars(query)).all())


async def test_rolled_back_transaction_leaves_no_job(db):
    async with db.session(write=True) as session:
        queue.enqueue(session, "test_flaky", {})
        await session.rollback()
    assert await _jobs(db) == []


async def test_failure_is_retried_with_backoff_then_succeeds(db):
    async with db.transaction() as session:
        queue.enqueue(session, "test_flaky", {"fail_times": 1})
    worker = Worker(db)
    assert await worker.run_once() == 1
    [job] = await _jobs(db)
    assert job.state == "pending" and job.attempts == 1 and "provider down" in job.last_error
    assert job.run_at > utcnow()  # backed off
    assert await worker.run_once() == 0  # not due yet
    async with db.transaction() as session:
        await session.execute(update(Job).values(run_at=utcnow() - timedelta(seconds=1)))
    assert await worker.run_once() == 1
    assert await _jobs(db) == []  # done jobs are removed
    assert len(CALLS) == 2


async def test_dead_letter_after_max_attempts_and_retry(db):
    async with db.transaction() as session:
        queue.enqueue(session, "test_flaky", {"fail_times": 99}, max_attempts=2)
    worker = Worker(db)
    for _ in range(2):
        async with db.transaction() as session:
            await session.execute(update(Job).values(run_at=utcnow() - timedelta(seconds=1)))
        await worker.run_once()
    [job] = await _jobs(db)
    assert job.state == "dead" and job.attempts == 2
    assert (await queue.queue_stats(db))["dead"] == 1
    assert await queue.retry_dead(db) == 1
    [job] = await _jobs(db)
    assert job.state == "pending" and job.attempts == 0


async def test_unknown_kind_is_dead_lettered_not_crashing(db):
    async with db.transaction() as session:
        queue.enqueue(session, "no_such_kind", {}, max_attempts=1)
    await Worker(db).run_once()
    [job] = await _jobs(db)
    assert job.state == "dead" and "no handler" in job.last_error


async def test_expired_lease_is_reclaimed_by_another_worker(db):
    async with db.transaction() as session:
        queue.enqueue(session, "test_flaky", {})
    dead_worker = await queue.claim(db, "worker-that-dies", 10, lease_seconds=60)
    assert len(dead_worker) == 1
    other = Worker(db)
    assert await other.run_once() == 0  # leased: nobody else may take it
    async with db.transaction() as session:  # the lease runs out
        await session.execute(update(Job).values(locked_until=utcnow() - timedelta(seconds=1)))
    assert await other.run_once() == 1
    assert await _jobs(db) == [] and len(CALLS) == 1


async def test_worker_killed_mid_fan_out_finishes_once(db, client, make_person, run_jobs):
    """A fan-out interrupted mid-way (its transaction never commits) is re-run by another
    worker after the lease expires, with no duplicate feed entries or notifications."""
    author = await make_person("author")
    fans = [await make_person(f"fan{i}") for i in range(5)]
    for fan in fans:
        await client.post(f"/api/v1/accounts/{author.id}/follow", headers=fan.headers)
    await run_jobs()
    r = await client.post(
        "/api/v1/statuses", headers=author.headers, data={"status": "hi @fan0 @fan1"}
    )
    post_id = int(r.json()["id"])
    [claimed] = [j for j in await queue.claim(db, "doomed", 10, 60) if j.kind == "distribute_post"]
    # The doomed worker runs the handler but dies before committing.
    async with db.session(write=True) as session:
        await queue.HANDLERS["distribute_post"](session, claimed.payload)
        await session.rollback()
    async with db.transaction() as session:
        await session.execute(update(Job).values(locked_until=utcnow() - timedelta(seconds=1)))
    await run_jobs()
    # Running the handler a second time (a retry after an ambiguous failure) changes nothing.
    async with db.transaction() as session:
        await queue.HANDLERS["distribute_post"](session, claimed.payload)
    async with db.session() as session:
        entries = await session.scalar(
            select(func.count()).select_from(HomeFeedEntry).where(HomeFeedEntry.post_id == post_id)
        )
        mentions = await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.type == "mention")
        )
    assert entries == 6  # five followers and the author
    assert mentions == 2
