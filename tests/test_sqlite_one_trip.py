"""db/sqlite_one_trip.py: SQLite statements make one thread round trip each, and answer what
aiosqlite's own cursor answers (rows, long results streamed, rowcount, errors, rollback), and a
writer waiting behind a job of this process gets the write lock as soon as the job lets it go
(a request's, or another process's, is waited for at SQLite's own pace, so writers keep their
share: tests/test_sign_in_locks.py). SQLite only (it is SQLite's driver)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from agora.db import sqlite_one_trip
from agora.db.engine import Database, is_lock_timeout
from helpers import ON_POSTGRES

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="the SQLite driver")


@pytest.fixture
async def one_trip_db(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/one.db")
    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield db
    await db.dispose()


async def test_a_statement_is_one_round_trip_with_the_same_answers(one_trip_db, monkeypatch):
    trips = []
    real = sqlite_one_trip._in_thread

    async def counted(connection, fn, *args):  # type: ignore[no-untyped-def]
        trips.append(fn)
        return await real(connection, fn, *args)

    monkeypatch.setattr(sqlite_one_trip, "_in_thread", counted)
    db = one_trip_db
    async with db.transaction() as session:
        trips.clear()
        await session.execute(text("INSERT INTO t (v) VALUES ('a'), ('b'), ('c')"))
        rows = (await session.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
        updated = await session.execute(text("UPDATE t SET v = v || '!' WHERE v != 'b'"))
        assert len(trips) == 3  # three statements (the BEGIN rides with the first)
    assert rows == ["a", "b", "c"] and updated.rowcount == 2

    with pytest.raises(IntegrityError):  # the error is SQLite's, and nothing of it stays
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('z')"))
            await session.execute(text("INSERT INTO t (v) VALUES ('b')"))
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM t WHERE v = 'z'")) == 0


async def test_begin_rides_with_the_first_statement_and_an_empty_transaction_costs_nothing(
    one_trip_db, monkeypatch
):
    trips = []  # every call queued to a connection's thread (statements, commit, rollback)
    real = aiosqlite.Connection._execute

    async def counted(connection, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        trips.append(fn)
        return await real(connection, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    db = one_trip_db
    async with db.session() as session:  # a read: its statement, then the rollback
        await session.connection()
        trips.clear()  # (the pool's connection may have been opened just now)
        assert await session.scalar(text("SELECT count(*) FROM t")) == 0
    assert len(trips) == 2
    trips.clear()
    async with db.transaction() as session:  # begun, nothing run: no round trip at all
        await session.connection()
    assert trips == []

    # A write transaction takes the write lock at its first statement: a second writer waits
    # for it (busy timeout) rather than both writing, and a reader is not blocked meanwhile.
    async with db.transaction() as first:
        await first.execute(text("INSERT INTO t (v) VALUES ('first')"))
        async with db.session() as reader:
            assert await reader.scalar(text("SELECT count(*) FROM t")) == 0  # snapshot
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM t")) == 1


async def test_a_long_result_is_read_whole_and_streamed(one_trip_db) -> None:
    db = one_trip_db
    n = sqlite_one_trip.PREFETCH * 2 + 7
    async with db.transaction() as session:
        await session.execute(
            text("INSERT INTO t (v) VALUES (:v)"), [{"v": str(i)} for i in range(n)]
        )
    async with db.session() as session:
        assert len((await session.execute(text("SELECT v FROM t"))).all()) == n
    async with db.engine.connect() as conn:
        result = await conn.stream(text("SELECT v FROM t ORDER BY id"))
        seen = [row.v async for row in result]
    assert seen == [str(i) for i in range(n)]


async def test_savepoints_ride_with_the_next_statement_and_keep_their_meaning(
    one_trip_db, monkeypatch
) -> None:
    """A SAVEPOINT and its RELEASE make no round trip of their own (they run, in order, with
    the next statement or the commit), and savepoints mean what they mean in SQLite: a
    released one's rows commit, a rolled-back one's (after a failed statement) do not."""
    trips = []
    real = aiosqlite.Connection._execute

    async def counted(connection, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        trips.append(fn)
        return await real(connection, fn, *args, **kwargs)

    db = one_trip_db
    async with db.transaction() as session:
        await session.connection()
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        async with session.begin_nested():  # released
            await session.execute(text("INSERT INTO t (v) VALUES ('kept')"))
        assert len(trips) == 1  # BEGIN and SAVEPOINT rode with the INSERT
        with pytest.raises(IntegrityError):
            async with session.begin_nested():  # the RELEASE above rides with its SAVEPOINT
                await session.execute(text("INSERT INTO t (v) VALUES ('undone')"))
                await session.execute(text("INSERT INTO t (v) VALUES ('kept')"))
        assert len(trips) == 4  # two INSERTs, then ROLLBACK TO (never kept)
        async with session.begin_nested():
            await session.execute(text("INSERT INTO t (v) VALUES ('last')"))
        assert len(trips) == 5
    assert len(trips) == 6  # the last RELEASE rode with the commit
    async with db.session() as session:
        rows = (await session.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
    assert rows == ["kept", "last"]

    trips.clear()  # a savepoint opened and released with nothing in it reaches nothing
    async with db.transaction() as session, session.begin_nested():
        pass
    assert trips == []


# SQLite's busy handler tries at 1, 3, 8, 18, 33, 53, 78, 103, 128, 178, 228, 328 ms of a
# wait: a lock let go 235 ms after the writer first asked is found 93 ms late by it
HOLD = 0.235
LATE = 0.05  # at most this late with the hand-over (93 ms with SQLite's busy handler)


async def _wait_for_held_lock(db: Database, take, let_go) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Take SQLite's write lock (`take`), then have a writer of `db` ask for it, and let it go
    (`let_go`) `HOLD` seconds after the writer asked; the seconds from the release to the
    writer's first statement done, and the writer's whole wait."""
    await take()
    asking = asyncio.Event()

    async def writer() -> tuple[float, float]:
        async with db.transaction() as session:
            started = time.monotonic()
            asking.set()
            await session.execute(text("INSERT INTO t (v) VALUES ('second')"))
            return time.monotonic() - started, time.monotonic()

    waiting = asyncio.create_task(writer())
    await asking.wait()
    await asyncio.sleep(HOLD)
    await let_go()
    released_at = time.monotonic()
    waited, got_at = await waiting
    return got_at - released_at, waited


