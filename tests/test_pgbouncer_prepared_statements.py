"""Prepared statements kept behind PgBouncer (1.21+, `max_prepared_statements`; the 1.24 that
`make pgbouncer` builds) in transaction mode, with `AGORA_DATABASE_PGBOUNCER_PREPARED_STATEMENTS`
(db/engine.py), on a real PostgreSQL (tests/postgres_cluster.py: a primary, no replica, and
PgBouncer with two server connections, once for the module).

A statement repeated over many transactions is prepared once per server connection, planned
once (generic: `plan_cache_mode` set on the database) and never again by the client; results
stay right across concurrent sessions, a PgBouncer restart and new server connections
(`RECONNECT`); a PgBouncer that does not track prepared statements is refused at connect with
the setting on, and still served with it off; the row reader keeps its statements too; and a
migration that changes the type of a column a statement returns asks for PgBouncer's
`RECONNECT` and a restart of Agora's processes (docs/OPERATIONS.md)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from agora.db.engine import Database
from agora.db.migrate import upgrade
from agora.db.row_reader import PostgresRowReader
from agora.db.statement_tracking import StatementsNotTracked, check_statement_tracking
from conftest import BACKEND
from helpers import post_status_id
from postgres_cluster import PGBOUNCER, Cluster, make_cluster, postgres_bin

BIN = postgres_bin()
pytestmark = [
    pytest.mark.skipif(BACKEND != "postgresql", reason="PgBouncer in front of PostgreSQL"),
    pytest.mark.skipif(BIN is None, reason="PostgreSQL's server tools are not installed"),
    pytest.mark.skipif(not PGBOUNCER.exists(), reason="pgbouncer is not built (make pgbouncer)"),
]

# the statement the tests repeat: its comment tells it apart in pg_prepared_statements
REPEATED = "SELECT /* repeated */ CAST(:n AS bigint) * 2 + count(*) FROM pg_class WHERE oid < 0"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    assert BIN is not None
    made = make_cluster(BIN)
    try:
        made.start(replica=False)
        yield made
    finally:
        made.stop()
        shutil.rmtree(made.root, ignore_errors=True)


@pytest.fixture(scope="module")
async def db(cluster: Cluster) -> AsyncIterator[Database]:
    """Overrides the session's database: the primary through PgBouncer, statements kept."""
    direct = Database(cluster.url(cluster.primary_port))
    await upgrade(direct.engine)
    await direct.dispose()
    database = Database(cluster.url(cluster.bouncer_port), pgbouncer=True)
    yield database
    await database.dispose()


def _bouncer(cluster: Cluster, *, prepared: bool = True) -> Database:
    return Database(
        cluster.url(cluster.bouncer_port), pgbouncer=True, pgbouncer_prepared_statements=prepared
    )


def _counters(cluster: Cluster) -> dict[str, int]:
    """PgBouncer's prepared statement counters for the `agora` database (SHOW STATS)."""
    (row,) = [r for r in cluster.bouncer_admin("SHOW STATS") if r["database"] == "agora"]
    names = ("client_parse", "server_parse", "bind")
    return {name: int(row[f"total_{name}_count"]) for name in names}


async def _repeat(database: Database, rounds: int, concurrent: int) -> None:
    """`REPEATED` in `rounds` times `concurrent` sessions (one transaction each), `concurrent` at
    a time, each with its own parameter, each answer checked."""

    async def one(n: int) -> None:
        async with database.session() as session:
            assert await session.scalar(text(REPEATED), {"n": n}) == 2 * n

    for r in range(rounds):
        await asyncio.gather(*(one(r * concurrent + c) for c in range(concurrent)))


async def _on_each_server(cluster: Cluster, sql: str) -> list[list[Any]]:
    """`sql`'s rows on every server connection of PgBouncer's pool at once: one client
    connection per server connection, each holding its server in a transaction."""
    clients = [
        await asyncpg.connect(cluster.url(cluster.bouncer_port).replace("+asyncpg", ""),
                              statement_cache_size=0)
        for _ in range(cluster.pool_size)
    ]  # fmt: skip
    try:
        for client in clients:
            await client.execute("BEGIN")  # takes a server connection until the ROLLBACK
        return [[tuple(row) for row in await client.fetch(sql)] for client in clients]
    finally:
        for client in clients:
            await client.close()


