"""PostgreSQL at scale: a real streaming replica and PgBouncer in transaction mode (made once for
the module by tests/postgres_cluster.py). The app's database goes through PgBouncer to the
primary, with `AGORA_DATABASE_REPLICA_URL` pointing at the replica: lag-tolerant reads come from
the replica (shown by pausing its replay), a writer reads their own writes from the primary
until the replica has replayed them, then from the replica, a token made a moment ago is checked
on the primary, writes never touch the replica, many concurrent requests share two PgBouncer
server connections (their statements kept prepared there, as PgBouncer 1.21+ allows:
tests/test_pgbouncer_prepared_statements.py), without `AGORA_DATABASE_PGBOUNCER` PgBouncer
refuses to connect, after a PgBouncer restart no request fails on a connection it cut,
a server started while PgBouncer is down serves once it is back, and when the replica goes away
reads fall back to the primary."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from agora.config import get_settings
from agora.db.engine import Database
from agora.db.migrate import upgrade
from conftest import BACKEND
from helpers import post_status_id
from live_server import free_port, wait_for
from postgres_cluster import PGBOUNCER, Cluster, make_cluster, postgres_bin

BIN = postgres_bin()
pytestmark = [
    pytest.mark.skipif(BACKEND != "postgresql", reason="a PostgreSQL replica: the PG pass"),
    pytest.mark.skipif(BIN is None, reason="PostgreSQL's server tools are not installed"),
    pytest.mark.skipif(
        not Path(PGBOUNCER).exists(), reason="pgbouncer is not installed (make setup)"
    ),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    assert BIN is not None
    made = make_cluster(BIN)
    try:
        made.start()
        yield made
    finally:
        made.stop()
        shutil.rmtree(made.root, ignore_errors=True)


@pytest.fixture(scope="module")
def replica_settings(cluster: Cluster) -> Iterator[None]:
    """What the app reads: the sticky window is long enough for a slow machine."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AGORA_DATABASE_STICKY_SECONDS", "60")
    get_settings.cache_clear()
    yield
    mp.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
async def db(cluster: Cluster, replica_settings: None) -> AsyncIterator[Database]:
    """Overrides the session's database: PgBouncer in front of the primary, and the replica."""
    database = Database(
        cluster.url(cluster.bouncer_port),
        replica_url=cluster.url(cluster.replica_port),
        pgbouncer=True,
    )
    await upgrade(Database(cluster.url(cluster.primary_port)).engine)
    yield database
    await database.dispose()


async def _replica(cluster: Cluster, sql: str) -> Any:
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{cluster.replica_port}/agora")
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _caught_up(cluster: Cluster) -> None:
    """Wait until the replica has replayed everything the primary wrote so far."""
    primary = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{cluster.primary_port}/agora")
    try:
        target = await primary.fetchval("SELECT pg_current_wal_lsn()::text")
    finally:
        await primary.close()
    for _ in range(400):
        sql = f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
        if await _replica(cluster, sql):
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the replica did not catch up")


