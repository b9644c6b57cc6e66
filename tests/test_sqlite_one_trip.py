"""db/sqlite_one_trip.py: SQLite statements make one thread round trip each, and answer what
aiosqlite's own cursor answers (rows, long results streamed, rowcount, errors, rollback).
SQLite only (it is SQLite's driver)."""

from __future__ import annotations

from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from agora.db import sqlite_one_trip
from agora.db.engine import Database
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
