"""What one home read and one post cost in the topology's database stack (issue 18), counted
rather than timed, so that a loaded machine hardly moves the figures.

    python -m bench.topology_costs [--people 40] [--requests 200]

Starts what bench/topology.py puts behind its web processes (tests/postgres_cluster.py: a
PostgreSQL primary, a streaming replica, PgBouncer in transaction mode; a private
`redis-server`), seeds `--people` demo accounts, and sends requests through the application in
this process (httpx's ASGI transport, no HTTP server), configured as bench/topology.py
configures `agora serve`: `AGORA_DATABASE_PGBOUNCER=true` (with prepared statements kept unless
`--pgbouncer-prepared-statements false`, which also has PgBouncer track none, as 1.18), the
replica, Redis. Between the
application and each server sits a relay (`CountingRelay`, in its own thread) that counts the
server's ReadyForQuery messages: one per round trip the driver waits for.

Per request kind (a home read from the replica, the page unchanged; the same after someone
else liked or unliked a post on it, which is not counted, and the replica caught up: the
page changed, as for most reads of bench/topology.py; a like or its undoing; a post; a home
read by a person who wrote in the last seconds while the replica has not replayed it
(paused): the primary, after a check on the replica; the same once the replica has caught
up: the replica), each request counted alone: SQL statements
(SQLAlchemy; the row reader's are not among them, its round trips are), round trips to
PgBouncer and to the replica, and CPU milliseconds of the application (its thread's
`time.thread_time`), of PgBouncer and of both PostgreSQL servers' client backends (user +
system time from /proc; 10 ms ticks, so use a few hundred requests). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.common import use_database
from bench.http import UNREFUSING_LIMITS
from bench.topology import seed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the test suite's process helpers, shared
from live_server import free_port  # noqa: E402
from postgres_cluster import Cluster, make_cluster, postgres_bin  # noqa: E402

SSL_REQUEST = 80877103  # the code of the startup message asking for TLS (answered by 1 byte)
TICKS = os.sysconf("SC_CLK_TCK")


class CountingRelay:
    """A TCP relay to a PostgreSQL server (or PgBouncer) that counts the messages the server
    sends, by type: `ready` (ReadyForQuery, `Z`) is one per round trip."""

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.port = free_port()
        self.ready = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = threading.Event()

    def start(self) -> CountingRelay:
        """Listen (in a thread of its own)."""
        self._thread.start()
        self._started.wait(10)
        return self

    def stop(self) -> None:
        """Stop listening and relaying."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._relay, "127.0.0.1", self.port)
        )
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            client_w.close()
            return
        first = await client_r.read(65536)
        unframed = 0  # bytes the server sends before its framed messages (the TLS answer)
        if len(first) >= 8 and struct.unpack("!ii", first[:8]) == (8, SSL_REQUEST):
            unframed = 1
        server_w.write(first)
        await asyncio.gather(
            self._pipe(client_r, server_w), self._count(server_r, client_w, unframed)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _count(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, unframed: int
    ) -> None:
        pending = b""
        try:
            while data := await reader.read(65536):
                writer.write(data)
                pending += data
                if unframed:
                    skipped = min(unframed, len(pending))
                    pending, unframed = pending[skipped:], unframed - skipped
                while len(pending) >= 5:
                    length = struct.unpack("!i", pending[1:5])[0]
                    if len(pending) < 1 + length:
                        break
                    if pending[:1] == b"Z":
                        self.ready += 1
                    pending = pending[1 + length :]
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _cpu_ticks(pids: list[int]) -> dict[int, int]:
    """Each live process's user + system ticks."""
    ticks = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks[pid] = int(fields[11]) + int(fields[12])  # utime, stime
    return ticks


def _spent(before: dict[int, int], after: dict[int, int]) -> int:
    """Ticks spent between two readings by the processes alive at both."""
    return sum(after[pid] - ticks for pid, ticks in before.items() if pid in after)


def _is_client_backend(pid: int) -> bool:
    """A PostgreSQL process serving a connection to the `agora` database (not the WAL replay,
    WAL sender or background writer, whose work the requests measured do not cause alone)."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return title.startswith("postgres: postgres agora ")


def _server_pids(cluster: Cluster) -> dict[str, list[int]]:
    """The processes of PgBouncer, and the client backends of each PostgreSQL server, now."""
    assert cluster.bouncer is not None
    out: dict[str, list[int]] = {"pgbouncer": [cluster.bouncer.pid]}
    out["pgbouncer"] += _children(cluster.bouncer.pid)
    for name in ("primary", "replica"):
        master = int((cluster.root / name / "postmaster.pid").read_text().split()[0])
        out[name] = [pid for pid in _children(master) if _is_client_backend(pid)]
    return out


@contextmanager
def stack(prepared: bool) -> Iterator[tuple[Cluster, int]]:
    """The cluster and a private Redis (its port); both stopped afterwards. `prepared`:
    PgBouncer tracks prepared statements (else `max_prepared_statements = 0`, as 1.18)."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise SystemExit("PostgreSQL's server tools are not installed")
    cluster = make_cluster(bin_dir)
    cluster.pool_size, cluster.max_connections = 20, 300  # as bench/topology.py
    if not prepared:
        cluster.max_prepared_statements = 0
    redis_port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        cluster.start()
        yield cluster, redis_port
    finally:
        redis.terminate()
        redis.wait(10)
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


async def _replica_sql(cluster: Cluster, sql: str) -> None:
    """Run `sql` on the replica directly (not through the counting relay)."""
    import asyncpg

    replica = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{cluster.replica_port}/agora")
    try:
        await replica.execute(sql)
    finally:
        await replica.close()


async def _caught_up(cluster: Cluster) -> None:
    import asyncpg

    primary = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{cluster.primary_port}/agora")
    replica = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{cluster.replica_port}/agora")
    try:
        target = await primary.fetchval("SELECT pg_current_wal_lsn()::text")
        for _ in range(400):
            if await replica.fetchval(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
                return
            await asyncio.sleep(0.025)
    finally:
        await primary.close()
        await replica.close()


async def measure(cluster: Cluster, redis_port: int, args: argparse.Namespace) -> dict[str, Any]:
    """Seed, warm up, then count each kind of request."""
    from sqlalchemy import event

    from agora.api.page_cache import get_page_cache
    from agora.app import create_app
    from agora.db.engine import Database

    setup = await seed(cluster.url(cluster.primary_port), args.people)
    await _caught_up(cluster)
    bouncer, replica = (
        CountingRelay(cluster.bouncer_port).start(),
        CountingRelay(cluster.replica_port).start(),
    )
    os.environ.update(UNREFUSING_LIMITS)
    use_database(
        cluster.url(bouncer.port),
        database_pgbouncer="true",
        database_pgbouncer_prepared_statements=args.pgbouncer_prepared_statements,
        database_replica_url=cluster.url(replica.port),
        database_replica_pgbouncer=args.replica_pgbouncer,
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        database_sticky_seconds=3600,  # each person's posts mark them for the whole run
        inprocess_workers=0,
        log_level="warning",
    )
    app = create_app(migrate=False)
    people = setup["people"]
    statements = 0

    def count(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    out: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        db: Database = app.state.db
        for engine in (db.engine, db.replica_engine):
            assert engine is not None
            event.listen(engine.sync_engine, "before_cursor_execute", count)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

            def headers(n: int) -> dict[str, str]:
                return {"Authorization": f"Bearer {people[n % len(people)]['token']}"}

            seen: dict[int, list[str]] = {}  # person -> public posts on their last home page

            async def home(n: int) -> None:
                got = await client.get("/api/v1/timelines/home?limit=20", headers=headers(n))
                assert got.status_code == 200, got.text
                shown = [s.get("reblog") or s for s in got.json()]
                public = [s["id"] for s in shown if s["visibility"] == "public"]
                seen[n % len(people)] = public or seen.get(n % len(people), [])

            async def post(n: int) -> None:
                body = {"status": f"costs {n} {time.time()}", "visibility": "public"}
                got = await client.post("/api/v1/statuses", headers=headers(n), json=body)
                assert got.status_code == 200, got.text

            async def react(n: int, verb: str, liker: int | None = None) -> None:
                """`liker` (default: person n) likes (or unlikes) the first public post on
                person n's home page."""
                who = n if liker is None else liker
                target = (seen.get(n % len(people)) or setup["posts"])[0]
                got = await client.post(f"/api/v1/statuses/{target}/{verb}", headers=headers(who))
                assert got.status_code == 200, got.text

            async def unlike(n: int) -> None:  # so that the like measured is a new one
                await react(n, "unfavourite")

            async def like(n: int) -> None:
                await react(n, "favourite")

            async def someone_likes_on_the_page(n: int) -> None:
                await react(n, "unfavourite", liker=n + 1)
                await react(n, "favourite", liker=n + 1)  # a new like: the page changed

            for n in range(len(people)):  # every token accepted once, every page rendered once
                await home(n)
            # a home read whose page changed since the last (a like of a post on it by
            # someone else, not counted): what most reads of bench/topology.py are; then
            # after their posts, people read home while the replica has not replayed them
            # (paused: the primary, after a check on the replica), then once it has
            kinds: dict[str, tuple[Any, Any]] = {
                "home_from_replica": (home, None),
                "home_page_changed": (home, someone_likes_on_the_page),
                "like": (like, unlike),
                "post": (post, None),
                "home_after_writing_replica_behind": (home, None),
                "home_after_writing_replica_caught_up": (home, None),
            }
            for name, (action, change) in kinds.items():
                if name == "home_after_writing_replica_behind":
                    await _replica_sql(cluster, "SELECT pg_wal_replay_pause()")
                if name == "home_after_writing_replica_caught_up":
                    await _replica_sql(cluster, "SELECT pg_wal_replay_resume()")
                    await _caught_up(cluster)
                ticks: dict[str, int] = {}
                counted = {"statements": 0, "bouncer": 0, "replica": 0, "app": 0.0}
                pages = get_page_cache()
                answered = {"hits": pages.hits, "misses": pages.misses}
                for n in range(args.requests):
                    if change is not None:  # not counted
                        await change(n)
                        await _caught_up(cluster)
                    pids = _server_pids(cluster)
                    before = {k: _cpu_ticks(v) for k, v in pids.items()}
                    statements, bouncer.ready, replica.ready = 0, 0, 0
                    started = time.thread_time()
                    await action(n)
                    counted["app"] += time.thread_time() - started
                    counted["statements"] += statements
                    counted["bouncer"] += bouncer.ready
                    counted["replica"] += replica.ready
                    after = {k: _cpu_ticks(v) for k, v in _server_pids(cluster).items()}
                    for k in before:
                        ticks[k] = ticks.get(k, 0) + _spent(before[k], after[k])
                per = args.requests
                out[name] = {
                    "statements": round(counted["statements"] / per, 2),
                    "round_trips_pgbouncer": round(counted["bouncer"] / per, 2),
                    "round_trips_replica": round(counted["replica"] / per, 2),
                    "cpu_ms_app": round(counted["app"] * 1000 / per, 3),
                    **{f"cpu_ms_{k}": round(v * 1000 / TICKS / per, 3) for k, v in ticks.items()},
                    # pages answered from memory and built (api/page_cache.py)
                    "pages_from_memory": pages.hits - answered["hits"],
                    "pages_built": pages.misses - answered["misses"],
                }
    bouncer.stop()
    replica.stop()
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run it; print and return the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--requests", type=int, default=200, help="of each kind")
    parser.add_argument(
        "--replica-pgbouncer",
        choices=("true", "false"),
        default="false",
        help="AGORA_DATABASE_REPLICA_PGBOUNCER (bench/topology.py: false, reached directly)",
    )
    parser.add_argument(
        "--pgbouncer-prepared-statements",
        choices=("true", "false"),
        default="true",
        help="AGORA_DATABASE_PGBOUNCER_PREPARED_STATEMENTS (false: PgBouncer as 1.18)",
    )
    args = parser.parse_args(argv)
    with stack(args.pgbouncer_prepared_statements == "true") as (cluster, redis_port):
        kinds = asyncio.run(measure(cluster, redis_port, args))
    result = {
        "benchmark": "topology_costs",
        "people": args.people,
        "requests_per_kind": args.requests,
        "replica_pgbouncer": args.replica_pgbouncer,
        "pgbouncer_prepared_statements": args.pgbouncer_prepared_statements,
        "kinds": kinds,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
