"""SQLite through aiosqlite with one thread round trip per statement.

aiosqlite runs every sqlite3 call in its connection's own thread; SQLAlchemy's adapter makes
four such calls for a statement (make a cursor, execute, fetch the rows, close the cursor),
and each is a round trip between the event loop and that thread: a queue put, a wake-up and
the GIL handed over twice, two context switches and, on a busy machine, a wait for a core
each time. A received activity (bench/federation.py) cost 15 statements but about 55 round
trips; with this module, 17.

`OneTripConnection` is aiosqlite's connection with another cursor: `execute` makes the
sqlite3 cursor, runs the statement, reads its first `PREFETCH` rows and, when that is all of
them, closes the cursor, in one call in the connection's thread; `fetch*` and `close` then
answer from what was read, with no round trip. A result longer than `PREFETCH` rows keeps its
cursor open and reads the rest as aiosqlite would (a streamed result stays bounded).

**BEGIN rides with the first statement.** A transaction's `BEGIN ...` (db/engine.py sends
one at every transaction's start) costs no round trip of its own: the connection keeps it
and runs it in the thread right before the transaction's first statement, in the same
round trip; a transaction that ends before any statement drops it. A commit or rollback
when nothing ran in the thread since the last one (a transaction that ran nothing, the
pool's rollback right after the session's) makes no round trip: SQLite holds no
transaction then, and sqlite3's would do nothing. A read request thus makes two round trips
fewer (its statements, then one rollback).

Invariants: the same sqlite3 calls run in the same thread in the same order as with
aiosqlite's cursor (a kept BEGIN runs before anything else the transaction runs, and a
transaction that runs nothing never reached SQLite), so transactions, locks and errors are
SQLite's own (a BEGIN IMMEDIATE that times out on the write lock raises from the first
statement, the same `OperationalError`, before that statement runs); `rowcount` and
`lastrowid` are read in that thread right after the statement's rows. It relies on
aiosqlite's `Connection._execute` (one queued call), so aiosqlite is pinned exactly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite

PREFETCH = 500  # rows read with the statement itself; the rest only when asked for
BEGINS = ("BEGIN DEFERRED", "BEGIN IMMEDIATE")  # what db/engine.py starts transactions with

Rows = list[Any]


async def _in_thread(connection: OneTripConnection, fn: Any, *args: Any) -> Any:
    """Run `fn(*args)` in the connection's thread: one round trip."""
    return await connection._execute(fn, *args)


class OneTripCursor:
    """The cursor SQLAlchemy's aiosqlite adapter drives (see the module docstring)."""

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self._open: sqlite3.Cursor | None = None  # only while rows remain unread
        self._rows: Rows = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def _run(self, begin: str | None, many: bool, sql: str, parameters: Any) -> tuple[Any, ...]:
        """In the connection's thread: the kept BEGIN if any, then run, read up to PREFETCH
        rows, close when done."""
        if begin is not None:
            self._connection._conn.execute(begin)
        cursor = self._connection._conn.cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters)
            description = cursor.description
            rows = cursor.fetchmany(PREFETCH) if description else []
            state = (description, rows, cursor.rowcount, cursor.lastrowid)
        except BaseException:
            cursor.close()
            raise
        if len(rows) < PREFETCH:
            cursor.close()
            return (*state, None)
        return (*state, cursor)

    async def _start(self, many: bool, sql: str, parameters: Any) -> OneTripCursor:
        await self.close()
        begin, self._connection.kept_begin = self._connection.kept_begin, None
        found = await _in_thread(self._connection, self._run, begin, many, sql, parameters)
        self.description, self._rows, self.rowcount, self.lastrowid, self._open = found
        return self

    async def execute(self, sql: str, parameters: Any = None) -> OneTripCursor:
        """Run one statement (and read its first rows) in one round trip; a transaction's
        BEGIN is kept for the next statement instead (no round trip)."""
        if not parameters and sql.startswith(BEGINS):
            await self.close()
            self.description, self._rows, self.rowcount, self.lastrowid = None, [], -1, None
            self._connection.kept_begin = sql
            return self
        return await self._start(False, sql, () if parameters is None else parameters)

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> OneTripCursor:
        """Run one statement for each set of parameters, in one round trip."""
        return await self._start(True, sql, parameters)

    async def fetchall(self) -> Rows:
        """Every row not read yet."""
        rows, self._rows = self._rows, []
        if self._open is not None:
            rows += await _in_thread(self._connection, self._open.fetchall)
            await self.close()
        return rows

    async def fetchmany(self, size: int | None = None) -> Rows:
        """Up to `size` (default `arraysize`) more rows."""
        wanted = self.arraysize if size is None else size
        if len(self._rows) < wanted and self._open is not None:
            more: Sequence[Any] = await _in_thread(
                self._connection, self._open.fetchmany, max(wanted - len(self._rows), PREFETCH)
            )
            self._rows += more
            if not more:
                await self.close()
        rows, self._rows = self._rows[:wanted], self._rows[wanted:]
        return rows

    async def fetchone(self) -> Any:
        """The next row, or None."""
        rows = await self.fetchmany(1)
        return rows[0] if rows else None

    async def close(self) -> None:
        """Close the sqlite3 cursor if it is still open (one round trip then, else none)."""
        if self._open is not None:
            cursor, self._open = self._open, None
            await _in_thread(self._connection, cursor.close)


class OneTripConnection(aiosqlite.Connection):
    """aiosqlite's connection whose cursors make one round trip per statement, and whose
    transactions' BEGIN rides with their first statement."""

    kept_begin: str | None = None  # a transaction's BEGIN not sent yet
    ran = False  # a call ran in the thread since the last commit or rollback

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Queue one call to the connection's thread (aiosqlite's), noting that it ran."""
        self.ran = True
        return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    async def commit(self) -> None:
        """Commit the transaction (no round trip if nothing ran since the last end)."""
        await self._end(self._conn.commit)

    async def rollback(self) -> None:
        """Roll back the transaction (no round trip if nothing ran since the last end)."""
        await self._end(self._conn.rollback)

    async def _end(self, end: Any) -> None:
        self.kept_begin = None
        if self.ran:  # else SQLite holds no transaction: sqlite3's own end would do nothing
            await super()._execute(end)  # type: ignore[no-untyped-call]
            self.ran = False

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        """A cursor; made without a round trip (its sqlite3 cursor is made per statement)."""
        return OneTripCursor(self)


def connect(path: str, **kwargs: Any) -> OneTripConnection:
    """A connection to the SQLite database at `path` (`sqlite3.connect`'s `kwargs`), its
    thread a daemon as SQLAlchemy makes aiosqlite's; await it to open."""

    def connector() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(path, **kwargs)
        return connection

    connection = OneTripConnection(connector, 64)
    connection._thread.daemon = True
    return connection