@pytest.fixture
async def paused(cluster: Cluster) -> AsyncIterator[None]:
    """The replica stops replaying (it lags as much as the test wants), then resumes."""
    await _caught_up(cluster)
    await _replica(cluster, "SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        await _replica(cluster, "SELECT pg_wal_replay_resume()")


def _texts(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [status["content"] for status in response.json()]


async def test_lag_tolerant_reads_come_from_the_replica_and_writers_read_their_own(
    client: httpx.AsyncClient, make_person: Any, cluster: Cluster, paused: None
) -> None:
    alice, bob = await make_person("alice"), await make_person("bob")
    # each token accepted once (checked on the primary), so the next reads may use the replica
    for person in (alice, bob):
        assert (
            await client.get("/api/v1/timelines/home", headers=person.headers)
        ).status_code == 200
    await post_status_id(client, alice, "written while the replica lags")
    public = "/api/v1/timelines/public"
    assert "lags" in " ".join(_texts(await client.get(public, headers=alice.headers)))
    assert _texts(await client.get(public, headers=bob.headers)) == []  # from the replica
    assert _texts(await client.get(public)) == []
    assert (await client.get("/@alice")).status_code == 404  # her account is not there yet
    await _replica(cluster, "SELECT pg_wal_replay_resume()")
    await _caught_up(cluster)
    assert "lags" in " ".join(_texts(await client.get(public, headers=bob.headers)))
    assert "lags" in (await client.get("/@alice")).text


async def test_a_writer_reads_from_the_replica_once_it_has_replayed_their_write(
    client: httpx.AsyncClient, make_person: Any, cluster: Cluster, paused: None
) -> None:
    """Read-your-writes by WAL position: within the sticky window (60 s here) a writer reads
    from the primary while the replica has not replayed their write, and from the replica
    once it has (a post someone else made meanwhile, on the primary only, shows which)."""
    gil, hal = await make_person("gil"), await make_person("hal")
    for person in (gil, hal):  # each token accepted once (checked on the primary)
        assert (
            await client.get("/api/v1/timelines/home", headers=person.headers)
        ).status_code == 200
    await post_status_id(client, gil, "gil wrote it")
    public = "/api/v1/timelines/public"
    assert "gil wrote it" in " ".join(_texts(await client.get(public, headers=gil.headers)))
    await _replica(cluster, "SELECT pg_wal_replay_resume()")
    await _caught_up(cluster)
    await _replica(cluster, "SELECT pg_wal_replay_pause()")
    await post_status_id(client, hal, "hal wrote later")
    seen_by_gil = " ".join(_texts(await client.get(public, headers=gil.headers)))
    assert "gil wrote it" in seen_by_gil and "hal wrote later" not in seen_by_gil  # replica
    seen_by_hal = " ".join(_texts(await client.get(public, headers=hal.headers)))
    assert "hal wrote later" in seen_by_hal  # not replayed yet: the primary


async def test_a_new_token_and_routes_not_marked_use_the_primary(
    client: httpx.AsyncClient, make_person: Any, paused: None
) -> None:
    carol = await make_person("carol")  # neither account nor token is on the replica
    assert (await client.get("/api/v1/timelines/home", headers=carol.headers)).status_code == 200
    me = await client.get("/api/v1/accounts/verify_credentials", headers=carol.headers)
    assert me.status_code == 200 and me.json()["username"] == "carol"
    # a write while the replica lags lands on the primary, and its author sees it at once
    status = await post_status_id(client, carol, "on the primary")
    shown = await client.get(f"/api/v1/statuses/{status}", headers=carol.headers)
    assert shown.status_code == 200


async def test_concurrent_requests_share_pgbouncer_server_connections(
    client: httpx.AsyncClient, make_person: Any, cluster: Cluster
) -> None:
    dave = await make_person("dave")

    async def one(n: int) -> int:
        if n % 3 == 0:
            response = await client.post(
                "/api/v1/statuses", headers=dave.headers, data={"status": f"post {n}"}
            )
        else:
            response = await client.get("/api/v1/accounts/verify_credentials", headers=dave.headers)
        return response.status_code

    codes = await asyncio.gather(*(one(n) for n in range(36)))
    assert codes == [200] * 36


async def test_a_pgbouncer_restart_fails_no_request_after_it(
    client: httpx.AsyncClient, make_person: Any, cluster: Cluster
) -> None:
    """A restarted PgBouncer has cut every pooled connection; each is pinged as it is checked
    out, so the requests after the restart do not fail on them (bench/topology.py found it)."""
    fay = await make_person("fay")
    me = "/api/v1/accounts/verify_credentials"
    codes = await asyncio.gather(*(client.get(me, headers=fay.headers) for _ in range(8)))
    assert list({c.status_code for c in codes}) == [200]  # several connections in the pool
    cluster.restart_bouncer()
    for _ in range(8):
        assert (await client.get(me, headers=fay.headers)).status_code == 200
    posted = await client.post("/api/v1/statuses", headers=fay.headers, data={"status": "on"})
    assert posted.status_code == 200


async def test_behind_pgbouncer_a_pooled_connection_is_reused_without_a_round_trip(
    cluster: Cluster,
) -> None:
    """The check on checkout passes on a live connection and sends nothing: sessions one after
    another reuse the one pooled connection, and the only statements on it are the sessions'
    own (it was a `SELECT 1` ping, a round trip through PgBouncer at every checkout; before
    that an empty query as the ping made asyncpg raise after its round trip, so every
    checkout invalidated the pool and opened a new connection: the topology's web processes
    made ~15 connections a second each)."""
    from sqlalchemy import event

    bounced = Database(cluster.url(cluster.bouncer_port), pgbouncer=True)
    made: list[object] = []
    invalidated: list[BaseException | None] = []
    event.listen(bounced.engine.sync_engine, "connect", lambda conn, rec: made.append(conn))
    event.listen(
        bounced.engine.sync_engine, "invalidate", lambda conn, rec, exc: invalidated.append(exc)
    )
    sent: list[str] = []
    try:
        async with bounced.session() as session:
            assert await session.scalar(text("SELECT 1")) == 1
            connection = await session.connection()
            driver = (await connection.get_raw_connection()).driver_connection
        driver.add_query_logger(lambda record: sent.append(record.query))  # each statement
        for n in range(4):
            async with bounced.session() as session:
                assert await session.scalar(text("SELECT CAST(:n AS integer)"), {"n": n}) == n
        assert len(made) == 1
        assert invalidated == []
        assert bounced.engine.pool.checkedin() == 1
        assert "SELECT 1" not in sent
    finally:
        await bounced.dispose()


async def test_behind_pgbouncer_every_pooled_connection_is_kept(cluster: Cluster) -> None:
    """Behind PgBouncer the pool keeps every connection it opened, up to its cap: fifteen
    sessions at once, then fifteen again, open fifteen connections in all (with ten kept
    and the rest closed as they came back, the topology's web processes logged in to
    PgBouncer about three times a second, each new connection checked and its statements
    prepared again). Reached directly the pool keeps `POOL_SIZE` (server backends)."""
    from sqlalchemy import event

    from agora.db.engine import POOL_OVERFLOW, POOL_SIZE

    bounced = Database(cluster.url(cluster.bouncer_port), pgbouncer=True)
    made: list[object] = []
    event.listen(bounced.engine.sync_engine, "connect", lambda conn, rec: made.append(conn))

    async def one() -> None:
        async with bounced.session() as session:
            assert await session.scalar(text("SELECT count(*) FROM pg_sleep(0.05)")) == 1

    try:
        for _ in range(2):
            await asyncio.gather(*(one() for _ in range(15)))
        assert len(made) == 15
        assert bounced.engine.pool.checkedin() == 15
        assert bounced.engine.pool.size() == POOL_SIZE + POOL_OVERFLOW
    finally:
        await bounced.dispose()
    direct = Database(cluster.url(cluster.primary_port))
    try:
        assert direct.engine.pool.size() == POOL_SIZE
    finally:
        await direct.dispose()


async def test_behind_pgbouncer_a_cut_pooled_connection_fails_its_check_and_is_replaced(
    cluster: Cluster,
) -> None:
    """The ping still does its work: a pooled connection whose server side is gone (PgBouncer
    killed its client) fails the ping, and the session gets a new connection, no error."""
    from sqlalchemy import event

    bounced = Database(cluster.url(cluster.bouncer_port), pgbouncer=True)
    made: list[object] = []
    event.listen(bounced.engine.sync_engine, "connect", lambda conn, rec: made.append(conn))
    try:
        async with bounced.session() as session:
            assert await session.scalar(text("SELECT 1")) == 1
        cluster.restart_bouncer()  # cuts every client connection
        async with bounced.session() as session:
            assert await session.scalar(text("SELECT 1")) == 1
        assert len(made) == 2
    finally:
        await bounced.dispose()


async def test_a_session_whose_connection_pgbouncer_cut_ends_without_raising(
    cluster: Cluster,
) -> None:
    """A session holding a connection when PgBouncer restarts (a request in flight) ends
    without raising: its ROLLBACK on the cut connection failed at close, the error escaped the
    request's dependency after the route had answered, and uvicorn closed the connection with
    no response; nginx took that web process out of its upstream for `fail_timeout` (10 s),
    and with both out answered every request 502 (bench/topology.py: about 2,000 requests
    after each PgBouncer restart at 300 people). The connection is thrown away, and the next
    session gets a new one. A session that had failed keeps its own error."""
    from sqlalchemy import event
    from sqlalchemy.exc import DBAPIError

    bounced = Database(cluster.url(cluster.bouncer_port), pgbouncer=True)
    made: list[object] = []
    event.listen(bounced.engine.sync_engine, "connect", lambda conn, rec: made.append(conn))
    try:
        for write in (False, True):
            async with bounced.session(write=write) as session:
                assert await session.scalar(text("SELECT 1")) == 1  # a transaction is open
                cluster.restart_bouncer()  # cuts it while the session holds it
        with pytest.raises(DBAPIError):
            async with bounced.session() as session:
                assert await session.scalar(text("SELECT 1")) == 1
                cluster.restart_bouncer()
                await session.scalar(text("SELECT 2"))  # on the cut connection: its error
        async with bounced.session() as session:
            assert await session.scalar(text("SELECT 3")) == 3
        assert len(made) == 4  # each cut connection replaced, none reused
    finally:
        await bounced.dispose()


async def test_a_connection_asked_for_while_pgbouncer_restarts_waits_for_it(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session that needs a new connection while PgBouncer is down (restarting) waits until
    it listens again instead of failing at once (bench/topology.py: every request in the
    2 s of a restart answered 503); past `CONNECT_WAIT_SECONDS` the refusal is raised, as
    `is_database_busy` knows it (503 with Retry-After), and later connections are tried once
    without waiting (an outage) until one succeeds."""
    import time

    from agora.db import engine as db_engine
    from agora.db.engine import is_database_busy

    bounced = Database(cluster.url(cluster.bouncer_port), pgbouncer=True)
    try:
        async with bounced.session() as session:
            assert await session.scalar(text("SELECT 1")) == 1
        cluster.stop_bouncer()

        async def back_in_a_second() -> None:
            await asyncio.sleep(1.0)
            await asyncio.to_thread(cluster.start_bouncer)

        restarting = asyncio.create_task(back_in_a_second())
        started = time.monotonic()
        async with bounced.session() as session:
            assert await session.scalar(text("SELECT 2")) == 2
        waited = time.monotonic() - started
        await restarting
        assert 0.9 <= waited < db_engine.CONNECT_WAIT_SECONDS

        monkeypatch.setattr(db_engine, "CONNECT_WAIT_SECONDS", 0.5)
        cluster.stop_bouncer()
        started = time.monotonic()
        with pytest.raises(ConnectionRefusedError) as refused:
            async with bounced.session() as session:
                await session.scalar(text("SELECT 3"))
        assert 0.4 <= time.monotonic() - started < 3 and is_database_busy(refused.value)
        # refused through a whole wait: an outage, not a restart; the next ones try once
        started = time.monotonic()
        with pytest.raises(ConnectionRefusedError):
            async with bounced.session() as session:
                await session.scalar(text("SELECT 4"))
        assert time.monotonic() - started < 0.4
        cluster.start_bouncer()
        async with bounced.session() as session:  # one succeeds: the wait is back
            assert await session.scalar(text("SELECT 5")) == 5
        monkeypatch.setattr(db_engine, "CONNECT_WAIT_SECONDS", 5.0)
        await bounced.engine.dispose()  # no pooled connection: the next one is new
        cluster.stop_bouncer()
        restarting = asyncio.create_task(back_in_a_second())
        async with bounced.session() as session:
            assert await session.scalar(text("SELECT 6")) == 6
        await restarting
    finally:
        if cluster.bouncer is None or cluster.bouncer.poll() is not None:
            cluster.start_bouncer()
        await bounced.dispose()


async def test_a_read_whose_connection_pgbouncer_cut_is_answered_and_a_write_is_not_rerun(
    client: httpx.AsyncClient, make_person: Any, cluster: Cluster
) -> None:
    """A GET whose statement was running when PgBouncer restarted is run again on a new
    connection and answered 200 (http/cut_reads.py), not 503; a POST cut the same way keeps
    its 503 and is not run twice. Each request is held in its statement by a lock another
    connection holds on the primary, then PgBouncer is restarted under it."""
    gus = await make_person("gus")
    me = "/api/v1/accounts/verify_credentials"
    assert (await client.get(me, headers=gus.headers)).status_code == 200
    primary = f"postgresql://postgres@127.0.0.1:{cluster.primary_port}/agora"

    async def cut_while_waiting(request: Any, table: str) -> httpx.Response:
        holder = await asyncpg.connect(primary)
        try:
            locking = holder.transaction()
            await locking.start()
            await holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            answer = asyncio.create_task(request())
            for _ in range(200):  # until the request waits for the lock
                waiting = await holder.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = $1::regclass",
                    table,
                )
                if waiting:
                    break
                await asyncio.sleep(0.025)
            assert waiting, "the request never waited for the lock"
            await asyncio.to_thread(cluster.restart_bouncer)
            await locking.rollback()
            return await answer
        finally:
            await holder.close()

    read = await cut_while_waiting(lambda: client.get(me, headers=gus.headers), "accounts")
    assert read.status_code == 200, read.text
    assert read.json()["username"] == "gus"

    async def post() -> httpx.Response:
        return await client.post("/api/v1/statuses", headers=gus.headers, data={"status": "x1"})

    written = await cut_while_waiting(post, "posts")
    assert written.status_code == 503 and int(written.headers["retry-after"]) >= 1
    mine = await client.get(f"/api/v1/accounts/{gus.id}/statuses", headers=gus.headers)
    assert [s["content"] for s in mine.json()].count("<p>x1</p>") == 0  # run once, cut


async def test_a_replica_reached_directly_reads_outside_transactions_with_prepared_statements(
    cluster: Cluster,
) -> None:
    """`replica_pgbouncer=False` (AGORA_DATABASE_REPLICA_PGBOUNCER, bench/topology.py): the
    primary stays behind PgBouncer, but the replica's reads run outside any transaction (no
    BEGIN / ROLLBACK round trips) and stay prepared on its connection (asyncpg's statement
    cache: no parse nor plan again); left unset, the replica is treated as the primary."""
    direct = Database(
        cluster.url(cluster.bouncer_port),
        replica_url=cluster.url(cluster.replica_port),
        pgbouncer=True,
        replica_pgbouncer=False,
    )
    query = text("SELECT count(*) FROM accounts WHERE id > :after")
    try:
        for _ in range(3):
            session = await direct.replica_session()
            assert session is not None
            async with session:
                assert await session.scalar(query, {"after": 0}) is not None
                connection = await session.connection()
                driver = (await connection.get_raw_connection()).driver_connection
                assert not driver.is_in_transaction()
                prepared = await session.scalars(
                    text("SELECT name FROM pg_prepared_statements WHERE statement LIKE :q"),
                    {"q": "SELECT count(*) FROM accounts WHERE id > %"},
                )
                assert len(prepared.all()) == 1  # prepared once, used three times
        assert direct.replica_engine is not None
        assert direct.replica_engine.pool.checkedin() == 1  # one connection did it all
    finally:
        await direct.dispose()
    bounced = Database(
        cluster.url(cluster.bouncer_port),
        replica_url=cluster.url(cluster.replica_port),
        pgbouncer=True,
    )
    try:
        session = await bounced.replica_session()
        assert session is not None
        async with session:
            await session.scalar(query, {"after": 0})
            driver = (await (await session.connection()).get_raw_connection()).driver_connection
            assert driver.is_in_transaction()  # as behind PgBouncer: BEGIN, no cache
    finally:
        await bounced.dispose()


async def test_without_the_pgbouncer_setting_pgbouncer_refuses_the_connection(
    cluster: Cluster,
) -> None:
    """The setting is needed: a plain connection sends `lock_timeout` at startup, which
    PgBouncer refuses; with the setting it is not sent."""
    plain = Database(cluster.url(cluster.bouncer_port))
    try:
        with pytest.raises(Exception, match="unsupported startup parameter"):
            async with plain.engine.connect():
                pass
    finally:
        await plain.dispose()


async def test_a_server_started_while_pgbouncer_is_down_serves_once_it_is_back(
    cluster: Cluster, db: Database, tmp_path: Path
) -> None:
    """`agora serve` whose PgBouncer is restarting as it starts (the topology test's restarted
    web process met the PgBouncer restart, and exited: "Application startup failed") waits
    for it (db/start_wait.py) and serves once it listens again."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AGORA_")},
        "AGORA_DATABASE_URL": cluster.url(cluster.bouncer_port),
        "AGORA_DATABASE_PGBOUNCER": "true",
        "AGORA_INPROCESS_WORKERS": "0",
        "AGORA_MEDIA_DIR": str(tmp_path / "media"),
        "AGORA_LOG_LEVEL": "warning",
    }
    log = tmp_path / "serve.log"
    cluster.stop_bouncer()
    server = None
    try:
        with log.open("wb") as output:
            server = subprocess.Popen(
                [sys.executable, "-m", "agora.cli.main", "serve", "--port", str(port)],
                env=env, stdout=output, stderr=subprocess.STDOUT,
            )  # fmt: skip

        def waiting() -> bool:
            assert server is not None and server.poll() is None, log.read_text()[-3000:]
            return log.read_text().count("the database cannot be reached") >= 2

        await asyncio.to_thread(wait_for, waiting, 120, "agora serve to find PgBouncer down, twice")
        cluster.start_bouncer()

        def answers() -> bool:
            assert server is not None and server.poll() is None, log.read_text()[-3000:]
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/v1/agora/ping").is_success
            except httpx.TransportError:
                return False

        await asyncio.to_thread(wait_for, answers, 120, "agora serve to answer, PgBouncer back")
    finally:
        if cluster.bouncer is None or cluster.bouncer.poll() is not None:
            cluster.start_bouncer()
        if server is not None and server.poll() is None:
            server.terminate()
            server.wait(30)


async def test_reads_fall_back_to_the_primary_when_the_replica_is_down(
    client: httpx.AsyncClient, make_person: Any, cluster: Cluster, db: Database
) -> None:
    """Last in the module: it stops the replica."""
    erin = await make_person("erin")
    await post_status_id(client, erin, "still readable")
    cluster.stop_replica()
    await db.replica_engine.dispose()  # type: ignore[union-attr]  # no pooled connection left
    for _ in range(2):  # the first finds it down, the second does not try it again
        public = await client.get("/api/v1/timelines/public")
        assert "still readable" in " ".join(_texts(public))
    assert not db.replica_usable()