async def _held_by_this_process(db: Database, *, job: bool) -> tuple[float, float]:
    """`_wait_for_held_lock` with the lock held by a write transaction of this process, in
    the job worker's context (`handing_over`) or not."""
    first = db.session(write=True)

    async def take() -> None:
        await first.execute(text("INSERT INTO t (v) VALUES ('first')"))

    async def let_go() -> None:
        if job:
            with sqlite_one_trip.handing_over():
                await first.commit()
        else:
            await first.commit()
        await first.close()

    return await _wait_for_held_lock(db, take, let_go)


async def test_a_request_waiting_behind_a_job_gets_the_lock_as_soon_as_it_is_released(
    one_trip_db,
) -> None:
    """SQLite's busy handler sleeps longer and longer between its tries (`HOLD`): a writer
    waiting behind a job's transaction is woken when that transaction ends."""
    db = one_trip_db
    late, waited = await _held_by_this_process(db, job=True)
    assert waited >= HOLD  # it did wait for the lock
    assert late < LATE
    async with db.session() as session:
        rows = (await session.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
    assert rows == ["first", "second"]


async def test_only_a_jobs_write_transaction_wakes_the_waiting_writers(one_trip_db) -> None:
    """Outside jobs nothing is handed over (a writer waiting behind a request keeps SQLite's
    pace, so writers of other processes keep their share: tests/test_sign_in_locks.py): the
    end of a request's write transaction, or of a job's read, wakes nobody."""
    db = one_trip_db
    turns = sqlite_one_trip._TURNS

    async def write(v: str) -> None:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": v})

    before = turns.generation
    await write("a request's")
    with sqlite_one_trip.handing_over():
        async with db.session() as session:
            await session.scalar(text("SELECT count(*) FROM t"))
    assert turns.generation == before
    with sqlite_one_trip.handing_over():
        await write("a job's")
    assert turns.generation == before + 1


async def test_a_writer_waits_no_longer_than_the_busy_timeout(tmp_path: Path) -> None:
    """Past the busy timeout (the database's lock timeout) the writer gets SQLite's own
    "database is locked", which the doors answer with 503 (`is_lock_timeout`)."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/one.db", lock_timeout=0.2)
    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    other = sqlite3.connect(tmp_path / "one.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    try:
        with pytest.raises(OperationalError) as raised:
            async with db.transaction() as session:
                await session.execute(text("INSERT INTO t (v) VALUES ('late')"))
        waited = time.monotonic() - started
    finally:
        other.execute("ROLLBACK")
        other.close()
        await db.dispose()
    assert is_lock_timeout(raised.value)
    assert 0.19 <= waited < 1.0
