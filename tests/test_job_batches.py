"""Jobs run in batches (jobs/queue.py `run_batch`): one poisoned job fails alone, a worker killed
mid-batch commits nothing and its jobs run once after the lease, and processing a received
activity costs a bounded number of SQL statements."""

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
from sqlalchemy import event, insert, select

import agora
from agora.config import get_settings
from agora.db.models import Follow, HomeFeedEntry, Job, Post
from agora.events.process_bus import get_bus
from agora.events.publishing import publish_after_commit
from agora.ids import new_id
from agora.jobs import queue
from agora.jobs.job_kinds import JobKind, JobState
from agora.jobs.worker import Worker
from helpers import ON_POSTGRES

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


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


async def _jobs(db: Any, kind: str) -> list[Job]:
    async with db.session() as session:
        found = await session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id))
        return list(found.all())


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
    effects = await _jobs(db, "test_effect")
    assert sorted(job.payload["n"] for job in effects) == [0, 1, 3, 4]
    assert sorted(e["n"] for e in events if e.get("event") == "test_batched") == [0, 1, 3, 4]
    [left] = await _jobs(db, "test_batched")
    assert left.payload["n"] == 2 and left.state == JobState.PENDING
    assert left.attempts == 1 and "poisoned activity" in (left.last_error or "")
    assert left.locked_by is None


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
    effects = sorted((j.payload["n"], j.payload["part"]) for j in await _jobs(db, "test_effect"))
    assert effects == [(0, 1), (0, 2), (2, 1), (2, 2)]
    [left] = await _jobs(db, "test_committing")
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
    assert sorted(job.payload["n"] for job in await _jobs(db, "test_effect")) == [0, 1, 2]
    assert await _jobs(db, "test_batched") == []


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
    assert await _jobs(db, "test_effect") == []  # the first two applied, never committed
    held = await _jobs(db, "test_batch_hang")
    assert len(held) == 4 and {job.state for job in held} == {JobState.RUNNING}
    lease = get_settings().job_lease_seconds
    while await Worker(db).run_until_idle() == 0:
        assert time.monotonic() - killed <= lease + 5, "the batch was not run again"
        await asyncio.sleep(0.2)
    assert sorted(CALLS) == [0, 1, 2, 3]
    assert sorted(job.payload["n"] for job in await _jobs(db, "test_effect")) == [0, 1, 2, 3]
    assert await _jobs(db, "test_batch_hang") == []


# --- statements per received activity -------------------------------------------------------

STATEMENTS_FIRST = 22  # one Create alone: its batch's claim and transaction, its hashtags
STATEMENTS_EACH_MORE = 10  # each further Create of the same batch, its savepoint's two included
# SQLite: each further Create's thread round trips (its savepoint's ride with its statements:
# delete the job, look the note up, insert the post, count it, read the followers and the
# subscribers, insert the feed rows and count them)
ROUND_TRIPS_EACH_MORE = 8


async def _author_with_fans(db: Any, fans: int) -> tuple[int, str]:
    """A remote author (stored as the inbox stores one) followed by `fans` local accounts."""
    from agora.federation.actors import RemoteActor, store_actor
    from agora.social.people.accounts import create_account

    uri = "https://remote.example/users/author"
    async with db.transaction() as session:
        author = await store_actor(
            session,
            RemoteActor(
                uri=uri,
                username="author",
                domain="remote.example",
                display_name="author",
                note_html="",
                url=None,
                inbox=f"{uri}/inbox",
                shared_inbox="https://remote.example/inbox",
                followers=f"{uri}/followers",
                public_key_pem="",
                locked=False,
                bot=False,
                discoverable=True,
            ),
        )
        ids = []
        for i in range(fans):
            account = await create_account(session, username=f"fan{i}", display_name="fan")
            await session.flush()
            ids.append(account.id)
        await session.execute(
            insert(Follow),
            [{"id": new_id(), "account_id": a, "target_account_id": author.id} for a in ids],
        )
        return author.id, uri


def _create(actor: str, n: int) -> dict[str, Any]:
    public = "https://www.w3.org/ns/activitystreams#Public"
    return {
        "id": f"{actor}/statuses/{n}/activity",
        "type": "Create",
        "actor": actor,
        "to": [public],
        "object": {
            "id": f"{actor}/statuses/{n}",
            "type": "Note",
            "attributedTo": actor,
            "content": f"<p>remote post {n}</p>",
            "to": [public],
            "cc": [f"{actor}/followers"],
        },
    }


async def _queue_creates(db: Any, author_id: int, uri: str, numbers: range) -> None:
    """Queue received Creates of these numbers' Notes, as the inbox queues them."""
    from agora.job_registry import register_all_jobs

    register_all_jobs()
    async with db.transaction() as session:
        for n in numbers:
            payload = {"activity": _create(uri, n), "actor_id": author_id}
            queue.enqueue(session, JobKind.AP_INBOX, payload)  # type: ignore[arg-type]


async def _statements_to_process(db: Any, author_id: int, uri: str, numbers: range) -> int:
    """SQL statements one worker sends to process these received Creates (queued at once)."""
    await _queue_creates(db, author_id, uri, numbers)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        worker = Worker(db, batch=100)
        assert await worker.run_until_idle() == len(numbers)
        assert worker.failed == 0
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    return len(statements)


