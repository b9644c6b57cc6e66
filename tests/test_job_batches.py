"""Jobs run in batches (jobs/queue.py `run_batch`): one poisoned job fails alone, a worker killed
mid-batch commits nothing and its jobs run once after the lease, runs of a kind applied
together fall back to each job alone, concurrent kinds run their groups at once. Received
activities in batches: tests/test_inbox_batches.py."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import agora
from agora.config import get_settings
from agora.db.models import Job
from agora.events.process_bus import get_bus
from agora.events.publishing import publish_after_commit
from agora.jobs import queue
from agora.jobs.job_kinds import JobState
from agora.jobs.worker import Worker
from helpers import jobs_of_kind

CALLS: list[int] = []


async def _batched(session: Any, payload: dict[str, Any]) -> None:
    """A batchable test kind: its effects are a `test_effect` job and a live event; `poison`
    raises after both (so nothing of it may remain)."""
    CALLS.append(payload["n"])
    queue.enqueue(session, "test_effect", {"n": payload["n"]}, delay=3600)
    publish_after_commit(session, {"event": "test_batched", "n": payload["n"]})
    if payload.get("poison"):
        raise RuntimeError("poisoned activity")


queue.register_jobs({"test_batched": _batched}, {}, batches={"test_batched": 10})

STEPS: list[tuple[str, int]] = []  # ("start" | "end", n) of the concurrent test kind's phases


async def _slow_step(db: Any, payload: dict[str, Any]) -> int:
    """The concurrent test kind's slow phase: takes a while, and fails when asked."""
    STEPS.append(("start", payload["n"]))
    await asyncio.sleep(payload.get("sleep", 0.05))
    STEPS.append(("end", payload["n"]))
    if payload.get("fail"):
        raise RuntimeError("the other side failed")
    return int(payload["n"])


async def _slow_applied(session: Any, payload: dict[str, Any], prepared: int) -> None:
    queue.enqueue(session, "test_effect", {"n": prepared}, delay=3600)


queue.register_jobs(
    {},
    {"test_concurrent": queue.SlowJob(prepare=_slow_step, apply=_slow_applied)},
    batches={"test_concurrent": 10},
    concurrent={"test_concurrent": lambda payload: str(payload["group"])},
)


RUNS: list[list[int]] = []  # each call of the together test kind's `apply`: its jobs' n


async def _together(session: Any, payloads: list[dict[str, Any]]) -> None:
    """Applies a run of `test_together` jobs at once: one effect each; raises after all of
    them when one is poisoned."""
    RUNS.append([p["n"] for p in payloads])
    for payload in payloads:
        queue.enqueue(session, "test_effect", {"n": payload["n"]}, delay=3600)
    if any(p.get("poison") for p in payloads):
        raise RuntimeError("poisoned activity")


queue.register_jobs(
    {"test_together": _batched},
    {},
    batches={"test_together": 10},
    together={"test_together": queue.Together(joins=lambda p: not p.get("alone"), apply=_together)},
)


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()
    RUNS.clear()


async def test_a_poisoned_job_fails_alone_and_the_rest_of_its_batch_applies_once(
    db, monkeypatch
) -> None:
    """Five jobs claimed as one batch, the third raising: the four others' effects (rows and
    live events) happen once each; the third's effects are rolled back, it is run again alone
    (where it fails again) and left for a retry with backoff, one attempt spent."""
    async with db.transaction() as session:
        for n in range(5):
            queue.enqueue(session, "test_batched", {"n": n, "poison": n == 2})
    subscription = get_bus().subscribe()
    try:
        claimed = await queue.claim_next(db, "w", 10)
        assert [job.payload["n"] for job in claimed] == [0, 1, 2, 3, 4]  # one batch
        monkeypatch.setattr(queue, "BATCH_SECONDS", 3600)  # one transaction, however loaded
        assert await queue.run_batch(db, claimed, "w", 10) == 4
        events = subscription.drain()
    finally:
        subscription.close()
    assert sorted(CALLS) == [0, 1, 2, 2, 3, 4]  # the poisoned one once more, alone
    effects = await jobs_of_kind(db, "test_effect")
    assert sorted(job.payload["n"] for job in effects) == [0, 1, 3, 4]
    assert sorted(e["n"] for e in events if e.get("event") == "test_batched") == [0, 1, 3, 4]
    [left] = await jobs_of_kind(db, "test_batched")
    assert left.payload["n"] == 2 and left.state == JobState.PENDING
    assert left.attempts == 1 and "poisoned activity" in (left.last_error or "")
    assert left.locked_by is None