async def test_a_statement_repeated_over_many_transactions_is_prepared_once_per_server_connection(
    cluster: Cluster,
) -> None:
    """40 transactions of 8 concurrent sessions on two server connections: after the first
    round no client prepares the statement again (SQLAlchemy's and asyncpg's caches) and
    PgBouncer prepares it on the server at most once per server connection; PostgreSQL holds
    it once per backend, under PgBouncer's name, its generic plan used for every execution."""
    database = _bouncer(cluster)
    try:
        await _repeat(database, rounds=1, concurrent=8)  # each client connection prepares it
        before = _counters(cluster)
        await _repeat(database, rounds=5, concurrent=8)
        after = _counters(cluster)
    finally:
        await database.dispose()
    assert after["client_parse"] - before["client_parse"] == 0
    assert after["server_parse"] - before["server_parse"] <= cluster.pool_size
    assert after["bind"] - before["bind"] >= 40
    per_server = await _on_each_server(
        cluster,
        "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements"
        " WHERE statement LIKE 'SELECT /* repeated */%'",
    )
    assert all(len(rows) <= 1 for rows in per_server), per_server  # once per server connection
    found = [row for rows in per_server for row in rows]
    assert found and all(name.startswith("PGBOUNCER_") for name, _, _ in found)
    assert sum(generic for _, generic, _ in found) >= 48  # every execution so far, generic
    assert sum(custom for _, _, custom in found) == 0  # plan_cache_mode, set on the database


async def test_without_the_setting_each_execution_is_prepared_by_the_client(
    cluster: Cluster,
) -> None:
    """`pgbouncer_prepared_statements=False` (for a PgBouncer older than 1.21) still works
    through this one, which tracks what the client prepares at every execution (so it is not
    parsed again on the server either): the setting saves the client's prepare (a round trip
    to the server for its description) and its CPU, not only the server's planning."""
    database = _bouncer(cluster, prepared=False)
    try:
        await _repeat(database, rounds=1, concurrent=4)
        before = _counters(cluster)
        await _repeat(database, rounds=5, concurrent=4)
        after = _counters(cluster)
    finally:
        await database.dispose()
    assert after["client_parse"] - before["client_parse"] == 20  # every execution
    assert after["server_parse"] - before["server_parse"] <= cluster.pool_size


async def test_concurrent_requests_read_right_with_statements_kept(
    client: httpx.AsyncClient, make_person: Any, cluster: Cluster
) -> None:
    """20 concurrent requests (posts and reads of several people) through the app, two
    server connections: every post made, each person's own posts read back as theirs."""
    people = [await make_person(f"p{n}") for n in range(4)]

    async def write(n: int) -> None:
        await post_status_id(client, people[n % 4], f"post {n} by p{n % 4}")

    await asyncio.gather(*(write(n) for n in range(20)))

    async def read(n: int) -> list[str]:
        person = people[n % 4]
        got = await client.get(f"/api/v1/accounts/{person.id}/statuses", headers=person.headers)
        assert got.status_code == 200, got.text
        return [status["content"] for status in got.json()]

    pages = await asyncio.gather(*(read(n) for n in range(20)))
    for n, page in enumerate(pages):
        assert len(page) == 5 and all(f"by p{n % 4}<" in content for content in page), page


async def test_results_stay_right_across_a_pgbouncer_restart_and_new_server_connections(
    cluster: Cluster,
) -> None:
    """A restart cuts every client connection (the ping on checkout replaces them, and each
    new one prepares again); `RECONNECT` gives the clients new server connections under the
    names they keep, and PgBouncer prepares each statement again there."""
    database = _bouncer(cluster)
    try:
        await _repeat(database, rounds=2, concurrent=4)
        cluster.restart_bouncer()
        await _repeat(database, rounds=2, concurrent=4)
        before = _counters(cluster)
        assert before["server_parse"] > 0  # prepared again after the restart
        cluster.bouncer_admin("RECONNECT")  # server connections closed as they are released
        await _repeat(database, rounds=3, concurrent=4)
        after = _counters(cluster)
        assert after["client_parse"] == before["client_parse"]  # the clients kept theirs
        assert after["server_parse"] > before["server_parse"]  # the new servers prepared them
    finally:
        await database.dispose()


