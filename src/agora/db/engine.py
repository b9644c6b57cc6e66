"""Engine and sessions for SQLite (embedded default) and PostgreSQL, one code path; on
PostgreSQL optionally a read replica and PgBouncer's transaction pooling (its prepared
statements tracked, 1.21+, or not). A SQLite file is opened through db/sqlite_one_trip.py
(aiosqlite, one thread round trip per statement)."""

from __future__ import annotations

import asyncio
import logging
import select
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from sqlalchemy import Executable, Row, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InvalidatePoolError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_

from agora.db import sqlite_one_trip
from agora.db.change_notices import ChangeNotices
from agora.db.pg_settings import connection_settings
from agora.db.row_reader import SqliteRowReader, row_reader
from agora.db.session_writes import has_written
from agora.db.statement_tracking import check_statement_tracking

if TYPE_CHECKING:
    from agora.config import Settings

LOCK_RETRY_AFTER = 2  # seconds a client is asked to wait after a lock timeout (503)
REPLICA_CONNECT_TIMEOUT = 3.0  # seconds to connect to the replica before reading the primary
REPLICA_RETRY_SECONDS = 30.0  # after a failed connection, the replica is left alone this long
# whether the replica has replayed the primary's WAL up to a position (NULL on a primary)
_REPLAYED = text("SELECT pg_last_wal_replay_lsn() >= CAST(CAST(:at AS text) AS pg_lsn)")
log = logging.getLogger(__name__)


def _prepare_sqlite(engine: AsyncEngine, lock_timeout: float) -> None:
    """WAL, foreign keys, a busy timeout, and explicit BEGIN so writers take the lock up front
    (BEGIN IMMEDIATE) instead of failing when a read transaction tries to upgrade."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(lock_timeout * 1000)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        # 8 MiB of pages per connection (the OS keeps the file's pages too): each pooled
        # connection grows its own cache up to this, and at 64 MiB eight of them took the
        # server's RSS past 500 MB for no speed a home page showed (bench/timeline.py); at
        # 16 MiB it read 425-516 MB after bench.http (six runs), at 8 MiB 408 / 448
        cur.execute("PRAGMA cache_size=-8192")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _one_trip_creator(path: str, lock_timeout: float) -> Callable[[], Awaitable[Any]]:
    """Connections to a SQLite file that make one thread round trip per statement
    (db/sqlite_one_trip.py), with the busy timeout `lock_timeout`."""

    async def create() -> Any:
        return await sqlite_one_trip.connect(path, timeout=lock_timeout)

    return create


def is_lock_timeout(exc: BaseException) -> bool:
    """True for a statement that gave up waiting for a lock: SQLite's "database is locked"
    after the busy timeout, PostgreSQL's lock_not_available after `lock_timeout`. The doors
    answer it with 503 and Retry-After (the request may simply be retried), never a 500."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code == "55P03" or "database is locked" in str(orig)


