"""Engine and sessions for SQLite (embedded default) and PostgreSQL, one code path. A SQLite
file is opened through db/sqlite_one_trip.py (aiosqlite, one thread round trip per
statement)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Executable, Row, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from agora.db import sqlite_one_trip

LOCK_RETRY_AFTER = 2  # seconds a client is asked to wait after a lock timeout (503)


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
        cur.execute("PRAGMA cache_size=-65536")
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


_WROTE = "agora_wrote"  # in Session.info while the transaction has written something


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: Any) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_WROTE, None)


async def end_read_transaction(session: AsyncSession) -> bool:
    """End the session's transaction before slow work (argon2) when it has only read, so
    that the work holds no lock: a write session took SQLite's write lock at its first
    statement (BEGIN IMMEDIATE). Loaded objects stay usable (sessions do not expire them at
    commit); the next statement begins a new transaction. A transaction that has written
    (flushed, ORM insert / update / delete) or holds unflushed changes is left open: its
    caller batches on purpose. Returns whether no transaction is open now."""
    if not session.in_transaction():
        return True
    if session.info.get(_WROTE) or session.new or session.dirty or session.deleted:
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


class Database:
    """Owns the engine; hands out read sessions and write sessions. `lock_timeout` is how
    long a statement waits for a lock before failing (`is_lock_timeout`): SQLite's busy
    timeout; PostgreSQL's `lock_timeout`."""

    def __init__(self, url: str, *, echo: bool = False, lock_timeout: float = 10.0) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": lock_timeout}
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                kwargs["async_creator"] = _one_trip_creator(parsed.database, lock_timeout)
        else:
            kwargs.update(pool_size=10, max_overflow=20)
            if parsed.get_driver_name() == "asyncpg":
                settings = {"lock_timeout": str(int(lock_timeout * 1000))}
                kwargs["connect_args"] = {"server_settings": settings}
        self.engine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _prepare_sqlite(self.engine, lock_timeout)
            writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            writer = self.engine
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = async_sessionmaker(writer, expire_on_commit=False)

    def session(self, *, write: bool = False) -> AsyncSession:
        """A new session; `write=True` takes SQLite's write lock at BEGIN."""
        return (self._writer if write else self._reader)()

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

    async def dispose(self) -> None:
        await self.engine.dispose()
