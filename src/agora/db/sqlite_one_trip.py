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

**BEGIN and savepoints ride with the next statement.** A transaction's `BEGIN ...`
(db/engine.py sends one at every transaction's start) costs no round trip of its own: the
connection keeps it and runs it in the thread right before the transaction's first
statement, in the same round trip; a transaction that ends before any statement drops it.
`SAVEPOINT x` and `RELEASE SAVEPOINT x` (SQLAlchemy's `begin_nested` and its commit: the job
queue runs every job of a batch in one, jobs/queue.py) are kept the same way, in order, and
run right before the next statement, or the commit or rollback, in its round trip: a job of
a batch thus costs its statements and no more. A commit or rollback when nothing ran in
the thread since the last one (a transaction that ran nothing, the pool's rollback right
after the session's) makes no round trip: SQLite holds no transaction then, and sqlite3's
would do nothing. A read request thus makes two round trips fewer (its statements, then one
rollback).

**The write lock is handed over, not polled for.** SQLite's own busy handler sleeps 1, 2, 5,
10, 15, 20, 25, 25, 25, 50, 50, 100 ms between its tries: a request whose BEGIN IMMEDIATE
met the process's job worker holding the write lock for a few milliseconds got it 8, 18, 33
or 53 ms later, long after it was free (stop 26: POST p99 41-62 ms on SQLite, p90 18). A
`BEGIN IMMEDIATE` here tries without SQLite's busy wait and, while the lock is held, waits as
SQLite's handler would (`BACKOFF`), but is woken at once when a write transaction of this
process's job worker ends (`handing_over`, set by jobs/worker.py: `_WriteTurns`), and tries
again, until the connection's busy timeout; it then raises SQLite's own "database is locked".
Only jobs hand the lock over: writers of other processes, which cannot be woken, keep their
share, and so do requests against each other (handed over from request to request, eight
concurrent sign-ins took the lock from another process's writer for 36-54 % of the time
instead of 7-36 %: tests/test_sign_in_locks.py); a job waiting behind a request backs off as
before, so requests keep their precedence. Whoever gets the lock is still SQLite's decision:
this only wakes the waiters when it may be free.

Invariants: the same sqlite3 calls run in the same thread in the same order as with
aiosqlite's cursor (kept statements run, in the order they were sent, before anything else
the connection runs, and a transaction that runs nothing never reached SQLite), so
transactions, locks and errors are SQLite's own (a BEGIN IMMEDIATE that times out on the
write lock raises from the first statement, the same `OperationalError`, before that
statement runs; a kept statement that fails raises from the call it rode with, before that
call's own statement runs); `rowcount` and `lastrowid` are read in that thread right after
the statement's rows. Only `ROLLBACK TO` is never kept (it may follow a failed statement
and must answer at once). It relies on aiosqlite's `Connection._execute` (one queued
call), so aiosqlite is pinned exactly.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import aiosqlite

PREFETCH = 500  # rows read with the statement itself; the rest only when asked for
BEGINS = ("BEGIN DEFERRED", "BEGIN IMMEDIATE")  # what db/engine.py starts transactions with
# statements kept for the next call (module docstring): BEGIN, and SQLAlchemy's savepoints
KEPT = (*BEGINS, "SAVEPOINT ", "RELEASE SAVEPOINT ")

# the longest waits between a BEGIN IMMEDIATE's tries, SQLite's own busy handler's (sqlite3.c,
# sqliteDefaultBusyCallback), the last one repeated: the end of a job's write transaction
# wakes the waiters sooner
BACKOFF = (0.001, 0.002, 0.005, 0.010, 0.015, 0.020, 0.025, 0.025, 0.025, 0.050, 0.050, 0.100)

Rows = list[Any]


class _WriteTurns:
    """Wakes the threads waiting for SQLite's write lock when a job of this process ends a
    write transaction (one for the process: a wake-up for another file's lock costs a try)."""

    def __init__(self) -> None:
        self._ended = threading.Condition()
        self.generation = 0  # jobs' write transactions ended so far

    def ended(self) -> None:
        """A job's write transaction in this process ended: wake every waiter."""
        with self._ended:
            self.generation += 1
            self._ended.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        """Wait until a job's write transaction ends after the `seen` generation, at most
        `timeout`."""
        with self._ended:
            if self.generation == seen:
                self._ended.wait(timeout)


_TURNS = _WriteTurns()
_HANDING_OVER: ContextVar[bool] = ContextVar("agora_sqlite_handing_over", default=False)


@contextmanager
def handing_over() -> Iterator[None]:
    """Inside (the job worker's tasks), the end of each write transaction wakes at once the
    writers of this process waiting for SQLite's write lock (the module docstring)."""
    token = _HANDING_OVER.set(True)
    try:
        yield
    finally:
        _HANDING_OVER.reset(token)