async def test_processing_a_received_post_costs_a_bounded_number_of_statements(
    db, monkeypatch
) -> None:
    """A received Create of a public post whose author has 10 local followers is stored and in
    their feeds with one job (no `distribute_post` job) in at most STATEMENTS_FIRST statements
    (claim and commit included); in a batch, each further one costs STATEMENTS_EACH_MORE."""
    author_id, uri = await _author_with_fans(db, 10)
    monkeypatch.setattr(queue, "BATCH_SECONDS", 3600)  # one transaction, however loaded
    one = await _statements_to_process(db, author_id, uri, range(1))
    ten = await _statements_to_process(db, author_id, uri, range(1, 11))
    assert one <= STATEMENTS_FIRST, one
    assert ten <= STATEMENTS_FIRST + 9 * STATEMENTS_EACH_MORE, ten
    async with db.session() as session:
        posts = (await session.scalars(select(Post.id).where(Post.account_id == author_id))).all()
        assert len(posts) == 11
        feeds = await session.scalars(select(HomeFeedEntry).where(HomeFeedEntry.post_id.in_(posts)))
        assert len(feeds.all()) == 11 * 11  # the followers' and the author's (as for any post)
        assert (await session.scalars(select(Job.kind))).all() == []  # no second job


async def _round_trips_to_process(
    db: Any, author_id: int, uri: str, numbers: range, monkeypatch: Any
) -> int:
    """SQLite: the calls one worker makes into the connections' threads to process these
    received Creates (statements, commits and rollbacks)."""
    import aiosqlite

    await _queue_creates(db, author_id, uri, numbers)
    trips = [0]
    real = aiosqlite.Connection._execute

    async def counted(connection: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips[0] += 1
        return await real(connection, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    try:
        assert await Worker(db, batch=100).run_until_idle() == len(numbers)
    finally:
        monkeypatch.setattr(aiosqlite.Connection, "_execute", real)
    return trips[0]


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's thread round trips")
async def test_a_received_post_in_a_batch_costs_its_statements_and_no_more_round_trips(
    db, monkeypatch
) -> None:
    """SQLite: in a batch, each further received Create costs ROUND_TRIPS_EACH_MORE calls into
    the connection's thread: its savepoint and the savepoint's release ride with its
    statements (db/sqlite_one_trip.py), and its sender is read once per transaction."""
    author_id, uri = await _author_with_fans(db, 10)
    monkeypatch.setattr(queue, "BATCH_SECONDS", 3600)  # one transaction, however loaded
    one = await _round_trips_to_process(db, author_id, uri, range(1), monkeypatch)
    eleven = await _round_trips_to_process(db, author_id, uri, range(1, 12), monkeypatch)
    assert eleven - one <= 10 * ROUND_TRIPS_EACH_MORE, (one, eleven)


async def test_a_poisoned_received_post_in_a_batch_leaves_nothing_and_the_others_apply_once(
    db, monkeypatch
) -> None:
    """Five received Creates by one sender in one batch, the third failing after its post,
    mentions and feed rows were written: the four others are stored once each and counted
    once on the sender (read once for the batch); of the third nothing remains (no post, no
    feed row, not counted) and its job is left for a retry, which stores it once."""
    from agora.db.models import Account
    from agora.federation import inbound_posts

    author_id, uri = await _author_with_fans(db, 3)
    real_store = inbound_posts.store_remote_post

    async def poisoned(session: Any, author: Any, note: dict[str, Any]) -> Any:
        post = await real_store(session, author, note)
        if note["id"].endswith("/statuses/2"):
            await session.flush()
            raise RuntimeError("poisoned activity")
        return post

    monkeypatch.setattr(inbound_posts, "store_remote_post", poisoned)
    monkeypatch.setattr(queue, "BATCH_SECONDS", 3600)  # one transaction, however loaded
    await _queue_creates(db, author_id, uri, range(5))
    worker = Worker(db, batch=100)
    assert await worker.run_until_idle() == 5
    assert (worker.processed, worker.failed) == (4, 1)

    async def stored() -> tuple[list[str], int, int]:
        async with db.session() as session:
            uris = await session.scalars(select(Post.uri).where(Post.account_id == author_id))
            posts = sorted(u.rsplit("/", 1)[1] for u in uris.all())
            feeds = await session.scalars(select(HomeFeedEntry.post_id))
            author = await session.get(Account, author_id)
            assert author is not None
            return posts, len(feeds.all()), author.statuses_count

    assert await stored() == (["0", "1", "3", "4"], 4 * 4, 4)
    [left] = await _jobs(db, JobKind.AP_INBOX)
    assert left.state == JobState.PENDING and left.attempts == 1
    assert "poisoned activity" in (left.last_error or "")

    monkeypatch.setattr(inbound_posts, "store_remote_post", real_store)
    async with db.transaction() as session:  # due now, as its backoff would make it later
        left = await session.get(Job, left.id)
        assert left is not None
        left.run_at = left.created_at
    assert await Worker(db).run_until_idle() == 1
    assert await stored() == (["0", "1", "2", "3", "4"], 5 * 4, 5)


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
    effects = await _jobs(db, "test_effect")
    assert sorted(job.payload["n"] for job in effects) == [0, 1, 2, 3, 5]
    [left] = await _jobs(db, "test_concurrent")
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
    effects = await _jobs(db, "test_effect")
    assert sorted(job.payload["n"] for job in effects) == list(range(25))
    assert await _jobs(db, "test_concurrent") == []
