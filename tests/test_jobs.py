"""The durable job queue: outbox semantics, retries, dead letters, leases, idempotent handlers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import typing
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update

import agora
from agora.config import get_settings
from agora.db.models import (
    Account,
    Follow,
    HomeFeedEntry,
    HomeFeedSize,
    Job,
    Notification,
    TagHistory,
    utcnow,
)
from agora.ids import new_id
from agora.job_registry import HANDLERS, SLOW_JOBS
from agora.jobs import queue
from agora.jobs.job_kinds import JobKind, JobState
from agora.jobs.worker import BACKGROUND_OVERDUE, Worker

CALLS: list[dict] = []


def job_handler(kind: str):  # type: ignore[no-untyped-def]
    """Register a test-only job kind (the application's kinds are in agora/job_registry.py)."""

    def register(fn):  # type: ignore[no-untyped-def]
        queue.register_jobs({kind: fn}, {})
        return fn

    return register


@job_handler("test_flaky")
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


async def test_a_job_goes_through_the_job_states(db):
    """pending -> running (leased) -> pending (retried) -> dead, each stored as `JobState`'s
    value, and `queue_stats` counts by `JobState`."""
    async with db.transaction() as session:
        queue.enqueue(session, "test_flaky", {"fail_times": 99}, max_attempts=1)
    [job] = await _jobs(db)
    assert job.state == JobState.PENDING
    [claimed] = await queue.claim(db, "w1", 1, 10)
    [job] = await _jobs(db)
    assert job.state == JobState.RUNNING
    await queue.run_claimed(db, claimed, "w1")
    [job] = await _jobs(db, state=JobState.DEAD)
    stats = await queue.queue_stats(db)
    assert stats == {JobState.DEAD: 1} and all(isinstance(s, JobState) for s in stats)
    assert {s.value for s in JobState} == {"pending", "running", "dead"}  # the stored values


def _enqueued_payloads() -> dict[JobKind, type]:
    """Each kind -> the payload TypedDict `enqueue`'s overloads require for it."""
    found = {}
    for overload in typing.get_overloads(queue.enqueue):
        hints = typing.get_type_hints(overload)
        for kind in typing.get_args(hints["kind"]):
            assert kind not in found, f"{kind} has two payload types"
            found[kind] = hints["payload"]
    return found


def test_every_handler_reads_the_payload_its_kind_is_enqueued_with():
    """The type checker holds every `enqueue` call to its kind's payload TypedDict; this holds
    the registry to it: each kind has one payload type, and the handler registered for it
    (each phase of a two-phase job) reads exactly that type."""
    payloads = _enqueued_payloads()
    assert set(payloads) == set(JobKind)
    assert set(HANDLERS) | set(SLOW_JOBS) == set(JobKind)
    read = {kind: [typing.get_type_hints(fn)["payload"]] for kind, fn in HANDLERS.items()}
    for kind, slow in SLOW_JOBS.items():
        phases = [slow.prepare, slow.apply] + ([slow.on_dead] if slow.on_dead else [])
        read[kind] = [typing.get_type_hints(fn)["payload"] for fn in phases]
    wrong = {k: r for k, r in read.items() if any(t is not payloads[k] for t in r)}
    assert wrong == {}


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


async def _fans(db, author_id: int, count: int, *, subscribed: int = 0) -> list[int]:
    """`count` accounts following the author (the first `subscribed` with notifications on),
    inserted in bulk; their ids."""
    now = utcnow()
    ids = [new_id() for _ in range(count)]
    accounts = [
        {"id": a, "username": f"fan{i}", "username_lower": f"fan{i}", "created_at": now}
        for i, a in enumerate(ids)
    ]
    follows = [
        {"id": new_id(), "account_id": a, "target_account_id": author_id, "notify": i < subscribed}
        for i, a in enumerate(ids)
    ]
    async with db.transaction() as session:
        await session.execute(insert(Account), accounts)
        await session.execute(insert(Follow), follows)
        await session.execute(
            update(Account).where(Account.id == author_id).values(followers_count=count)
        )
    return ids


async def _count(db, model, *where) -> int:
    async with db.session() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def test_fan_out_to_2000_followers_lets_other_writers_in(db, client, make_person):
    """A real worker fans a post out to 2,000 followers in short write transactions: a writer
    running meanwhile (as a request would) never waits for the whole fan-out."""
    author = await make_person("author")
    await _fans(db, author.id, 2000)
    r = await client.post("/api/v1/statuses", headers=author.headers, data={"status": "hello"})
    post_id = int(r.json()["id"])
    fanning = asyncio.create_task(Worker(db).run_until_idle())
    started, waits = time.monotonic(), []
    while not fanning.done():
        asked = time.monotonic()
        async with db.transaction() as session:  # takes SQLite's write lock, as a request does
            await session.execute(select(1))
        waits.append(time.monotonic() - asked)
        await asyncio.sleep(0.005)
    took = time.monotonic() - started
    assert await fanning == 1
    assert await _count(db, HomeFeedEntry, HomeFeedEntry.post_id == post_id) == 2001
    # one transaction for the whole fan-out would make the writer wait about `took`; batches
    # let it in many times, each wait a fraction of it (half: room for a pause of the machine)
    assert len(waits) >= 5 and max(waits) < took / 2, (max(waits), took, len(waits))


async def test_worker_killed_mid_fan_out_finishes_once(db, client, make_person, run_jobs):
    """A fan-out interrupted after its first batches (they committed, the worker died) is run
    again once the lease expires: every feed gets the post once (and counts it once), every
    notification and every live event happens once, the hashtag use is counted once."""
    from agora.events.process_bus import get_bus
    from agora.social.reading import fan_out as feeds
    from agora.social.reading.notifications import notify_subscribers

    author = await make_person("author")
    await _fans(db, author.id, 450, subscribed=250)
    subscription = get_bus().subscribe()
    try:
        r = await client.post(
            "/api/v1/statuses", headers=author.headers, data={"status": "hi @fan0 #news"}
        )
        post_id = int(r.json()["id"])
        [claimed] = await queue.claim(db, "doomed", 1, 60)
        assert claimed.kind == "distribute_post"
        # The doomed worker commits its first batches (feeds, then subscribers), then dies.
        async with db.session() as session:
            plan = await feeds.plan_distribution(session, post_id)
        assert len(plan.recipients) == 451 and len(plan.subscribers) == 250
        async with db.transaction() as session:
            await feeds.push_to_feeds(session, plan.post, plan.recipients[: feeds.FANOUT_BATCH])
        async with db.transaction() as session:
            await notify_subscribers(session, plan.post, plan.subscribers[:100])
        assert await _count(db, HomeFeedEntry, HomeFeedEntry.post_id == post_id) == 200
        async with db.transaction() as session:
            await session.execute(update(Job).values(locked_until=utcnow() - timedelta(seconds=1)))
        assert await run_jobs() == 1
        assert await run_jobs() == 0
        events = subscription.drain()
    finally:
        subscription.close()
    assert await _count(db, HomeFeedEntry, HomeFeedEntry.post_id == post_id) == 451
    assert await _count(db, HomeFeedSize, HomeFeedSize.entries != 1) == 0  # counted once each
    notes = await _count(db, Notification)
    assert await _count(db, Notification, Notification.type == "status") == 250
    assert await _count(db, Notification, Notification.type == "mention") == 1
    updates = [e for e in events if e.get("event") == "update"]
    assert len(updates) == 1
    assert len([e for e in events if e.get("event") == "notification"]) == notes == 251
    async with db.session() as session:
        assert (await session.scalars(select(TagHistory.uses))).all() == [1]


# `agora worker` in a process of its own, where `test_hang` marks that it started and then
# never finishes (in this process, `test_hang` just records its call).
HANGING_WORKER = """
import asyncio
from pathlib import Path

from agora.jobs import queue


async def hang(session, payload):
    Path(payload["marker"]).write_text("running")
    await asyncio.sleep(3600)


queue.register_jobs({"test_hang": hang}, {})

from agora.cli.main import app

app(["worker"])
"""


@job_handler("test_hang")
async def _hang_here(session, payload):
    CALLS.append(payload)


async def _wait_for(check, timeout: float, what: str) -> float:
    """Poll `check` (async) every 100 ms; return the seconds it took, fail after `timeout`."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def test_a_worker_killed_mid_job_delays_only_that_job_and_only_seconds(db, tmp_path):
    """A real `agora worker` process is SIGKILLed while running a job: the jobs queued behind
    it run at once (it had not claimed them), and the one it was running is retried within
    the lease (seconds), not after a minute."""
    marker = tmp_path / "running"
    async with db.transaction() as session:
        queue.enqueue(session, "test_hang", {"marker": str(marker)})
    async with db.transaction() as session:
        for n in range(5):
            queue.enqueue(session, "test_flaky", {"n": n})
    env = {**os.environ, "PYTHONPATH": str(Path(agora.__file__).parents[1])}
    with (tmp_path / "worker.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", HANGING_WORKER], env=env, stdout=log, stderr=log
        )
        try:

            async def started() -> bool:
                return marker.exists() or process.poll() is not None

            await _wait_for(started, 120, "the worker process to start the job")
            assert process.poll() is None, (tmp_path / "worker.log").read_text()
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    killed = time.monotonic()
    assert await Worker(db).run_until_idle() == 5  # the others were never claimed
    assert sorted(c["n"] for c in CALLS) == list(range(5))
    assert time.monotonic() - killed < 5

    async def retried() -> bool:
        await Worker(db).run_once()
        return any("marker" in c for c in CALLS)

    lease = get_settings().job_lease_seconds
    await _wait_for(retried, lease + 5, "the killed job to be retried")
    assert time.monotonic() - killed <= lease + 5
    assert lease <= 15
    assert await _jobs(db) == []


async def _slow_prepare(db, payload):
    await asyncio.sleep(payload["seconds"])
    return payload["seconds"]


async def _slow_apply(session, payload, prepared):
    CALLS.append({"slow": prepared})


queue.register_jobs({}, {"test_slow": queue.SlowJob(prepare=_slow_prepare, apply=_slow_apply)})


async def test_a_long_slow_phase_keeps_its_lease(db):
    """A job whose slow phase outlasts the lease renews it: no other worker takes it over, and
    it runs once."""
    async with db.transaction() as session:
        queue.enqueue(session, "test_slow", {"seconds": 2.5})
    running = asyncio.create_task(Worker(db, lease_seconds=1).run_once())
    await asyncio.sleep(1.8)  # past the first lease
    assert await Worker(db, lease_seconds=1).run_once() == 0
    assert await running == 1
    assert CALLS == [{"slow": 2.5}] and await _jobs(db) == []


@job_handler("test_enqueuing")
async def _enqueuing(session, payload):
    queue.enqueue(session, "test_flaky", {"by": payload["by"]})


async def test_a_worker_that_lost_its_lease_commits_nothing(db):
    async with db.transaction() as session:
        queue.enqueue(session, "test_enqueuing", {"by": "either"})
    [late] = await queue.claim(db, "late-worker", 1, lease_seconds=60)
    async with db.transaction() as session:  # its lease runs out; another worker claims it
        await session.execute(update(Job).values(locked_until=utcnow() - timedelta(seconds=1)))
    [taken] = await queue.claim(db, "other-worker", 1, lease_seconds=60)
    assert taken.id == late.id
    assert await queue.run_claimed(db, late, "late-worker") is False
    [job] = await _jobs(db)  # untouched: still the other worker's, no follow-up job
    assert job.id == late.id and job.locked_by == "other-worker" and job.last_error is None
    assert await queue.run_claimed(db, taken, "other-worker") is True
    [follow_up] = await _jobs(db)
    assert follow_up.kind == "test_flaky"


async def test_a_busy_web_process_leaves_background_jobs_until_they_are_overdue(db):
    """A web process's own worker (`busy` given) claims `BACKGROUND_KINDS` only while it
    answers no request, or once they are overdue; other kinds it claims at once."""
    from agora.job_registry import register_all_jobs

    register_all_jobs()
    async with db.transaction() as session:
        queue.enqueue(session, JobKind.REFRESH_FOR_YOU, {})
        queue.enqueue(session, "test_flaky", {})
    [background] = await _jobs(db, kind=JobKind.REFRESH_FOR_YOU)
    answering = True
    worker = Worker(db, busy=lambda: answering)
    assert await worker.run_once() == 1
    assert len(CALLS) == 1  # the other kind ran
    assert [j.id for j in await _jobs(db, kind=JobKind.REFRESH_FOR_YOU)] == [background.id]
    overdue = utcnow() - BACKGROUND_OVERDUE - timedelta(seconds=1)
    async with db.transaction() as session:
        await session.execute(update(Job).where(Job.id == background.id).values(run_at=overdue))
    assert await worker.run_once() == 1  # overdue: run although busy
    assert background.id not in {j.id for j in await _jobs(db)}
    async with db.transaction() as session:
        queue.enqueue(session, JobKind.REFRESH_FOR_YOU, {})
    await _clear_other_refreshes(db)
    answering = False
    assert await worker.run_once() == 1  # idle: run at once
    assert await Worker(db).run_once() == 0  # an `agora worker` (no `busy`) finds none left


async def _clear_other_refreshes(db) -> None:  # type: ignore[no-untyped-def]
    """Keep one due refresh: the job queues its next run itself, later."""
    async with db.transaction() as session:
        await session.execute(
            update(Job).where(Job.run_at > utcnow()).values(run_at=utcnow() + timedelta(days=1))
        )


async def test_requests_in_flight_count_requests_but_not_streams():
    """What a web process's own workers ask: a request being answered counts, a stream
    (which lasts as long as its client) does not."""
    from agora.http import observability

    seen: list[int] = []
    assert observability.requests_in_flight() == 0

    async def inner(scope, receive, send):  # type: ignore[no-untyped-def]
        seen.append(observability.requests_in_flight())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    for path in ("/api/v1/timelines/home", "/api/v1/streaming/user", "/web/live"):
        scope = {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}

        async def receive():  # type: ignore[no-untyped-def]
            return {"type": "http.request", "body": b""}

        async def send(message):  # type: ignore[no-untyped-def]
            return None

        await observability.Observability(inner)(scope, receive, send)
    assert seen == [1, 0, 0]
    assert observability.requests_in_flight() == 0
    assert observability.answered_within(5.0)  # a request ended a moment ago: not idle yet


def test_a_web_process_is_idle_only_after_a_quiet_moment(monkeypatch):  # type: ignore[no-untyped-def]
    """What the worker's `busy` asks (app.py): answering now, or a moment ago."""
    import time

    from agora.app import QUIET_SECONDS, _answering
    from agora.http import observability

    monkeypatch.setattr(observability, "_in_flight", 0)
    monkeypatch.setattr(observability, "_last_answered", time.perf_counter())
    assert _answering()
    monkeypatch.setattr(observability, "_last_answered", time.perf_counter() - QUIET_SECONDS - 1)
    assert not _answering()
    monkeypatch.setattr(observability, "_in_flight", 1)
    assert _answering()