async def test_the_check_at_connect_tells_a_tracking_pgbouncer_from_one_that_is_not(
    cluster: Cluster,
) -> None:
    """db/statement_tracking.py: PgBouncer with `max_prepared_statements` passes; PostgreSQL
    reached directly passes (named statements are safe there); PgBouncer with
    `max_prepared_statements = 0` (as 1.18 is) fails every new connection with the advice,
    so the setting off is what serves through it."""
    for port in (cluster.bouncer_port, cluster.primary_port):
        connection = await asyncpg.connect(cluster.url(port).replace("+asyncpg", ""))
        try:
            await check_statement_tracking(connection)
        finally:
            await connection.close()
    cluster.max_prepared_statements = 0
    cluster.restart_bouncer()
    try:
        refused = _bouncer(cluster)
        try:
            with pytest.raises(StatementsNotTracked, match="PREPARED_STATEMENTS=false"):
                async with refused.session() as session:
                    await session.scalar(text("SELECT 1"))
        finally:
            await refused.dispose()
        old = _bouncer(cluster, prepared=False)
        try:
            await _repeat(old, rounds=4, concurrent=4)
        finally:
            await old.dispose()
    finally:
        cluster.max_prepared_statements = Cluster.max_prepared_statements
        cluster.restart_bouncer()


async def test_the_row_reader_keeps_its_statements_behind_pgbouncer(cluster: Cluster) -> None:
    """The row reader's own connections (db/row_reader.py) keep asyncpg's statement cache
    through a tracking PgBouncer: one prepare for many answers (each a Bind of the kept
    statement), right ones; without the setting its statements are unnamed, prepared again
    at every run (PgBouncer tracks none of them)."""
    sql = "SELECT /* reader */ CAST(:n AS bigint) + 1"
    for prepared in (True, False):
        reader = PostgresRowReader(
            cluster.url(cluster.bouncer_port), pgbouncer=True, prepared_statements=prepared
        )
        try:
            assert await reader.row(sql, {"n": 0}) == (1,)
            before = _counters(cluster)
            for n in range(20):
                assert await reader.row(sql, {"n": n}) == (n + 1,)
            after = _counters(cluster)
        finally:
            await reader.close()
        assert after["client_parse"] - before["client_parse"] == 0
        assert after["bind"] - before["bind"] == (20 if prepared else 0)


async def test_a_column_type_changed_under_kept_statements_needs_a_reconnect_and_a_restart(
    cluster: Cluster,
) -> None:
    """What keeping statements behind PgBouncer asks of a migration that changes the type of a
    column a statement returns (docs/OPERATIONS.md): PgBouncer shares one server statement per
    text among all clients, so a new process's statement is the one prepared before the
    change, which PostgreSQL refuses ("cached plan must not change result type"), again after
    SQLAlchemy drops its caches, until PgBouncer's `RECONNECT`; and a process that kept its
    statement from before reads, on a server connection that prepared it after the change,
    the new type's bytes as the old type's, with no error (bigint -> double precision: 1.0
    read as 4607182418800017408), so the processes must be restarted too. Reached directly,
    PostgreSQL refuses the old statement and asyncpg describes it again: no wrong value."""
    direct = await asyncpg.connect(cluster.url(cluster.primary_port).replace("+asyncpg", ""))
    await direct.execute("CREATE TABLE retyped (x bigint); INSERT INTO retyped VALUES (1)")
    query = text("SELECT x FROM retyped")
    kept, fresh = _bouncer(cluster), _bouncer(cluster)
    try:
        for _ in range(4):  # prepared on both server connections, kept by `kept`
            async with kept.session() as session:
                assert await session.scalar(query) == 1
        await direct.execute("ALTER TABLE retyped ALTER COLUMN x TYPE double precision")
        for _ in range(2):
            with pytest.raises(DBAPIError, match="cached statement plan is invalid"):
                async with fresh.session() as session:
                    await session.scalar(query)
        cluster.bouncer_admin("RECONNECT")
        async with fresh.session() as session:
            assert await session.scalar(query) == 1.0
        async with kept.session() as session:
            assert await session.scalar(query) == 4607182418800017408  # 1.0's bits, as bigint
    finally:
        await kept.dispose()
        await fresh.dispose()
        await direct.execute("DROP TABLE retyped")
        await direct.close()


def test_the_cluster_runs_the_built_pgbouncer_with_agoras_settings(cluster: Cluster) -> None:
    """The PgBouncer under test is the one `make pgbouncer` builds (1.21+: statements kept),
    and a connection through it gets Agora's settings from the database, not at startup."""
    version = cluster.bouncer_admin("SHOW VERSION")[0]["version"]
    assert version.startswith("PgBouncer 1.24"), version
    (row,) = cluster.psql(
        cluster.bouncer_port,
        "agora",
        "SELECT current_setting('jit') AS jit, current_setting('lock_timeout') AS lock_timeout,"
        " current_setting('plan_cache_mode') AS plan_cache_mode",
    )
    assert row == {"jit": "off", "lock_timeout": "10s", "plan_cache_mode": "force_generic_plan"}
    assert Path(PGBOUNCER).is_relative_to(Path(__file__).resolve().parent.parent / ".tools")