async def test_consecutive_jobs_of_a_together_kind_are_applied_at_once_in_their_order(
    db, monkeypatch
) -> None:
    """A batch of a kind that applies runs together: its consecutive joining jobs are applied
    in one call, a job that does not join is applied alone between them, in the batch's
    order; each effect once, every job gone."""
    async with db.transaction() as session:
        for n in range(6):
            queue.enqueue(session, "test_together", {"n": n, "alone": n == 3})
    claimed = await queue.claim_next(db, "w", 10)
    assert [job.payload["n"] for job in claimed] == [0, 1, 2, 3, 4, 5]
    monkeypatch.setattr(queue, "BATCH_SECONDS", 3600)  # one transaction, however loaded
    assert await queue.run_batch(db, claimed, "w", 10) == 6
    assert RUNS == [[0, 1, 2], [4, 5]] and CALLS == [3]
    assert sorted(job.payload["n"] for job in await jobs_of_kind(db, "test_effect")) == list(
        range(6)
    )
    assert await jobs_of_kind(db, "test_together") == []


async def test_a_run_applied_together_that_fails_is_rolled_back_and_each_job_runs_alone(
    db, monkeypatch
) -> None:
    """A run applied together raising after its writes leaves none of them: each of its jobs
    is then applied alone (its own savepoint), the poisoned one fails alone and is left for a
    retry with one attempt spent, the others' effects happen once."""
    async with db.transaction() as session:
        for n in range(4):
            queue.enqueue(session, "test_together", {"n": n, "poison": n == 2})
    claimed = await queue.claim_next(db, "w", 10)
    monkeypatch.setattr(queue, "BATCH_SECONDS", 3600)  # one transaction, however loaded
    assert await queue.run_batch(db, claimed, "w", 10) == 3
    assert RUNS == [[0, 1, 2, 3]] and sorted(CALLS) == [0, 1, 2, 2, 3]  # then alone, 2 twice
    assert sorted(job.payload["n"] for job in await jobs_of_kind(db, "test_effect")) == [0, 1, 3]
    [left] = await jobs_of_kind(db, "test_together")
    assert left.payload["n"] == 2 and left.state == JobState.PENDING and left.attempts == 1
    assert "poisoned activity" in (left.last_error or "")


async def test_a_run_with_a_lost_lease_is_applied_job_by_job_and_the_lost_one_not_at_all(
    db, monkeypatch
) -> None:
    """When another worker took one job of a run (its lease ran out), the run is not applied
    together: each job is applied alone, the taken one not at all (it is the other worker's)."""
    async with db.transaction() as session:
        for n in range(3):
            queue.enqueue(session, "test_together", {"n": n})
    claimed = await queue.claim_next(db, "w", 10)
    async with db.transaction() as session:
        taken = await session.get(Job, claimed[1].id)
        assert taken is not None
        taken.locked_by = "another worker"
    monkeypatch.setattr(queue, "BATCH_SECONDS", 3600)  # one transaction, however loaded
    assert await queue.run_batch(db, claimed, "w", 10) == 2
    assert RUNS == [] and sorted(CALLS) == [0, 2]
    assert sorted(job.payload["n"] for job in await jobs_of_kind(db, "test_effect")) == [0, 2]
    [left] = await jobs_of_kind(db, "test_together")
    assert left.payload["n"] == 1 and left.locked_by == "another worker"


async def _committing(session: Any, payload: dict[str, Any]) -> None:
    """A batchable test kind whose handler (when `commits`) tries to commit half-way, as
    services once did."""
    CALLS.append(payload["n"])
    queue.enqueue(session, "test_effect", {"n": payload["n"], "part": 1}, delay=3600)
    if payload["commits"]:
        await session.commit()
    queue.enqueue(session, "test_effect", {"n": payload["n"], "part": 2}, delay=3600)


queue.register_jobs({"test_committing": _committing}, {}, batches={"test_committing": 10})


async def test_a_handler_that_commits_in_a_batch_is_refused_and_commits_nothing(
    db, monkeypatch
) -> None:
    """A handler may not commit its job's transaction (HandlerCommitted): in a batch, the
    committing job's effects are all rolled back and it is left for a retry; the others apply
    once (the batch's transaction fails whole, and its jobs run alone)."""
    async with db.transaction() as session:
        for n in range(3):
            queue.enqueue(session, "test_committing", {"n": n, "commits": n == 1})
    claimed = await queue.claim_next(db, "w", 10)
    assert len(claimed) == 3
    monkeypatch.setattr(queue, "BATCH_SECONDS", 3600)  # one transaction, however loaded
    assert await queue.run_batch(db, claimed, "w", 10) == 2
    assert sorted(CALLS) == [0, 0, 1, 1, 2]  # 0 and 1 in the failed batch, then alone
    effects = sorted(
        (j.payload["n"], j.payload["part"]) for j in await jobs_of_kind(db, "test_effect")
    )
    assert effects == [(0, 1), (0, 2), (2, 1), (2, 2)]
    [left] = await jobs_of_kind(db, "test_committing")
    assert left.payload["n"] == 1 and left.state == JobState.PENDING and left.attempts == 1
    assert "HandlerCommitted" in (left.last_error or "")


