"""db/row_reader.py: one statement outside any session, and never an error for its caller."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest

from agora.db.row_reader import PostgresRowReader, SqliteRowReader, row_reader
from conftest import BACKEND


def test_named_parameters_become_asyncpg_s_positions():
    reader = PostgresRowReader("postgresql+asyncpg://u@127.0.0.1/x", pgbouncer=False)
    sql = "SELECT :a, CAST(:b AS BIGINT[]), :a, x::int FROM t WHERE y = :b_2"
    assert reader._positional(sql) == (
        "SELECT $1, CAST($2 AS BIGINT[]), $1, x::int FROM t WHERE y = $3",
        ("a", "b", "b_2"),
    )


async def test_the_sqlite_reader_reads_and_refuses_writes(tmp_path):
    path = tmp_path / "reader.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE t (n INTEGER)")
        connection.execute("INSERT INTO t VALUES (7)")
    reader = SqliteRowReader(str(path))
    try:
        assert await reader.row("SELECT n FROM t WHERE n = :n", {"n": 7}) == (7,)
        assert await reader.row("SELECT n FROM t WHERE n = :n", {"n": 8}) is None
        assert await reader.row("INSERT INTO t VALUES (:n)", {"n": 9}) is None  # query_only
        assert await reader.row("SELECT count(*) FROM t", {}) == (1,)
    finally:
        await reader.close()


async def test_an_unreachable_postgresql_is_left_alone_for_a_while():
    reader = PostgresRowReader("postgresql+asyncpg://postgres@127.0.0.1:1/none", pgbouncer=False)
    assert await reader.row("SELECT 1", {}) is None
    started = time.monotonic()
    assert await reader.row("SELECT 1", {}) is None  # no second attempt to connect
    assert time.monotonic() - started < 0.05 and reader._open == 0


def test_an_in_memory_sqlite_database_has_no_reader():
    assert row_reader("sqlite+aiosqlite:///:memory:", pgbouncer=False) is None
    assert isinstance(row_reader("sqlite+aiosqlite:///x.db", pgbouncer=False), SqliteRowReader)


async def test_statements_beyond_the_connections_wait_for_one_released(monkeypatch):
    """Twelve statements at once on at most four connections: each gets its row (a busy
    connection is handed over as it is released), and no more than four are opened."""
    import asyncio

    from agora.db import row_reader as module
    from agora.db.row_reader import MAX_CONNECTIONS
    from conftest import PG_ADMIN_URL

    monkeypatch.setattr(module, "WAIT_SECONDS", 10.0)  # a loaded machine connects slowly

    url = PG_ADMIN_URL.replace("postgresql://", "postgresql+asyncpg://")
    reader = PostgresRowReader(url, pgbouncer=False)
    try:
        sql = "SELECT CAST(:n AS INTEGER) FROM pg_sleep(0.005)"
        rows = await asyncio.gather(*(reader.row(sql, {"n": n}) for n in range(12)))
        assert rows == [(n,) for n in range(12)]
        assert reader._open <= MAX_CONNECTIONS
    finally:
        await reader.close()


def _wal_database(path: Any) -> sqlite3.Connection:
    """A database in WAL mode with a table `t`, and a connection of its own to write to it
    (as another process would)."""
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE t (n INTEGER)")
    return sqlite3.connect(path, isolation_level=None)


async def test_another_connection_s_commit_is_seen_once_the_version_asked_is_old(
    tmp_path, monkeypatch
):
    """A data version asked of SQLite is given again for `DATA_VERSION_SECONDS` (no SQLite
    call), so a commit by another connection is seen at the latest that long after."""
    from agora.db import row_reader as module

    monkeypatch.setattr(module, "DATA_VERSION_SECONDS", 0.2)
    path = tmp_path / "versions.db"
    writer = _wal_database(path)
    reader = SqliteRowReader(str(path))
    try:
        before = reader.data_version()
        assert before is not None
        writer.execute("INSERT INTO t VALUES (1)")
        assert reader.data_version() == before  # asked less than 0.2 s ago
        time.sleep(0.25)
        after = reader.data_version()
        assert after is not None and after != before
        time.sleep(0.25)
        assert reader.data_version() == after  # nothing committed since
    finally:
        writer.close()
        await reader.close()


@pytest.mark.skipif(BACKEND != "sqlite", reason="PostgreSQL's token: the change notices'")
async def test_a_commit_of_this_process_s_session_is_seen_at_once(db, make_person, monkeypatch):
    """However long a data version is given again, a session of this process that commits
    makes the next `change_token` ask SQLite: the writer's next request sees its write."""
    from agora.db import row_reader as module

    monkeypatch.setattr(module, "DATA_VERSION_SECONDS", 3600.0)
    before = db.change_token()
    assert before is not None and db.change_token() == before
    await make_person("versioned")  # committed by a session of this process
    assert db.change_token() != before
