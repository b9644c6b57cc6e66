"""db/row_reader.py: one statement outside any session, and never an error for its caller."""

from __future__ import annotations

import time

from agora.db.row_reader import PostgresRowReader, SqliteRowReader, row_reader


def test_named_parameters_become_asyncpg_s_positions():
    reader = PostgresRowReader("postgresql+asyncpg://u@127.0.0.1/x", pgbouncer=False)
    sql = "SELECT :a, CAST(:b AS BIGINT[]), :a, x::int FROM t WHERE y = :b_2"
    assert reader._positional(sql) == (
        "SELECT $1, CAST($2 AS BIGINT[]), $1, x::int FROM t WHERE y = $3",
        ("a", "b", "b_2"),
    )


async def test_the_sqlite_reader_reads_and_refuses_writes(tmp_path):
    import sqlite3

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