async def test_a_failed_batch_transaction_runs_each_job_alone(db, monkeypatch) -> None:
    """When a batch's transaction fails as a whole (here its commit), nothing of it commits and
    every job of it is run alone: each applies once."""
    async with db.transaction() as session:
        for n in range(3):
            queue.enqueue(session, "test_batched", {"n": n})
    claimed = await queue.claim_next(db, "w", 10)
    assert len(claimed) == 3
    real_transaction = db.transaction
    failed = []

    def failing_once() -> Any:
        if failed:
            return real_transaction()
        failed.append(True)
        return _FailingCommit(real_transaction())

    monkeypatch.setattr(db, "transaction", failing_once)
    monkeypatch.setattr(queue, "BATCH_SECONDS", 3600)  # one transaction, however loaded
    assert await queue.run_batch(db, claimed, "w", 10) == 3
    assert sorted(CALLS) == [0, 0, 1, 1, 2, 2]  # in the failed batch, then alone
    assert sorted(job.payload["n"] for job in await jobs_of_kind(db, "test_effect")) == [0, 1, 2]
    assert await jobs_of_kind(db, "test_batched") == []


class _FailingCommit:
    """A transaction context whose body runs and which then raises instead of committing."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __aenter__(self) -> Any:
        return await self.inner.__aenter__()

    async def __aexit__(self, *exc: Any) -> bool:
        error = RuntimeError("commit failed")
        await self.inner.__aexit__(RuntimeError, error, None)  # rolls back
        raise error


# `agora worker` in a process of its own: `test_batch_hang` jobs are batchable; the third of a
# batch marks that it started and never finishes, after the two before it ran in the same
# transaction.
HANGING_BATCH_WORKER = """
import asyncio
import itertools
from pathlib import Path

from agora.jobs import queue


async def hang(session, payload):
    queue.enqueue(session, "test_effect", {"n": payload["n"]}, delay=3600)
    if payload["n"] == 2:
        await session.flush()
        Path(payload["marker"]).write_text("running")
        await asyncio.sleep(3600)


queue.register_jobs({"test_batch_hang": hang}, {}, batches={"test_batch_hang": 10})
queue.BATCH_SECONDS = 3600  # the batch is one transaction, however loaded the machine

from agora.cli.main import app

