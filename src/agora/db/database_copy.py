"""`agora db copy`: the whole database of a stopped server into a new PostgreSQL database.

Invariants:
- The target's schema is made by the migrations (`upgrade`), never by `create_all`, so the
  copy is the schema a fresh install would have; the source is upgraded to the same head first.
- Tables are copied in dependency order (`Base.metadata.sorted_tables`: a row's foreign keys
  point at rows already copied), in primary-key order, in batches that each commit (written
  with PostgreSQL's COPY). The
  resume point of a table is the largest primary key already in the target (ordered bytewise
  on both sides: `COLLATE "C"` on PostgreSQL, SQLite's BINARY), so an interrupted copy goes
  on where it stopped, with nothing twice.
- A target is accepted only when every table is empty, or when it carries the marker of a
  copy from the same source (`agora_db_copy`, dropped once the copy is verified).
- Rows are copied as they are: the render-version triggers (migration 0025), which would bump
  `posts.render_version` for every attachment, mention and tag inserted, and the page-stamp
  triggers (migration 0042), which would write `view_stamps` rows the copy then brings, are
  disabled on the
  target while rows are written, and enabled again at the end (also when the copy fails; a
  killed copy leaves them off until it is resumed). The full-text index triggers stay on: the
  target's index is built as posts arrive.
- Verified at the end, per table: the row count and an order-independent checksum (the sum
  of each row's SHA-256 of the `repr` of its values, modulo 2**256) are equal on both sides.
  Values are those SQLAlchemy's rows would hold (aware UTC datetimes, booleans, JSON
  decoded), JSON then as canonical text, floats and decimals as floats (`_normaliser`).
- Rows are read as the driver returns them, not as SQLAlchemy Row objects: the result
  processors SQLAlchemy chose for the query are applied to the columns that have one
  (`_converter`), and the checksum iterates in C (`map`), so a table of integers costs no
  Python call per row.
- PostgreSQL sequences (the `id_nodes` counter) are set past the largest copied value.
- The target's secondary indexes and foreign keys are deferred: their definitions (as the
  migrations made them) are saved in `agora_db_copy_deferred`, they are dropped while rows
  are written (a row then costs its primary key's index alone, not a dozen index insertions
  and a locking look-up per foreign key), and made again once every table is copied, each
  in one pass (a foreign key is validated then, over all its rows). A resumed copy finds
  the definitions saved; one that stopped while restoring them makes the missing ones. The
  saved definitions go with the marker, once the copy is verified.
- Verification reads the target once more, not the source: a table copied whole in one
  run has its source checksum summed from the rows as they were copied (and its count
  taken by the source beforehand, so a row the paging missed shows); a resumed table's
  source is read again.

The server must be stopped during the copy: rows written meanwhile may be missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import operator
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    LargeBinary,
    Numeric,
    String,
    Table,
    func,
    literal,
    select,
    text,
    tuple_,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from agora.db.engine import Database
from agora.db.migrate import upgrade
from agora.db.models import Base
from agora.db.models.base import UTCDateTime

MARKER = "agora_db_copy"
DEFERRED = "agora_db_copy_deferred"  # the secondary indexes and foreign keys dropped meanwhile
DEFAULT_BATCH = 5000
CHECKSUM_MODULUS = 2**256

Progress = Callable[[str, int, int], None]  # table, rows copied so far, rows in the source


class CopyRefused(Exception):
    """The target cannot receive this copy (not empty, another copy's, not PostgreSQL)."""


@dataclass(frozen=True)
class TableCheck:
    """One table's verification: counts and checksums on both sides."""

    table: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str

    @property
    def ok(self) -> bool:
        """Same number of rows, same values."""
        return self.source_rows == self.target_rows and self.source_checksum == self.target_checksum


def tables() -> list[Table]:
    """Every modelled table, each after the tables its foreign keys point at."""
    return list(Base.metadata.sorted_tables)


def source_identity(url: str) -> str:
    """What names a copy's source in the target's marker: its URL without the password."""
    return make_url(url).render_as_string(hide_password=True)


def _order_columns(table: Table, postgresql: bool) -> list[Any]:
    """The primary key, ordered bytewise on both backends."""
    columns: list[Any] = []
    for column in table.primary_key.columns:
        if postgresql and isinstance(column.type, String):
            columns.append(column.collate("C"))
        else:
            columns.append(column)
    return columns


def _after(columns: Sequence[Any], key: Sequence[Any]) -> Any:
    """`(c1, c2, …) > (k1, k2, …)`: a row-value comparison, which both SQLite and PostgreSQL
    answer from the primary key's index."""
    if len(columns) == 1:
        return columns[0] > key[0]
    return tuple_(*columns) > tuple_(*(literal(value) for value in key))


async def _is_postgresql(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


async def _count(conn: AsyncConnection, table: Table) -> int:
    return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def _last_key(conn: AsyncConnection, table: Table) -> tuple[Any, ...] | None:
    """The largest primary key in `table` (bytewise order), or None when it is empty."""
    order = _order_columns(table, await _is_postgresql(conn))
    query = select(*table.primary_key.columns).order_by(*(c.desc() for c in order)).limit(1)
    row = (await conn.execute(query)).first()
    return tuple(row) if row is not None else None


async def _marker(conn: AsyncConnection) -> str | None:
    exists = await conn.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": MARKER})
    present: object = exists.scalar_one()
    if not present:
        return None
    found = await conn.execute(text(f"SELECT source FROM {MARKER}"))
    source: object = found.scalar_one_or_none()
    return None if source is None else str(source)


async def prepare_target(target: AsyncEngine, source_url: str) -> bool:
    """Check the target may receive this copy and mark it. Returns whether the copy resumes.

    Raises CopyRefused for a non-PostgreSQL target, for a target with rows that is not being
    filled by a copy of the same source, or for one being filled from another source."""
    if target.dialect.name != "postgresql":
        raise CopyRefused("the target must be a PostgreSQL database (postgresql+asyncpg://…)")
    identity = source_identity(source_url)
    async with target.begin() as conn:
        marked = await _marker(conn)
        if marked is not None:
            if marked != identity:
                raise CopyRefused(f"the target is receiving another copy (from {marked})")
            return True
        for table in tables():
            if await _count(conn, table):
                raise CopyRefused(
                    f"the target is not empty (table {table.name} has rows); copy into a new "
                    "database"
                )
        await conn.execute(
            text(f"CREATE TABLE {MARKER} (source text NOT NULL, started_at timestamptz NOT NULL)")
        )
        await conn.execute(
            text(f"INSERT INTO {MARKER} (source, started_at) VALUES (:source, :at)"),
            {"source": identity, "at": datetime.now(UTC)},
        )
    return False


async def _render_triggers(conn: AsyncConnection) -> list[tuple[str, str]]:
    """(table, trigger) of the render-version and page-stamp triggers (migrations 0025,
    0042)."""
    found = await conn.execute(
        text(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal "
            "AND (t.tgname LIKE '%render_version' OR t.tgname LIKE '%page_stamp')"
        )
    )
    return [(str(table), str(trigger)) for table, trigger in found.all()]


async def set_render_triggers(target: AsyncEngine, *, enabled: bool) -> None:
    """Turn the render-version and page-stamp triggers on or off (the copy writes versions
    and stamps as they are)."""
    action = "ENABLE" if enabled else "DISABLE"
    async with target.begin() as conn:
        for table, trigger in await _render_triggers(conn):
            await conn.execute(text(f'ALTER TABLE "{table}" {action} TRIGGER "{trigger}"'))


_DEFERRABLE = """
SELECT 'index', i.indexname, i.tablename, i.indexdef
FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname AND c.relkind = 'i'
WHERE i.schemaname = current_schema() AND c.relnamespace = current_schema()::regnamespace
  AND i.tablename NOT IN (:marker, :deferred)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid)
UNION ALL
SELECT 'foreign key', k.conname, k.conrelid::regclass::text, pg_get_constraintdef(k.oid)
FROM pg_constraint k
WHERE k.contype = 'f' AND k.connamespace = current_schema()::regnamespace
"""


async def deferrable(conn: AsyncConnection) -> list[tuple[str, str, str, str]]:
    """(kind, name, relation, definition) of the secondary indexes (those backing no
    constraint) and foreign keys of a PostgreSQL database's schema, as it has them now."""
    names = {"marker": MARKER, "deferred": DEFERRED}
    found = await conn.execute(text(_DEFERRABLE), names)
    return sorted((str(k), str(n), str(r), str(d)) for k, n, r, d in found.all())


async def defer_constraints(target: AsyncEngine) -> int:
    """Save the definitions of the target's secondary indexes and foreign keys (once: a
    resumed copy keeps what the first run saved), then drop those still there. Returns how
    many were dropped now."""
    async with target.begin() as conn:
        await conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {DEFERRED} (kind text, name text, relation text, "
                "definition text NOT NULL, PRIMARY KEY (kind, name, relation))"
            )
        )
        found = await deferrable(conn)
        for kind, name, relation, definition in found:
            await conn.execute(
                text(
                    f"INSERT INTO {DEFERRED} (name, kind, relation, definition) "
                    "VALUES (:name, :kind, :relation, :definition) ON CONFLICT DO NOTHING"
                ),
                {"name": name, "kind": kind, "relation": relation, "definition": definition},
            )
        for kind, name, relation, _definition in found:  # foreign keys first: they use indexes
            if kind == "foreign key":
                await conn.execute(text(f'ALTER TABLE {relation} DROP CONSTRAINT "{name}"'))
        for kind, name, _relation, _definition in found:
            if kind == "index":
                await conn.execute(text(f'DROP INDEX "{name}"'))
    return len(found)


async def restore_constraints(target: AsyncEngine) -> int:
    """Make again every saved index, then every saved foreign key, that the target lacks
    (each validated over all its rows as it is made). Returns how many were made."""
    async with target.begin() as conn:
        exists = await conn.execute(text("SELECT to_regclass(:name)"), {"name": DEFERRED})
        if exists.scalar_one() is None:
            return 0
        await conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        saved = (
            await conn.execute(
                text(f"SELECT kind, name, relation, definition FROM {DEFERRED} ORDER BY kind DESC")
            )
        ).all()  # 'index' sorts after 'foreign key': DESC makes the indexes first
        present = {row[:3] for row in await deferrable(conn)}
        made = 0
        for kind, name, relation, definition in saved:
            if (kind, name, relation) in present:
                continue
            if kind == "index":
                await conn.exec_driver_sql(str(definition))
            else:
                await conn.exec_driver_sql(
                    f'ALTER TABLE {relation} ADD CONSTRAINT "{name}" {definition}'
                )
            made += 1
    return made


@dataclass(frozen=True)
class Copied:
    """What `copy_table` did: rows copied now, and when the table was copied whole in this
    run, the source's (rows, checksum) as `table_checksum` would give them (else None): its
    rows counted by the source before the copy (a row the paging missed shows), its
    checksum summed over the rows as they were read."""

    rows: int
    source: tuple[int, str] | None


async def copy_table(
    source: AsyncEngine,
    target: AsyncEngine,
    table: Table,
    *,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    stop_after_batches: int | None = None,
) -> Copied:
    """Copy the rows of `table` the target lacks, in primary-key order, one committed batch
    at a time, summing their checksum on the way. `stop_after_batches` (tests) stops early,
    as an interruption would."""
    async with target.connect() as conn:
        last = await _last_key(conn, table)
        done = await _count(conn, table)
    async with source.connect() as conn:
        total = await _count(conn, table)
    if progress:
        progress(table.name, done, total)
    copied = batches = checksum = 0
    whole = False
    normalise = _normaliser(table)
    async with contextlib.aclosing(_pages(source, table, last, batch)) as pages:
        async for rows in pages:
            if stop_after_batches is not None and batches >= stop_after_batches:
                break
            await _write(target, table, rows)
            checksum += _rows_sum(rows, normalise)
            copied += len(rows)
            batches += 1
            if progress:
                progress(table.name, done + copied, total)
        else:
            whole = done == 0  # copied whole now: its source checksum is known
    return Copied(copied, (total, _checksum_text(checksum)) if whole else None)


async def _pages(
    engine: AsyncEngine, table: Table, after: tuple[Any, ...] | None, batch: int
) -> AsyncGenerator[list[tuple[Any, ...]]]:
    """The rows of `table` after the key `after` (all when None), in primary-key order
    (bytewise), `batch` at a time, values in `table.columns` order; the next page is read
    while the caller works on this one."""
    columns = list(table.columns)
    order = _order_columns(table, engine.dialect.name == "postgresql")
    key_positions = [columns.index(column) for column in table.primary_key.columns]

    async def read(after: tuple[Any, ...] | None) -> list[tuple[Any, ...]]:
        query = select(*columns).order_by(*order).limit(batch)
        if after is not None:
            query = query.where(_after(order, after))
        async with engine.connect() as conn:
            result = await conn.execute(query)
            # the driver's rows as they are (no SQLAlchemy Row each), converted once here
            found = result.cursor.fetchall()
        return list(map(_converter(result), found))

    reading = asyncio.create_task(read(after))
    try:
        while rows := await reading:
            reading = asyncio.create_task(read(tuple(rows[-1][i] for i in key_positions)))
            yield rows
    finally:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)


