"""One read statement at a time, outside any session: for the few hot checks that need a
single row and no ORM (api/page_cache.py: a kept page is proved unchanged by one statement,
and SQLAlchemy's connection check-out, reset and return cost several times that statement).

- **SQLite**: a connection of the standard library's `sqlite3` to the same file, read-only
  (`PRAGMA query_only`), used synchronously on the event loop's thread. In WAL mode a reader
  never waits for a writer and sees every committed transaction, so a statement costs its
  own execution (tens of microseconds for the bounded statements read here: primary-key
  look-ups and an index range), less than a hop to a connection's thread and back. The
  busy timeout is short: a reader that would wait gives None and the caller reads through
  its session instead. Its `data_version` (what a kept page's proof is tied to) is asked
  of SQLite at most every `DATA_VERSION_SECONDS`, and again after any commit of a session
  of this process: every SQLite call lets go of the GIL for an instant and takes it back,
  which restarts the wait of a thread that wants it (an aiosqlite connection's, with its
  statement's rows), so asked by every request it kept those threads waiting while kept
  pages were served (thread_turns.py).
- **PostgreSQL**: asyncpg connections of its own (at most `MAX_CONNECTIONS`, opened on
  demand, kept idle between statements; a statement finding all busy waits up to
  `WAIT_SECONDS` for one, handed over as it is released), autocommit, each statement one
  round trip with no check-out, reset or return statements. Behind PgBouncer no startup
  settings are sent, and its statement cache stays on only if PgBouncer tracks prepared
  statements (1.21+, `max_prepared_statements`; each new connection is checked:
  db/statement_tracking.py), as the engine's (db/engine.py, `_engine_arguments`).

Invariants: only reads (SQLite's connection refuses writes; callers send SELECTs); a failure
of the reader (a lost connection, a busy file) is never an error for the request: `row`
gives None and the caller falls back to its session. SQLite's data version: the same value
means no commit between when it was asked and the end of its `DATA_VERSION_SECONDS`, except
by another process in those last moments (a page proved before such a commit may be
answered until they end, as if asked a moment earlier); a commit of this process is seen
by the next request (its session's `after_commit` comes before its response).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import sqlite3
import time
from collections import deque
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from agora.db.pg_settings import PLANNER_SETTINGS
from agora.db.statement_tracking import check_statement_tracking

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 4  # PostgreSQL: concurrent statements; more wait for the session path
WAIT_SECONDS = 0.05  # a statement waits this long for a busy connection, then gives None
RETRY_SECONDS = 30.0  # after a failure to connect, the reader is left alone this long
SQLITE_BUSY_MS = 50  # a reader that would wait longer reads through its session instead
DATA_VERSION_SECONDS = 0.002  # SQLite: a data version asked is given again this long
_COMMITS = [0]  # commits of this process's sessions: a version asked before is asked again
_GENERATIONS = itertools.count(1)  # of every reader's connections, in this process
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class SqliteRowReader:
    """The first row of a statement, synchronously, on a read-only connection to the file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._connection: sqlite3.Connection | None = None
        self._generation = 0  # of the connection: a new one counts data versions anew
        self._version: int | None = None  # the data version last asked, given again
        self._version_until = 0.0  # (monotonic) until then
        self._version_commits = -1  # while this process's sessions have committed no more

    def _connect(self) -> sqlite3.Connection:
        self._generation = next(_GENERATIONS)
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA query_only = ON")
        connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
        return connection

    async def row(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The statement's first row, or None when there is none or the file is busy."""
        try:
            if self._connection is None:
                self._connection = self._connect()
            found: tuple[Any, ...] | None = self._connection.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            log.debug("row reader: %r; reading through the session", exc)
            return None
        return found

    def data_version(self) -> int | None:
        """SQLite's `PRAGMA data_version` on the reader's connection, with the connection's
        generation above it (a new connection counts anew: no number repeats across
        connections): it changes whenever any other connection (this process's writers
        included) has committed since, and reads nothing else; None when the file cannot be
        read. Asked again only after `DATA_VERSION_SECONDS` or a commit of this process
        (module docstring)."""
        now, commits = time.monotonic(), _COMMITS[0]  # both before SQLite is asked
        if now < self._version_until and commits == self._version_commits:
            return self._version
        try:
            if self._connection is None:
                self._connection = self._connect()
            row = self._connection.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error as exc:
            log.debug("row reader: %r; no data version", exc)
            self._version_until = 0.0
            return None
        self._version = (self._generation << 40) + int(row[0])
        self._version_until, self._version_commits = now + DATA_VERSION_SECONDS, commits
        return self._version

    async def close(self) -> None:
        """Close the connection."""
        self._version_until = 0.0
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@sa_event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    """A session of this process committed: SQLite readers ask for the data version again
    (whether it wrote is not asked: a commit of a read costs one question more)."""
    _COMMITS[0] += 1


class PostgresRowReader:
    """The first row of a statement on asyncpg connections of the reader's own."""

    def __init__(self, url: str, *, pgbouncer: bool, prepared_statements: bool = True) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self.pgbouncer = pgbouncer
        self.prepared_statements = prepared_statements  # behind PgBouncer: tracked by it
        self._idle: list[Any] = []
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._open = 0
        self._closed = False
        self._down_until = 0.0
        self._sql: dict[str, tuple[str, tuple[str, ...]]] = {}

    def _positional(self, sql: str) -> tuple[str, tuple[str, ...]]:
        """`sql` with `:name` parameters as asyncpg's `$n`, and the names in order."""
        known = self._sql.get(sql)
        if known is None:
            names: list[str] = []

            def number(match: re.Match[str]) -> str:
                if match.group(1) not in names:
                    names.append(match.group(1))
                return f"${names.index(match.group(1)) + 1}"

            known = self._sql[sql] = (_NAMED.sub(number, sql), tuple(names))
        return known

    async def _acquire(self) -> Any:
        if self._idle:
            return self._idle.pop()
        if self._closed:
            return None
        if self._open >= MAX_CONNECTIONS:
            return await self._handed_over()
        if time.monotonic() < self._down_until:
            return None
        import asyncpg

        self._open += 1
        try:
            return await self._connect(asyncpg)
        except BaseException as exc:
            self._open -= 1
            log.warning("row reader: cannot connect (%r); the session path reads meanwhile", exc)
            self._down_until = time.monotonic() + RETRY_SECONDS
            raise

    async def _connect(self, asyncpg: Any) -> Any:
        """A new connection: with `PLANNER_SETTINGS` directly; behind PgBouncer with no
        startup settings (db/pg_settings.py), and either checked for PgBouncer's statement
        tracking or without a statement cache."""
        if not self.pgbouncer:
            return await asyncpg.connect(self.dsn, timeout=5, server_settings=PLANNER_SETTINGS)
        if not self.prepared_statements:
            return await asyncpg.connect(self.dsn, timeout=5, statement_cache_size=0)
        connection = await asyncpg.connect(self.dsn, timeout=5)
        try:
            await check_statement_tracking(connection)
        except BaseException:
            connection.terminate()
            raise
        return connection

    async def _handed_over(self) -> Any:
        """A connection released within `WAIT_SECONDS`, or None."""
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), WAIT_SECONDS)
        except TimeoutError:
            if waiter.done():  # handed over just as the time ran out
                return waiter.result()
            waiter.cancel()
            return None

    def _release(self, connection: Any) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        if self._closed:
            self._open -= 1
            connection.terminate()
        else:
            self._idle.append(connection)

    async def row(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The statement's first row, or None when there is none, every connection stays
        busy, or the server cannot be reached."""
        statement, names = self._positional(sql)
        connection = None
        try:
            connection = await self._acquire()
            if connection is None:
                return None
            found = await connection.fetchrow(statement, *(params[name] for name in names))
        except Exception as exc:  # a lost connection, a server going away, a bad statement
            log.debug("row reader: %r; reading through the session", exc)
            if connection is not None:
                self._open -= 1
                connection.terminate()
            return None
        self._release(connection)
        return None if found is None else tuple(found)

    async def close(self) -> None:
        """Close every idle connection (one in use is closed when its statement ends)."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            self._open -= 1
            await connection.close()


RowReader = SqliteRowReader | PostgresRowReader


def row_reader(url: str, *, pgbouncer: bool, prepared_statements: bool = True) -> RowReader | None:
    """The reader for the database at `url`: None for an in-memory SQLite database (another
    connection would be another database). `pgbouncer`, `prepared_statements`: as the
    engine's (db/engine.py)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        return SqliteRowReader(path) if path and path != ":memory:" else None
    if parsed.get_driver_name() != "asyncpg":
        return None
    return PostgresRowReader(url, pgbouncer=pgbouncer, prepared_statements=prepared_statements)
