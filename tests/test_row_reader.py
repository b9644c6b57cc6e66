"""db/row_reader.py: one statement outside any session, and never an error for its caller."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from agora.db.row_reader import (
    WAL_INDEX_HEADER,
    PostgresRowReader,
    SqliteRowReader,
    row_reader,
)


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


def _wal_database(path: Any) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE t (n INTEGER)")


def _pragma_version(path: Any) -> Callable[[], int]:
    """`PRAGMA data_version` on a connection of its own: what SQLite itself says."""
    connection = sqlite3.connect(path, isolation_level=None)
    return lambda: int(connection.execute("PRAGMA data_version").fetchone()[0])


async def test_the_wal_index_header_and_sqlite_s_data_version_agree(tmp_path):
    """The reader's data version (the wal-index header, no SQLite call) changes exactly when
    SQLite's `PRAGMA data_version` does: at every commit of another connection, whatever
    it wrote (and at a checkpoint that empties the log: a page is then proved once more),
    not at reads or a write rolled back."""
    path = tmp_path / "versions.db"
    _wal_database(path)
    reader = SqliteRowReader(str(path))
    sqlite_says = _pragma_version(path)
    writer = sqlite3.connect(path, isolation_level=None)
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("insert", lambda: writer.execute("INSERT INTO t VALUES (1)")),
        ("read", lambda: writer.execute("SELECT count(*) FROM t").fetchone()),
        ("update", lambda: writer.execute("UPDATE t SET n = n + 1")),
        ("rolled back", lambda: writer.executescript("BEGIN; DELETE FROM t; ROLLBACK;")),
        ("checkpoint", lambda: writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()),
        ("after a checkpoint", lambda: writer.execute("INSERT INTO t VALUES (2)")),
        ("a new table", lambda: writer.execute("CREATE TABLE u (m INTEGER)")),
        ("nothing", lambda: None),
        ("two commits", lambda: writer.executescript("INSERT INTO u VALUES (1); DELETE FROM u;")),
    ]
    try:
        assert reader.data_version() is not None and reader._wal_index is not None
        for name, step in steps:
            ours, theirs = reader.data_version(), sqlite_says()
            step()
            changed, sqlite_changed = reader.data_version() != ours, sqlite_says() != theirs
            assert changed == sqlite_changed, name
            assert changed == (name not in {"read", "rolled back", "nothing"}), name
    finally:
        writer.close()
        await reader.close()


async def test_a_writer_caught_between_the_header_s_two_copies_gives_no_version(tmp_path):
    path = tmp_path / "torn.db"
    _wal_database(path)
    reader = SqliteRowReader(str(path))
    try:
        assert reader.data_version() is not None
        header = bytes(reader._wal_index[: 2 * WAL_INDEX_HEADER])  # type: ignore[index]
        torn = header[:8] + bytes([header[8] ^ 1]) + header[9:]  # first copy's counter moved
        assert reader._header_version(torn) is None  # type: ignore[arg-type]
        assert reader._header_version(header) == reader.data_version()  # type: ignore[arg-type]
    finally:
        await reader.close()


async def test_a_database_not_in_wal_mode_asks_sqlite_for_its_version(tmp_path):
    path = tmp_path / "rollback.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (n INTEGER)")
    reader = SqliteRowReader(str(path))
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        before = reader.data_version()
        assert before is not None and reader._wal_index is None
        assert reader.data_version() == before
        writer.execute("INSERT INTO t VALUES (1)")
        assert reader.data_version() != before
    finally:
        writer.close()
        await reader.close()