def _converter(result: Any) -> Normaliser:
    """What makes a driver's row of `result` the values SQLAlchemy's Row would hold: the
    result processors SQLAlchemy chose for it (SQLite's text datetimes and integer booleans,
    JSON...), applied only where a column has one; a tuple as it is otherwise."""
    chosen = result._metadata._effective_processors  # None when no column has one
    processors = [(i, process) for i, process in enumerate(chosen or ()) if process is not None]
    return _apply(processors) if processors else tuple


def _apply(processors: Sequence[tuple[int, Callable[[Any], Any]]]) -> Normaliser:
    """A row with `process(value)` in place of the value at each (position, process)."""

    def apply(row: Sequence[Any]) -> tuple[Any, ...]:
        values = list(row)
        for position, process in processors:
            values[position] = process(values[position])
        return tuple(values)

    return apply


async def _write(target: AsyncEngine, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """Write one batch (values in `table.columns` order) in one transaction: PostgreSQL's
    COPY through asyncpg (values made as an INSERT would bind them: `_binder`), an INSERT
    elsewhere."""
    columns = list(table.columns)
    async with target.begin() as conn:
        if target.dialect.name != "postgresql" or target.dialect.driver != "asyncpg":
            names = [column.name for column in columns]
            await conn.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in rows])
            return
        bind = _binder(table, target.dialect)
        records = rows if bind is None else list(map(bind, rows))
        await conn.exec_driver_sql("SELECT 1")  # the transaction begins on the connection
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table(
            table.name, records=records, columns=[column.name for column in columns]
        )