app(["worker"])
"""


async def _batch_hang_here(session: Any, payload: dict[str, Any]) -> None:
    CALLS.append(payload["n"])
    queue.enqueue(session, "test_effect", {"n": payload["n"]}, delay=3600)


queue.register_jobs({"test_batch_hang": _batch_hang_here}, {}, batches={"test_batch_hang": 10})


async def test_a_worker_killed_mid_batch_commits_nothing_and_its_jobs_run_once(
    db, tmp_path
) -> None:
    """A real `agora worker` process is SIGKILLed in the middle of a batch (two jobs applied in
    the batch's transaction, the third running): nothing of the batch committed, and once the
    lease runs out every job of it runs once, its effect made once."""
    marker = tmp_path / "running"
    async with db.transaction() as session:
        for n in range(4):
            queue.enqueue(session, "test_batch_hang", {"n": n, "marker": str(marker)})
    env = {**os.environ, "PYTHONPATH": str(Path(agora.__file__).parents[1])}
    with (tmp_path / "worker.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", HANGING_BATCH_WORKER], env=env, stdout=log, stderr=log
        )
        try:
            started = time.monotonic()
            while not marker.exists() and process.poll() is None:
                assert time.monotonic() - started < 120, "the worker never started the batch"
                await asyncio.sleep(0.1)
            assert process.poll() is None, (tmp_path / "worker.log").read_text()
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    killed = time.monotonic()
    assert await jobs_of_kind(db, "test_effect") == []  # the first two applied, never committed
    held = await jobs_of_kind(db, "test_batch_hang")
    assert len(held) == 4 and {job.state for job in held} == {JobState.RUNNING}
    lease = get_settings().job_lease_seconds
    while await Worker(db).run_until_idle() == 0:
        assert time.monotonic() - killed <= lease + 5, "the batch was not run again"
        await asyncio.sleep(0.2)
    assert sorted(CALLS) == [0, 1, 2, 3]
    assert sorted(job.payload["n"] for job in await jobs_of_kind(db, "test_effect")) == [0, 1, 2, 3]
    assert await jobs_of_kind(db, "test_batch_hang") == []


async def test_a_concurrent_kind_runs_its_groups_at_once_and_each_group_in_order(db) -> None:
    """Six jobs of a concurrent kind in three groups, one failing: the groups' slow phases
    overlap, the jobs of one group run one after the other in their order; the five that
    succeeded apply once each, the failing one is left for a retry, one attempt spent."""
    STEPS.clear()
    groups = ["a", "b", "a", "c", "b", "a"]
    async with db.transaction() as session:
        for n, group in enumerate(groups):
            queue.enqueue(session, "test_concurrent", {"n": n, "group": group, "fail": n == 4})
    claimed = await queue.claim_next(db, "w", 10)
    assert len(claimed) == 6
    assert await queue.run_batch(db, claimed, "w", 10) == 5
    starts = [n for step, n in STEPS if step == "start"]
    assert starts[:3] == [0, 1, 3]  # each group's first job, before any job ended
    assert STEPS.index(("end", 0)) > STEPS.index(("start", 3))
    for group in "abc":  # within a group: the next starts only after the previous ended
        mine = [n for n, g in enumerate(groups) if g == group]
        for before, after in itertools.pairwise(mine):
            assert STEPS.index(("end", before)) < STEPS.index(("start", after))
    effects = await jobs_of_kind(db, "test_effect")
    assert sorted(job.payload["n"] for job in effects) == [0, 1, 2, 3, 5]
    [left] = await jobs_of_kind(db, "test_concurrent")
    assert left.payload["n"] == 4 and left.state == JobState.PENDING and left.attempts == 1


async def test_a_worker_runs_batches_of_a_concurrent_kind_in_the_background(db) -> None:
    """25 jobs of a concurrent kind (batches of 10) whose slow phases take a second: one
    worker has the second and third batches running before the first one's end (a batch
    held up by a slow server holds up no other), and `run_until_idle` returns once all of
    them applied, each once."""
    STEPS.clear()
    async with db.transaction() as session:
        for n in range(25):
            queue.enqueue(session, "test_concurrent", {"n": n, "group": n, "sleep": 1.0})
    worker = Worker(db, batch=100)
    assert await worker.run_until_idle() == 25
    assert (worker.processed, worker.failed) == (25, 0)
    first_end = STEPS.index(("end", 0))
    assert STEPS.index(("start", 10)) < first_end and STEPS.index(("start", 20)) < first_end
    effects = await jobs_of_kind(db, "test_effect")
    assert sorted(job.payload["n"] for job in effects) == list(range(25))
    assert await jobs_of_kind(db, "test_concurrent") == []


async def test_a_claim_is_one_statement_and_a_batch_two(db) -> None:
    """`claim_next` leases the next job by one UPDATE ... RETURNING (a batch's other jobs by a
    second), in the order they were due, each marked running with an attempt counted."""
    from sqlalchemy import event

    async with db.transaction() as session:
        queue.enqueue(session, "test_single", {})
        for n in range(3):
            queue.enqueue(session, "test_batched", {"n": n}, delay=0.001 * n)
    await asyncio.sleep(0.01)
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            sent.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        single = await queue.claim_next(db, "w1", 30)
        assert [j.kind for j in single] == ["test_single"] and len(sent) == 1
        sent.clear()
        batch = await queue.claim_next(db, "w1", 30)
        assert len(sent) == 2
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert [j.payload["n"] for j in batch] == [0, 1, 2]
    assert all(j.attempts == 1 for j in single + batch)
    assert await queue.claim_next(db, "w2", 30) == []  # all leased
    leased = await jobs_of_kind(db, "test_batched")
    assert {(j.state, j.locked_by) for j in leased} == {(JobState.RUNNING, "w1")}


async def test_twenty_workers_claiming_at_once_never_share_a_job(db) -> None:
    """Twenty claims at once over 30 due jobs (PostgreSQL: rows locked by another claim are
    passed over; SQLite: writers serialised): every job is leased once, to one worker."""
    async with db.transaction() as session:
        for n in range(30):
            queue.enqueue(session, "test_single", {"n": n})
    got = await asyncio.gather(*(queue.claim_next(db, f"w{i}", 30) for i in range(20)))
    got += await asyncio.gather(*(queue.claim_next(db, f"x{i}", 30) for i in range(20)))
    ids = [job.id for jobs in got for job in jobs]
    assert len(ids) == len(set(ids)) == 30