def is_database_busy(exc: BaseException) -> bool:
    """True when the database cannot serve a statement for now, and a retry soon may work: a
    lock timeout (`is_lock_timeout`), a connection that dropped under the statement (the
    server or PgBouncer restarting: SQLAlchemy marks it invalidated, and the pool replaces
    it), a new connection refused (PostgreSQL or PgBouncer not listening for a moment: the
    driver's ConnectionRefusedError comes through SQLAlchemy unwrapped), or no pooled
    connection free within the pool's wait. The doors answer it with 503 and Retry-After,
    never a 500."""
    if isinstance(exc, (PoolTimeout, ConnectionRefusedError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return is_lock_timeout(exc)


async def end_read_transaction(session: AsyncSession) -> bool:
    """End the session's transaction before slow work (argon2) when it has only read, so
    that the work holds no lock: a write session took SQLite's write lock at its first
    statement (BEGIN IMMEDIATE). Loaded objects stay usable (sessions do not expire them at
    commit); the next statement begins a new transaction. A transaction that has written
    (flushed, ORM insert / update / delete) or holds unflushed changes is left open: its
    caller batches on purpose. Returns whether no transaction is open now."""
    if not session.in_transaction():
        return True
    if has_written(session) or session.new or session.dirty or session.deleted:
        return False
    await session.commit()
    return True


async def column_rows(
    session: AsyncSession, statement: Executable, params: dict[str, Any]
) -> Sequence[Row[Any]]:
    """The rows of a read selecting plain columns (no entity), executed on the session's
    connection in its transaction without the ORM's execution layer (which costs about a
    tenth of a millisecond a statement for nothing: no objects are loaded). For the hot
    reads (timelines' ids, `hydrate.load_refs`). Pending changes are flushed first, as the
    ORM's autoflush would, so the read sees what the session wrote."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    connection = await session.connection()
    return (await connection.execute(statement, params)).all()


def _ping_on_checkout(engine: AsyncEngine) -> None:
    """Behind PgBouncer, check a pooled connection as it is checked out: a restarted PgBouncer
    has cut every client connection, and without the check each process's next requests
    would fail on them (bench/topology.py restarts PgBouncer under load). The check asks the
    kernel, not the server (`connection_cut`): no round trip. It was a ping, `SELECT 1`, one
    round trip through PgBouncer to PostgreSQL at every check-out: in the 300-person topology
    run 8,195 a minute, more than one per request. A connection just made is not checked. A
    cut connection invalidates the whole pool, as SQLAlchemy's `pool_pre_ping` does (every
    connection older than it is replaced as it is next checked out), and the checkout goes
    on with a new connection. Where the kernel cannot be asked (a connection without its
    socket), the ping is sent as before: a simple query, no transaction, no prepared
    statement (an empty query made asyncpg 0.32 raise after the round trip)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _made(_dbapi_conn: Any, record: Any) -> None:
        record.info[_FRESH] = True

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.pop(_FRESH, False):
            return
        driver = dbapi_conn.driver_connection
        cut = connection_cut(driver)
        if cut is None:
            try:
                await_(driver.execute("SELECT 1"))
            except Exception as exc:
                raise InvalidatePoolError(f"the ping on checkout failed: {exc!r}") from exc
        elif cut:
            raise InvalidatePoolError("a pooled connection was cut (PgBouncer restarted?)")


_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL | getattr(select, "POLLRDHUP", 0)


def connection_cut(driver: Any) -> bool | None:
    """Whether an idle asyncpg connection is known to be cut, without a round trip: asyncpg
    saw it close, or the kernel says the other end hung up (`poll` of its socket, no wait:
    a stopped or restarted PgBouncer's FIN arrives as POLLRDHUP before the event loop reads
    it). None when the socket cannot be reached. What no check at checkout can see, a cut
    after it or a silent network partition, fails the request's statement as before."""
    if driver.is_closed():
        return True
    transport = getattr(driver, "_transport", None)  # asyncpg keeps no public accessor
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return None
    poller = select.poll()
    poller.register(sock.fileno(), _GONE)
    return bool(poller.poll(0))


_FRESH = "agora_fresh"  # in a pool record's info until its connection is first checked out


def _check_tracking_on_connect(engine: AsyncEngine) -> None:
    """Behind PgBouncer with its prepared statements tracked (`prepared_statements=True`),
    check each new connection before it is used (db/statement_tracking.py: two round trips,
    once per connection): a PgBouncer that does not track them fails the connection with a
    message saying what to set, instead of failing a statement now and then."""

    @event.listens_for(engine.sync_engine, "connect")
    def _check(dbapi_conn: Any, _record: Any) -> None:
        driver = dbapi_conn.driver_connection
        try:
            await_(check_statement_tracking(driver))
        except BaseException:
            driver.terminate()
            raise


# A process's connections to PostgreSQL: `POOL_SIZE` kept, up to `POOL_OVERFLOW` more opened
# under load and closed as they are returned to a pool that holds `POOL_SIZE` already (each
# a server backend when PostgreSQL is reached directly). Behind PgBouncer a client connection
# costs PgBouncer next to nothing, and one opened and closed costs a login, the check of
# `_check_tracking_on_connect` and the preparing again of every statement it runs: all of the
# cap is kept (`_engine_arguments`).
POOL_SIZE = 10
POOL_OVERFLOW = 20


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid4().hex}__"