def _binder(table: Table, dialect: Any) -> Normaliser | None:
    """What makes a row's values those an INSERT through asyncpg would bind: the columns'
    bind processors (JSON's serialiser), or None when no column has one. `UTCDateTime`'s is
    left out: it only moves an aware datetime to UTC, and asyncpg writes any aware datetime
    into a `timestamptz` as its UTC instant (the copy reads them aware on both backends)."""
    processors = [
        (position, process)
        for position, column in enumerate(table.columns)
        if not isinstance(column.type, UTCDateTime)
        and (process := column.type._cached_bind_processor(dialect)) is not None
    ]
    return _apply(processors) if processors else None


Normaliser = Callable[[Sequence[Any]], tuple[Any, ...]]
_DIGEST = operator.methodcaller("digest")


def _canonical_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _as_bytes(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _utc_naive(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _normaliser(table: Table) -> Normaliser | None:
    """What makes a row of `table` read from either backend the same Python values, or None
    when the values already are: integers, strings, booleans, None and `UTCDateTime`s (aware
    UTC datetimes on both backends) come as they are; JSON becomes its canonical text,
    floats and decimals floats, other datetimes naive UTC, binary bytes."""
    fixes: list[tuple[int, Callable[[Any], Any]]] = []
    for position, column in enumerate(table.columns):
        kind = column.type
        if isinstance(kind, UTCDateTime):
            continue
        if isinstance(kind, JSON):
            fixes.append((position, _canonical_json))
        elif isinstance(kind, Float | Numeric):
            fixes.append((position, _as_float))
        elif isinstance(kind, DateTime):
            fixes.append((position, _utc_naive))
        elif isinstance(kind, LargeBinary):
            fixes.append((position, _as_bytes))
    return _apply(fixes) if fixes else None


def _rows_sum(rows: Iterable[Sequence[Any]], normalise: Normaliser | None) -> int:
    """The rows' part of a table's checksum: the sum of each row's SHA-256 of the `repr` of
    its (normalised) values, iterated in C (map), with no Python call per row unless the
    table needs a normaliser."""
    values: Iterable[Sequence[Any]] = rows if normalise is None else map(normalise, rows)
    lines = map(str.encode, map(repr, map(tuple, values)))
    return sum(map(int.from_bytes, map(_DIGEST, map(hashlib.sha256, lines))))


def _checksum_text(total: int) -> str:
    return format(total % CHECKSUM_MODULUS, "064x")


async def table_checksum(engine: AsyncEngine, table: Table) -> tuple[int, str]:
    """(rows, checksum) of a table: the sum of each row's SHA-256 modulo 2**256, so the
    order rows come in does not matter (they come in key order, as the copy reads them)."""
    normalise = _normaliser(table)
    total = rows = 0
    async with contextlib.aclosing(_pages(engine, table, None, DEFAULT_BATCH)) as pages:
        async for page in pages:
            total += _rows_sum(page, normalise)
            rows += len(page)
    return rows, _checksum_text(total)


async def verify(
    source: AsyncEngine,
    target: AsyncEngine,
    known: dict[str, tuple[int, str]] | None = None,
) -> list[TableCheck]:
    """Row counts and checksums of every table on both sides; `known`: source tables'
    (rows, checksum) summed as they were copied, not read again."""
    checks = []
    for table in tables():
        found = (known or {}).get(table.name)
        source_rows, source_sum = found or await table_checksum(source, table)
        target_rows, target_sum = await table_checksum(target, table)
        checks.append(TableCheck(table.name, source_rows, target_rows, source_sum, target_sum))
    return checks


async def set_sequences(target: AsyncEngine) -> int:
    """Set every sequence owned by a copied column past the column's largest value (the
    copy inserted explicit values, which do not advance them). Returns how many were set."""
    count = 0
    async with target.begin() as conn:
        for table in tables():
            for column in table.columns:
                found = await conn.execute(
                    text("SELECT pg_get_serial_sequence(:table, :column)"),
                    {"table": table.name, "column": column.name},
                )
                sequence: object = found.scalar_one_or_none()
                if sequence is None:
                    continue
                await conn.execute(
                    text(
                        f'SELECT setval(:sequence, coalesce(max("{column.name}"), 1), '
                        f'max("{column.name}") IS NOT NULL) FROM "{table.name}"'
                    ),
                    {"sequence": sequence},
                )
                count += 1
    return count


async def finish(target: AsyncEngine) -> None:
    """The copy is verified: drop the marker, so the target is an ordinary database, then
    VACUUM (ANALYZE) it while the server is still stopped. A database filled by bulk inserts
    has no planner statistics until autovacuum analyzes it (minutes later, or never where
    autovacuum is off), and meanwhile PostgreSQL plans blind: measured on the 10k people /
    1M posts set, a home timeline took 1.2 s of PostgreSQL's CPU against under a millisecond
    once analyzed. Nor has it a visibility map: until a vacuum, an index-only scan (a
    page's feed entries, the viewer's favourites and follows) reads every row's table page
    too, and the first reader of each page writes it (hint bits); autovacuum would do that
    work in the first minutes of service instead (on inserts, PostgreSQL 13+)."""
    async with target.begin() as conn:
        await conn.execute(text(f"DROP TABLE IF EXISTS {DEFERRED}"))
        await conn.execute(text(f"DROP TABLE IF EXISTS {MARKER}"))
    async with target.connect() as conn:  # VACUUM runs outside any transaction
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM (ANALYZE)"))


@dataclass
class CopyResult:
    """What `copy_database` did."""

    resumed: bool
    rows_copied: int
    checks: list[TableCheck]

    @property
    def ok(self) -> bool:
        """Every table verified."""
        return all(check.ok for check in self.checks)


async def copy_database(
    source_url: str,
    target_url: str,
    *,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    stop_after_batches: int | None = None,
) -> CopyResult:
    """Copy the database at `source_url` into the PostgreSQL database at `target_url`
    (created beforehand, empty or half-filled by an interrupted copy of the same source),
    verify it, set its sequences. `stop_after_batches` (tests) interrupts the copy after
    that many batches of the first table with rows, leaving it resumable."""
    source = Database(source_url)
    target = Database(target_url)
    try:
        if target.engine.dialect.name != "postgresql":
            raise CopyRefused("the target must be a PostgreSQL database (postgresql+asyncpg://…)")
        await upgrade(source.engine)
        await upgrade(target.engine)
        resumed = await prepare_target(target.engine, source_url)
        await defer_constraints(target.engine)
        await set_render_triggers(target.engine, enabled=False)
        copied = 0
        known: dict[str, tuple[int, str]] = {}
        try:
            for table in tables():
                now = await copy_table(
                    source.engine,
                    target.engine,
                    table,
                    batch=batch,
                    progress=progress,
                    stop_after_batches=stop_after_batches,
                )
                copied += now.rows
                if now.source is not None:
                    known[table.name] = now.source
                if stop_after_batches is not None and now.rows:
                    return CopyResult(resumed, copied, [])
        finally:
            await set_render_triggers(target.engine, enabled=True)
        await restore_constraints(target.engine)
        await set_sequences(target.engine)
        checks = await verify(source.engine, target.engine, known)
        if all(check.ok for check in checks):
            await finish(target.engine)
        return CopyResult(resumed, copied, checks)
    finally:
        await source.dispose()
        await target.dispose()