def _begin_immediate(connection: sqlite3.Connection, sql: str, busy_timeout: float) -> None:
    """In the connection's thread: `sql` (a BEGIN IMMEDIATE), tried again each time a job's
    write transaction in this process ends (or after the next of `BACKOFF`'s waits) while another
    connection holds the write lock, for at most `busy_timeout` seconds (the module
    docstring)."""
    deadline = time.monotonic() + busy_timeout
    connection.execute("PRAGMA busy_timeout=0")
    try:
        for tries in itertools.count():
            seen = _TURNS.generation
            try:
                connection.execute(sql)
                return
            except sqlite3.OperationalError as error:
                left = deadline - time.monotonic()
                if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or left <= 0:
                    raise
                _TURNS.wait(seen, min(BACKOFF[min(tries, len(BACKOFF) - 1)], left))
    finally:
        connection.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")


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

    def _run(self, kept: list[str], many: bool, sql: str, parameters: Any) -> tuple[Any, ...]:
        """In the connection's thread: the kept statements if any, then run, read up to
        PREFETCH rows, close when done."""
        _run_kept(self._connection._conn, kept, self._connection.busy_timeout)
        if "BEGIN IMMEDIATE" in kept:
            self._connection.writing = True
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
        kept = self._connection.take_kept()
        found = await _in_thread(self._connection, self._run, kept, many, sql, parameters)
        self.description, self._rows, self.rowcount, self.lastrowid, self._open = found
        return self

    async def execute(self, sql: str, parameters: Any = None) -> OneTripCursor:
        """Run one statement (and read its first rows) in one round trip; a transaction's
        BEGIN, a SAVEPOINT or its RELEASE is kept for the next call instead (no round trip)."""
        if not parameters and sql.startswith(KEPT):
            await self.close()
            self.description, self._rows, self.rowcount, self.lastrowid = None, [], -1, None
            self._connection.keep(sql)
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


def _run_kept(connection: sqlite3.Connection, kept: list[str], busy_timeout: float) -> None:
    """In the connection's thread: the statements kept for this call, in order (a BEGIN
    IMMEDIATE waiting for the write lock as `_begin_immediate` does)."""
    for sql in kept:
        if sql == "BEGIN IMMEDIATE":
            _begin_immediate(connection, sql, busy_timeout)
        else:
            connection.execute(sql)


class OneTripConnection(aiosqlite.Connection):
    """aiosqlite's connection whose cursors make one round trip per statement, and whose
    transactions' BEGIN and savepoints ride with the next statement."""

    kept: list[str] | None = None  # BEGIN, SAVEPOINT, RELEASE not sent yet, in order
    ran = False  # a call ran in the thread since the last commit or rollback
    busy_timeout = 5.0  # seconds a BEGIN IMMEDIATE waits for the write lock (`connect`'s timeout)
    writing = False  # the transaction holds the write lock (its BEGIN IMMEDIATE ran)

    def keep(self, sql: str) -> None:
        """Keep a statement for the next call (a BEGIN starts a new list: nothing can be
        kept from before a transaction's start)."""
        if self.kept is None or sql.startswith(BEGINS):
            self.kept = []
        self.kept.append(sql)

    def take_kept(self) -> list[str]:
        """The statements kept for the next call, which must run them first."""
        kept, self.kept = self.kept or [], None
        return kept

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
        kept = self.take_kept()
        if self.ran:  # else SQLite holds no transaction: sqlite3's own end would do nothing
            writing, self.writing = self.writing and _HANDING_OVER.get(), False
            await super()._execute(_ended, self._conn, kept, end, writing)  # type: ignore[no-untyped-call]
            self.ran = False

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        """A cursor; made without a round trip (its sqlite3 cursor is made per statement)."""
        return OneTripCursor(self)


def _ended(connection: sqlite3.Connection, kept: list[str], end: Any, writing: bool) -> None:
    """In the connection's thread: the kept statements (savepoints of the transaction that
    ends; none when it is a BEGIN never followed by anything), then its commit or rollback;
    with `writing` (a job's write transaction), the writers waiting for the lock are woken."""
    if kept and not kept[0].startswith(BEGINS):
        _run_kept(connection, kept, 0.0)  # savepoints only: never a BEGIN
    try:
        end()
    finally:
        if writing:
            _TURNS.ended()


def connect(path: str, **kwargs: Any) -> OneTripConnection:
    """A connection to the SQLite database at `path` (`sqlite3.connect`'s `kwargs`), its
    thread a daemon as SQLAlchemy makes aiosqlite's; await it to open."""

    def connector() -> sqlite3.Connection:
        connection: sqlite3.Connection = sqlite3.connect(path, **kwargs)
        return connection

    connection = OneTripConnection(connector, 64)
    connection._thread.daemon = True
    connection.busy_timeout = float(kwargs.get("timeout", 5.0))
    return connection