def _engine_arguments(
    url: str, *, echo: bool, lock_timeout: float, pgbouncer: bool, prepared_statements: bool
) -> dict[str, Any]:
    """`create_async_engine`'s keyword arguments for `url`.

    Behind PgBouncer in transaction mode (`pgbouncer=True`), consecutive transactions of one
    client connection may run on different server connections, so no session state may be
    relied on: no `server_settings` are sent (PgBouncer refuses unknown startup parameters):
    set `connection_settings` (`lock_timeout`, `jit = off`, `plan_cache_mode =
    force_generic_plan`) on the role or database instead (docs/OPERATIONS.md), and a pooled
    connection is pinged as it is checked out (`_ping_on_checkout`, added by `Database`).
    Prepared statements:

    - `prepared_statements=True` (PgBouncer 1.21+ with `max_prepared_statements` > 0):
      asyncpg's and SQLAlchemy's statement caches stay on, with asyncpg's own names; PgBouncer
      maps each client's names to its own per server connection and prepares a statement
      again on whichever server connection a transaction lands on, so each is parsed and
      planned once per server connection, not at every execution. Each new connection is
      checked (`_check_tracking_on_connect`, added by `Database`). Unique names are not
      needed: a client's names never reach the server.
    - `prepared_statements=False` (an older PgBouncer): nothing may outlive its transaction:
      both caches are off and each prepared statement gets a unique name (a name reused on
      another server connection would collide); each statement is parsed and planned at
      every execution.

    Reached directly, a connection keeps its prepared statements (asyncpg's cache) and starts
    with `connection_settings` (db/pg_settings.py: the lock timeout, no JIT, each statement
    planned once)."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": lock_timeout}
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["async_creator"] = _one_trip_creator(parsed.database, lock_timeout)
        return kwargs
    if pgbouncer:  # the same cap, every connection kept: none opened and closed under load
        kwargs.update(pool_size=POOL_SIZE + POOL_OVERFLOW, max_overflow=0)
    else:
        kwargs.update(pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
    if parsed.get_driver_name() != "asyncpg":
        return kwargs
    if pgbouncer and prepared_statements:
        kwargs["connect_args"] = {}
    elif pgbouncer:
        kwargs["connect_args"] = {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": _unique_statement_name,
        }
    else:
        kwargs["connect_args"] = {"server_settings": connection_settings(lock_timeout)}
    return kwargs


def _behind_pgbouncer(engine: AsyncEngine, *, prepared_statements: bool) -> None:
    """What an asyncpg engine behind PgBouncer adds to its pool's events: the ping on checkout
    and, with prepared statements tracked, the check of each new connection."""
    if engine.dialect.driver != "asyncpg":
        return
    _ping_on_checkout(engine)
    if prepared_statements:
        _check_tracking_on_connect(engine)


CONNECT_WAIT_SECONDS = 5.0  # how long a refused new connection is tried again
CONNECT_RETRY_SECONDS = 0.1


def _connect_through_restarts(engine: AsyncEngine) -> None:
    """A new connection to the primary (or its PgBouncer) that is refused is tried again
    every `CONNECT_RETRY_SECONDS` for up to `CONNECT_WAIT_SECONDS` before the refusal is
    raised (a 503 with Retry-After, `is_database_busy`): while PgBouncer or PostgreSQL
    restarts (about 2 s in bench/topology.py, which answered every request meanwhile 503:
    341 at 300 people), a request that needs a connection waits for it instead of failing.
    A request whose connection was cut inside its transaction still fails: what it sent
    cannot be known to have happened. Not on the replica's engine, whose reads go to the
    primary at once when it cannot be reached.

    A connection refused through the whole wait means more than a restart: from then on each
    new connection is tried once, with no wait, until one succeeds, so that in a longer
    outage requests are answered 503 at once instead of each holding a pool slot for the
    wait (and the requests behind them waiting for the pool)."""
    if engine.dialect.driver != "asyncpg":  # the wait below awaits in the driver's greenlet
        return
    gave_up = False  # a connection was refused through a whole wait; none succeeded since

    @event.listens_for(engine.sync_engine, "do_connect")
    def connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        nonlocal gave_up
        deadline = time.monotonic() + (0.0 if gave_up else CONNECT_WAIT_SECONDS)
        while True:
            try:
                connection = dialect.connect(*cargs, **cparams)
            except ConnectionRefusedError:
                if time.monotonic() + CONNECT_RETRY_SECONDS > deadline:
                    gave_up = True
                    raise
                await_(asyncio.sleep(CONNECT_RETRY_SECONDS))
            else:
                gave_up = False
                return connection


def untransacted_reads(url: str, *, pgbouncer: bool) -> bool:
    """Whether a session that only reads runs its statements outside a transaction (no
    BEGIN, no ROLLBACK: two round trips of a page's four or five): on PostgreSQL reached
    directly. Not behind PgBouncer: in its transaction mode each statement outside a
    transaction waits for a server connection of its own, so under load a read of four
    statements queued four times instead of once (tried with a PgBouncer that tracks
    prepared statements, which allows it: in the 300-person topology run the home p50 read
    818-923 ms against 564-657 with BEGIN, for no more requests a second; docs/OPERATIONS.md,
    "Numbers, stop 28"). Not on SQLite, whose BEGIN rides with the first statement
    (db/sqlite_one_trip.py)."""
    return make_url(url).get_backend_name() != "sqlite" and not pgbouncer


def _replica_engine(
    url: str, *, echo: bool, lock_timeout: float, pgbouncer: bool, prepared_statements: bool
) -> AsyncEngine:
    """The replica's engine: `_engine_arguments`, a short connect timeout, and no
    transactions where that is safe (`untransacted_reads`): its sessions only read (the
    routes marked `replica_reads` never write, and a hot standby refuses writes), and under
    READ COMMITTED each statement sees a snapshot of its own, in a transaction or not, so
    BEGIN and ROLLBACK would be two round trips for nothing."""
    arguments = _engine_arguments(
        url,
        echo=echo,
        lock_timeout=lock_timeout,
        pgbouncer=pgbouncer,
        prepared_statements=prepared_statements,
    )
    arguments["connect_args"]["timeout"] = REPLICA_CONNECT_TIMEOUT
    if untransacted_reads(url, pgbouncer=pgbouncer):
        arguments["isolation_level"] = "AUTOCOMMIT"
    engine = create_async_engine(url, **arguments)
    if pgbouncer:
        _behind_pgbouncer(engine, prepared_statements=prepared_statements)
    return engine


class EndingSession(AsyncSession):
    """The sessions of every `Database`: one whose connection was cut while it held it (a
    PgBouncer or PostgreSQL restart, a network cut) ends without raising. Ending a session
    rolls back its open transaction; on a cut connection that ROLLBACK fails, and the error
    escaped the request's dependency after its route had answered, so the client got no
    response at all (nginx then took that web process out of its upstream for 10 s:
    docs/OPERATIONS.md, "The topology"). The server has ended the transaction with the
    connection, so nothing is lost: the connection is thrown away instead of pooled, and a
    statement that failed on it inside the session has raised its own error already."""

    async def close(self) -> None:
        """End the session; a connection found cut is invalidated, not raised about."""
        try:
            await super().close()
        except (DBAPIError, OSError) as error:
            log.warning("a session's connection was cut before it ended: %s", _first_line(error))
            await self.invalidate()


def _sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, class_=EndingSession)


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]


class Database:
    """Owns the engine; hands out read sessions and write sessions. `lock_timeout` is how
    long a statement waits for a lock before failing (`is_lock_timeout`): SQLite's busy
    timeout; PostgreSQL's `lock_timeout`. With `replica_url` (a PostgreSQL streaming
    replica), `session(replica=True)` reads from it; callers decide which reads tolerate its
    lag (http/replica_routing.py). `pgbouncer` and `pgbouncer_prepared_statements` (whether
    that PgBouncer tracks prepared statements, 1.21+): see `_engine_arguments`;
    `replica_pgbouncer` whether the replica is reached through PgBouncer too (None: as the
    primary; the same PgBouncer version is assumed)."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        lock_timeout: float = 10.0,
        replica_url: str | None = None,
        pgbouncer: bool = False,
        pgbouncer_prepared_statements: bool = True,
        replica_pgbouncer: bool | None = None,
    ) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        prepared = pgbouncer_prepared_statements
        self._row_reader = row_reader(  # `first_row`'s
            url, pgbouncer=pgbouncer, prepared_statements=prepared
        )
        self.pgbouncer = pgbouncer
        self.notices: ChangeNotices | None = None  # `listen_for_changes`
        options: dict[str, Any] = {
            "echo": echo,
            "lock_timeout": lock_timeout,
            "pgbouncer": pgbouncer,
            "prepared_statements": prepared,
        }
        self.engine = create_async_engine(url, **_engine_arguments(url, **options))
        if not self.is_sqlite:
            _connect_through_restarts(self.engine)
        if pgbouncer:
            _behind_pgbouncer(self.engine, prepared_statements=prepared)
        if self.is_sqlite:
            _prepare_sqlite(self.engine, lock_timeout)
            writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            writer = self.engine
        self._reader = _sessions(self.engine)
        self._writer = _sessions(writer)
        self._untransacted = self._reader  # `session(read_only=True)`'s
        if untransacted_reads(url, pgbouncer=pgbouncer):
            untransacted = self.engine.execution_options(isolation_level="AUTOCOMMIT")
            self._untransacted = _sessions(untransacted)
        self.replica_engine: AsyncEngine | None = None
        self._replica = self._reader
        self._replica_down_until = 0.0
        if replica_url and not self.is_sqlite:
            self.replica_engine = _replica_engine(
                replica_url,
                echo=echo,
                lock_timeout=lock_timeout,
                pgbouncer=pgbouncer if replica_pgbouncer is None else replica_pgbouncer,
                prepared_statements=prepared,
            )
            self._replica = _sessions(self.replica_engine)

    @property
    def has_replica(self) -> bool:
        """Whether a replica is configured (whether it answers now: `replica_usable`)."""
        return self.replica_engine is not None

    def replica_usable(self) -> bool:
        """Whether reads may go to the replica now: configured, and not failed lately."""
        return self.replica_engine is not None and time.monotonic() >= self._replica_down_until

    async def replica_session(self, replayed: str = "0/0") -> AsyncSession | None:
        """A session on the replica with its connection open, or None when there is none or
        it cannot be reached: then the replica is left alone for `REPLICA_RETRY_SECONDS` and
        the caller reads from the primary (a replica that is down never fails a request).
        With `replayed` (a WAL position of the primary, `wal_position`), also None unless
        the replica has replayed the WAL up to it: one statement in the session, whose later
        statements therefore see every transaction committed before that position."""
        if not self.replica_usable():
            return None
        session = self._replica()
        try:
            await session.connection()
            if replayed != "0/0" and not await session.scalar(_REPLAYED, {"at": replayed}):
                await session.close()
                return None
        except (OSError, DBAPIError, TimeoutError):
            log.warning("the read replica cannot be reached: reading from the primary")
            self._replica_down_until = time.monotonic() + REPLICA_RETRY_SECONDS
            await session.close()
            return None
        return session

    async def wal_position(self) -> str | None:
        """The primary's WAL insert position now (PostgreSQL: "16/B374D848"), by one statement
        on the row reader; None on SQLite or when the reader cannot answer. Taken after a
        commit, a replica that has replayed up to it sees that commit (the insert position,
        not the write position: with `synchronous_commit = off` the commit record may not be
        written yet)."""
        if self.is_sqlite:
            return None
        row = await self.first_row("SELECT pg_current_wal_insert_lsn()::text", {})
        return None if row is None else str(row[0])

    def session(
        self, *, write: bool = False, replica: bool = False, read_only: bool = False
    ) -> AsyncSession:
        """A new session; `write=True` takes SQLite's write lock at BEGIN (sent with the
        transaction's first statement, db/sqlite_one_trip.py); `replica=True`
        reads from the replica when there is one (the primary otherwise). `read_only=True`
        (for callers that never write: the routes marked `replica_reads` answered by the
        primary) opens no transaction where `untransacted_reads` allows, as the replica's
        sessions (`_replica_engine`): under READ COMMITTED each statement sees a snapshot of
        its own in a transaction or not, so BEGIN and ROLLBACK were two round trips for
        nothing; elsewhere (SQLite, PgBouncer) an ordinary read session."""
        if write:
            return self._writer()
        if replica:
            return self._replica()
        return (self._untransacted if read_only else self._reader)()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write session committed on success, rolled back on error."""
        async with self.session(write=True) as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    def listen_for_changes(self, url: str | None = None) -> ChangeNotices | None:
        """Start listening for PostgreSQL's page change notices (db/change_notices.py) on
        `url` (the primary, directly; None: this database's own URL, unless it is reached
        through PgBouncer). None, and nothing started, on SQLite or with no direct URL."""
        if self.notices is None and not self.is_sqlite:
            url = url or (None if self.pgbouncer else self.url)
            if url is not None and make_url(url).get_driver_name() == "asyncpg":
                self.notices = ChangeNotices(url)
                self.notices.start()
        return self.notices

    def change_token(self) -> int | None:
        """A number that stays the same while nothing a kept page reads can have changed on
        the primary, read before the statement it is to vouch for (api/page_cache.py): on
        PostgreSQL the page change notices' epoch while they are live (db/change_notices.py),
        on SQLite the row reader's `PRAGMA data_version` (any commit by any other connection,
        of any table, changes it); None when nothing can say."""
        if self.notices is not None:
            return self.notices.epoch if self.notices.live else None
        if isinstance(self._row_reader, SqliteRowReader):
            return self._row_reader.data_version()
        return None

    async def first_row(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row of one read statement (`sql` with `:name` parameters), run outside
        any session by the database's row reader (db/row_reader.py), or None (no row, no
        reader, or the reader could not answer): the caller then reads through its session.
        For a single statement on a hot path that needs no session (api/page_cache.py:
        checking a kept page costs one statement; the ORM's connection check-out and return
        cost several times it)."""
        if self._row_reader is None:
            return None
        return await self._row_reader.row(sql, params)

    async def dispose(self) -> None:
        """Close every pooled connection (the replica's too)."""
        if self.notices is not None:
            await self.notices.stop()
            self.notices = None
        if self._row_reader is not None:
            await self._row_reader.close()
        await self.engine.dispose()
        if self.replica_engine is not None:
            await self.replica_engine.dispose()


def configured_database(settings: Settings | None = None, *, replica: bool = True) -> Database:
    """The database the settings (`get_settings()` unless given) name (`AGORA_DATABASE_*`);
    `replica=False` for processes that only write or must read their own writes (job
    workers, commands)."""
    from agora.config import get_settings

    settings = settings or get_settings()
    return Database(
        settings.database_url,
        lock_timeout=settings.database_lock_timeout,
        replica_url=settings.database_replica_url if replica else None,
        pgbouncer=settings.database_pgbouncer,
        pgbouncer_prepared_statements=settings.database_pgbouncer_prepared_statements,
        replica_pgbouncer=settings.database_replica_pgbouncer,
    )
