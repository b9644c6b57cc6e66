"""The topology test (issue 18): the whole scale-out shape on one machine, driven by people,
hurt on purpose, then checked.

    python -m bench.topology --people 300 --minutes 5      # the topology, with the faults
    python -m bench.topology --people 300 --minutes 5 --single-sqlite   # one process, SQLite
    python -m bench.topology --people 50 --seconds 30 --compare-web     # home reads: 1 vs 2 web
    python -m bench.topology ... --pgbouncer-prepared-statements false   # as behind PgBouncer 1.18

The topology: nginx (docs/deploy/nginx.conf as it is: tests/nginx_proxy.py) in front of two
`agora serve` processes (each on its own port, both in nginx's upstream, no in-process job
loop), two `agora worker` processes, PgBouncer in transaction mode in front of a fresh
PostgreSQL primary with a streaming replica for lag-tolerant reads (tests/postgres_cluster.py),
a private `redis-server` on a free port (the machine's Redis is never touched) and moto's S3
server for media. `--people` demo accounts (the demo seeder) get tokens; Locust
(bench/topology_people.py, its own process) plays them for the duration, beside `--streams`
server-sent-event `user` streams (plain asyncio sockets in this process, reconnecting when
cut). During the run, one after another: kill -9 of one web process (started again), kill -9
of one worker (started again), a restart of Redis, a restart of PgBouncer, at 20, 35, 50 and
65 % of the run (a fault does not wait for the one before to be over); each fault's window
runs from its start until what it hurt answers again, plus a few seconds.

Afterwards, the job queue drained, the checks: every post answered 200 exists once (each
text is unique: a double post shows); every follower of its author (and the author) has it in
the home feed, and nobody else (fan-out exactly once); every like and boost answered 200 is
stored and each post's counters equal its stored likes and boosts; no dead job; no 5xx (or no
answer) outside the fault windows; no 429 (every rate limit is set out of reach, so a refusal
is the limiter miscounting); the posts read back through the API. Prints one JSON
object: requests/s, p50/p99 per request kind, errors, 5xx inside and outside the windows,
the checks, the machine's load, and PgBouncer's prepared statement counters since its restart
(statements prepared by clients and on servers, executions, the most statements prepared on one
server connection). With `--pgbouncer-prepared-statements false`, PgBouncer tracks none
(`max_prepared_statements = 0`, as 1.18) and Agora prepares each statement in its transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import latency_stats, use_database
from bench.http import UNREFUSING_LIMITS, tokens_for

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the test suite's process helpers, shared
from live_server import free_port, wait_for  # noqa: E402
from nginx_proxy import Nginx, site_config  # noqa: E402
from postgres_cluster import Cluster, make_cluster, postgres_bin  # noqa: E402

AGORA = [sys.executable, "-m", "agora.cli.main"]
PEOPLE_FILE = Path(__file__).with_name("topology_people.py")
# Seconds after a fault's recovery still counted in its window: nginx takes an upstream that
# failed a request out for `fail_timeout` (10 s by default, the deploy file keeps it).
GRACE = 11.0
BUCKET = "agora-media"


@dataclass
class Process:
    """One process of the topology, started again under the same name after a kill."""

    name: str
    command: list[str]
    env: dict[str, str]
    logs: Path
    ready: Callable[[], bool] | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> None:
        """Start it and (unless told not to) wait until `ready` says so."""
        log = open(self.logs / f"{self.name}.log", "ab")  # noqa: SIM115
        self.popen = subprocess.Popen(
            self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 120) -> None:
        """Wait until `ready` says so (at once without a `ready`); fail if it exits."""
        if self.ready is not None:
            wait_for(self._answers, timeout, f"{self.name} to answer")

    def _answers(self) -> bool:
        assert self.popen is not None and self.ready is not None
        if self.popen.poll() is not None:
            text = (self.logs / f"{self.name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{text}")
        return self.ready()

    def kill(self) -> None:
        """kill -9, as a crash would."""
        assert self.popen is not None
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s; only this process."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(15)


def _http_ready(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    return ready


def _port_ready(port: int) -> Callable[[], bool]:
    def ready() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    return ready


@dataclass
class Topology:
    """Everything that runs, and how to reach it."""

    root: Path
    single_sqlite: bool
    webs: list[Process] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)
    others: list[Process] = field(default_factory=list)  # redis, s3
    cluster: Cluster | None = None
    nginx: Nginx | None = None
    database_url: str = ""  # where the bench itself reads and writes (the primary)
    front: str = ""

    def process(self, name: str) -> Process:
        """The process called `name`."""
        return next(p for p in [*self.webs, *self.workers, *self.others] if p.name == name)

    def stop(self) -> None:
        """Stop everything this topology started, nothing else."""
        if self.nginx is not None:
            self.nginx.stop()
        for proc in [*self.webs, *self.workers, *self.others]:
            proc.stop()
        if self.cluster is not None:
            self.cluster.stop()
            shutil.rmtree(self.cluster.root, ignore_errors=True)

    def route(self, ports: list[int]) -> None:
        """(Re)start nginx with these Agora ports in its upstream."""
        assert self.nginx is not None
        self.nginx.stop()
        media = self.root / "media"
        media.mkdir(exist_ok=True)
        self.nginx.start(site_config(ports, self.nginx.port, media, self.nginx.work))


def _agora_env(front_port: int, database: dict[str, str], more: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        **UNREFUSING_LIMITS,
        **database,
        "AGORA_BASE_URL": f"http://127.0.0.1:{front_port}",
        "AGORA_DOMAIN": f"127.0.0.1:{front_port}",
        "AGORA_LOG_LEVEL": "warning",
        "AGORA_REGISTRATIONS": "open",
        **more,
    }


def _init(env: dict[str, str], logs: Path) -> None:
    done = subprocess.run([*AGORA, "init"], env=env, capture_output=True, text=True, timeout=300)
    (logs / "init.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError("agora init failed:\n" + done.stdout + done.stderr)


@contextmanager
def topology(webs: int, single_sqlite: bool, prepared: bool = True) -> Iterator[Topology]:
    """Start the topology (or, with `single_sqlite`, one `agora serve` on SQLite with its
    in-process job loop); stop all of it afterwards. `prepared`: PgBouncer tracks prepared
    statements and Agora keeps them (AGORA_DATABASE_PGBOUNCER_PREPARED_STATEMENTS)."""
    root = Path(tempfile.mkdtemp(prefix="agora-topology-"))
    logs = root / "logs"
    logs.mkdir()
    top = Topology(root=root, single_sqlite=single_sqlite)
    try:
        if single_sqlite:
            _start_single(top, logs)
        else:
            _start_topology(top, logs, webs, prepared)
        yield top
    finally:
        top.stop()
        if os.environ.get("TOPOLOGY_KEEP"):
            print(f"logs kept in {logs}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


def _start_single(top: Topology, logs: Path) -> None:
    port = free_port()
    top.database_url = f"sqlite+aiosqlite:///{top.root / 'agora.db'}"
    env = _agora_env(
        port,
        {"AGORA_DATABASE_URL": top.database_url},
        {"AGORA_MEDIA_DIR": str(top.root / "media"), "AGORA_INPROCESS_WORKERS": "1"},
    )
    env.pop("AGORA_REDIS_URL", None)
    _init(env, logs)
    top.front = f"http://127.0.0.1:{port}"
    web = Process("web-1", [*AGORA, "serve", "--host", "127.0.0.1", "--port", str(port)], env, logs)
    web.ready = _http_ready(f"{top.front}/api/v1/agora/ping")
    top.webs.append(web)
    web.start()


def _start_topology(top: Topology, logs: Path, webs: int, prepared: bool) -> None:
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL's server tools are not installed")
    cluster = make_cluster(bin_dir)
    cluster.pool_size, cluster.max_connections = 20, 300
    if not prepared:
        cluster.max_prepared_statements = 0  # as PgBouncer 1.18: nothing tracked
    top.cluster = cluster
    top.database_url = cluster.url(cluster.primary_port)
    redis_port, s3_port = free_port(), free_port()
    redis = Process(
        "redis",
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        dict(os.environ), logs, ready=_port_ready(redis_port),
    )  # fmt: skip
    s3 = Process(
        "s3",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)],
        dict(os.environ), logs, ready=_http_ready(f"http://127.0.0.1:{s3_port}/moto-api/"),
    )  # fmt: skip
    top.others += [redis, s3]
    redis.start(wait=False)
    s3.start(wait=False)
    cluster.start()  # meanwhile Redis and the S3 server start
    redis.wait_ready()
    s3.wait_ready()
    httpx.put(f"http://127.0.0.1:{s3_port}/{BUCKET}").raise_for_status()  # the bucket

    front_port = free_port()
    database = {
        "AGORA_DATABASE_URL": cluster.url(cluster.bouncer_port),
        "AGORA_DATABASE_PGBOUNCER": "true",
        "AGORA_DATABASE_PGBOUNCER_PREPARED_STATEMENTS": str(prepared).lower(),
        "AGORA_DATABASE_REPLICA_URL": cluster.url(cluster.replica_port),
        "AGORA_DATABASE_REPLICA_PGBOUNCER": "false",  # the replica is reached directly
        # the page change notices' LISTEN, on the primary directly (db/change_notices.py)
        "AGORA_DATABASE_NOTICES_URL": top.database_url,
    }
    env = _agora_env(
        front_port,
        database,
        {
            "AGORA_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "AGORA_INPROCESS_WORKERS": "0",
            "AGORA_MEDIA_STORAGE": "s3",
            "AGORA_S3_BUCKET": BUCKET,
            "AGORA_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
            "AGORA_S3_ACCESS_KEY_ID": "test",
            "AGORA_S3_SECRET_ACCESS_KEY": "test",
            "AGORA_S3_ADDRESSING_STYLE": "path",
        },
    )
    _init(
        {**env, "AGORA_DATABASE_URL": top.database_url, "AGORA_DATABASE_PGBOUNCER": "false"}, logs
    )
    ports = [free_port() for _ in range(webs)]
    for n, port in enumerate(ports, 1):
        command = [*AGORA, "serve", "--host", "127.0.0.1", "--port", str(port)]
        ready = _http_ready(f"http://127.0.0.1:{port}/api/v1/agora/ping")
        top.webs.append(Process(f"web-{n}", command, env, logs, ready=ready))
    for n in (1, 2):
        command = [*AGORA, "worker", "--concurrency", "2"]
        top.workers.append(Process(f"worker-{n}", command, env, logs))
    for proc in [*top.webs, *top.workers]:
        proc.start(wait=False)
    for proc in top.webs:
        proc.wait_ready()
    top.nginx = Nginx(top.root / "nginx", front_port)
    top.route(ports)
    top.front = top.nginx.url


# --- the people ------------------------------------------------------------------------------


async def seed(url: str, people: int) -> dict[str, Any]:
    """`people` demo accounts (a few posts each, the demo's follow graph), their tokens, and
    public posts to like before anything was seen."""
    from sqlalchemy import select

    from agora.db.engine import Database
    from agora.db.models import Account, Post
    from agora.demo.seed import seed_demo

    use_database(url)
    db = Database(url)
    try:
        await seed_demo(db, users=people, posts=people * 4, seed=0)
        async with db.session() as session:
            query = select(Account.id).where(Account.username_lower.like("demo%"))
            ids = list((await session.scalars(query.order_by(Account.id))).all())
            query = select(Post.id).where(Post.visibility == 0, Post.reblog_of_id.is_(None))
            posts = [str(p) for p in (await session.scalars(query.limit(200))).all()]
    finally:
        await db.dispose()
    tokens = await tokens_for(url, ids)
    return {
        "people": [{"id": a, "token": t} for a, t in zip(ids, tokens, strict=True)],
        "posts": posts,
    }


class Streams:
    """`count` SSE `user` streams over plain sockets, reconnecting whenever one is cut."""

    def __init__(self, front: str, tokens: list[str], count: int) -> None:
        host, port = front.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.tokens = [tokens[i % len(tokens)] for i in range(count)]
        self.opened = self.cut = self.refused = self.updates = 0
        self.stop_at = float("inf")
        self.thread = threading.Thread(target=lambda: asyncio.run(self._all()), daemon=True)

    def start(self) -> None:
        """Open them in a thread of their own."""
        self.thread.start()

    def stop(self) -> dict[str, int]:
        """Close them; what they saw."""
        self.stop_at = time.monotonic()
        self.thread.join(10)
        return {
            "streams": len(self.tokens),
            "opened": self.opened,
            "cut_and_reopened": self.cut,
            "refused": self.refused,
            "update_events": self.updates,
        }

    async def _all(self) -> None:
        await asyncio.gather(*(self._one(t) for t in self.tokens))

    async def _one(self, token: str) -> None:
        request = (
            f"GET /api/v1/streaming/user HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {token}\r\n\r\n"
        ).encode()
        while time.monotonic() < self.stop_at:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                self.refused += 1
                await asyncio.sleep(1)
                continue
            try:
                writer.write(request)
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                if not head.startswith(b"HTTP/1.1 200"):
                    self.refused += 1
                    await asyncio.sleep(1)
                    continue
                self.opened += 1
                while time.monotonic() < self.stop_at:
                    try:
                        chunk = await asyncio.wait_for(reader.read(65536), 1)
                    except TimeoutError:
                        continue
                    if not chunk:
                        self.cut += 1
                        break
                    self.updates += chunk.count(b"event: update")
            except (OSError, asyncio.IncompleteReadError, TimeoutError):
                self.cut += 1
            finally:
                writer.close()
            await asyncio.sleep(0.2)


def run_people(
    front: str, setup_file: Path, log: Path, people: int, seconds: float, user_class: str
) -> subprocess.Popen[bytes]:
    """Locust, headless, in its own process: `people` users of `user_class` for `seconds`."""
    env = {**os.environ, "TOPOLOGY_PEOPLE": str(setup_file), "TOPOLOGY_LOG": str(log)}
    command = [sys.executable, "-m", "locust", "-f", str(PEOPLE_FILE), "--headless"]
    command += ["-u", str(people), "-r", str(max(1, people // 5)), "-t", f"{int(seconds)}s"]
    command += ["--host", front, "--only-summary", "--stop-timeout", "5", user_class]
    out = open(log.with_suffix(".locust.log"), "wb")  # noqa: SIM115
    return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


# --- the faults ------------------------------------------------------------------------------


@dataclass
class Fault:
    """What was done, and from when to when the topology was hurt by it (epoch seconds)."""

    name: str
    started: float
    recovered: float = 0.0
    error: str = ""  # what went wrong doing it (the topology did not recover), else empty

    def covers(self, start: float, end: float) -> bool:
        """Whether a request in flight from `start` to `end` overlaps this fault's window."""
        return start <= self.recovered + GRACE and end >= self.started


def _timed(name: str, action: Callable[[], None]) -> Fault:
    """Do `action`, timed; a failure is recorded on the fault (a thread's exception would
    otherwise be lost, and the fault missing from the result with no reason)."""
    fault = Fault(name, time.time())
    try:
        action()
    except Exception as exc:  # reported in the result, where a check fails on it
        fault.error = f"{type(exc).__name__}: {exc}"[-3000:]
    fault.recovered = time.time()
    return fault


def _kill_and_restart(proc: Process) -> Callable[[], None]:
    def action() -> None:
        proc.kill()
        proc.start()

    return action


def _restart(proc: Process) -> Callable[[], None]:
    def action() -> None:
        proc.stop()
        proc.start()

    return action


FAULT_NAMES = ("kill -9 web-1", "kill -9 worker-1", "restart redis", "restart pgbouncer")


def faults(top: Topology) -> list[tuple[str, Callable[[], None]]]:
    """The faults of a run, in order (FAULT_NAMES): a web process, a worker, Redis, PgBouncer."""
    assert top.cluster is not None
    actions = [
        _kill_and_restart(top.webs[0]),
        _kill_and_restart(top.workers[0]),
        _restart(top.process("redis")),
        top.cluster.restart_bouncer,
    ]
    return list(zip(FAULT_NAMES, actions, strict=True))


def drive(top: Topology, setup: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The run: streams, people, faults on schedule; the requests' summary and the faults."""
    setup_file, log = top.root / "people.json", top.root / "requests.jsonl"
    setup_file.write_text(json.dumps(setup))
    log.write_text("")
    streams = Streams(top.front, [p["token"] for p in setup["people"]], args.streams)
    streams.start()
    started = time.time()
    locust = run_people(top.front, setup_file, log, args.people, args.seconds, "Person")
    done: list[Fault] = []
    hurting: list[threading.Thread] = []
    if not args.no_faults and not top.single_sqlite:
        for n, (name, action) in enumerate(faults(top), 1):
            time.sleep(max(0.0, started + args.seconds * (0.05 + 0.15 * n) - time.time()))
            hurting.append(
                threading.Thread(target=lambda n=name, a=action: done.append(_timed(n, a)))
            )
            hurting[-1].start()  # a web process takes seconds to start: the next fault goes on
    locust.wait(args.seconds + 120)
    for thread in hurting:
        thread.join(180)
    done.sort(key=lambda f: f.started)
    ended = time.time()
    stream_summary = streams.stop()
    records = [json.loads(line) for line in log.read_text().splitlines() if line]
    return {
        "records": records,
        "seconds": round(ended - started, 1),
        "faults": done,
        "streams": stream_summary,
    }


def recovered(
    done: list[Fault], args: argparse.Namespace, processes: list[Process]
) -> dict[str, Any]:
    """Every fault was done and the topology came back from it: a restarted process answered,
    and every process of the topology still runs after the run (a worker has nothing to ask
    whether it is ready: one that exited after its restart shows only here)."""
    expected = [] if args.no_faults or args.single_sqlite else list(FAULT_NAMES)
    errors = {f.name: f.error for f in done if f.error}
    # a fault still being done when the run ended (its thread not joined in time) is missing
    missing = [name for name in expected if name not in {f.name for f in done}]
    exited = [p.name for p in processes if p.popen is None or p.popen.poll() is not None]
    ok = len(done) == len(expected) and not missing and not errors and not exited
    return {"ok": ok, "done": len(done), "missing": missing, "errors": errors, "exited": exited}


def summarise(records: list[dict[str, Any]], seconds: float, done: list[Fault]) -> dict[str, Any]:
    """Requests/s, latency per kind, errors, 5xx (and no answer) inside and outside windows."""
    kinds: dict[str, Any] = {}
    for kind in sorted({r["k"] for r in records}):
        mine = [r for r in records if r["k"] == kind]
        stats = latency_stats([r["d"] for r in mine if r["s"]])
        kinds[kind] = {
            "n": len(mine),
            "p50_ms": stats["p50_ms"],
            "p99_ms": stats["p99_ms"],
            "2xx": sum(1 for r in mine if 200 <= r["s"] < 300),
            "4xx": sum(1 for r in mine if 400 <= r["s"] < 500),
            "429": sum(1 for r in mine if r["s"] == 429),
            "5xx": sum(1 for r in mine if r["s"] >= 500),
            "no_answer": sum(1 for r in mine if r["s"] == 0),
        }
    failed = [r for r in records if r["s"] >= 500 or r["s"] == 0]
    inside = [r for r in failed if any(f.covers(r["t"], r["t"] + r["d"]) for f in done)]
    outside = [r for r in failed if r not in inside]
    return {
        "requests": len(records),
        "requests_per_s": round(len(records) / seconds, 1) if seconds else 0,
        "kinds": kinds,
        "refused_429": sum(1 for r in records if r["s"] == 429),
        "5xx_or_no_answer_in_fault_windows": len(inside),
        "5xx_or_no_answer_outside": len(outside),
        "outside_examples": outside[:5],
        "faults": [
            {
                "name": f.name,
                "at": time.strftime("%H:%M:%S", time.gmtime(f.started)),
                "recovery_s": round(f.recovered - f.started, 1),
                "error": f.error,
                **_failures(f, inside),
            }
            for f in done
        ],
    }


def _failures(fault: Fault, inside: list[dict[str, Any]]) -> dict[str, Any]:
    """The failed requests in `fault`'s window: how many, by status (0: no answer), and the
    seconds from the fault's start to the end of the last one."""
    mine = [r for r in inside if fault.covers(r["t"], r["t"] + r["d"])]
    statuses: dict[str, int] = {}
    for r in mine:
        statuses[str(r["s"])] = statuses.get(str(r["s"]), 0) + 1
    last = max((r["t"] + r["d"] for r in mine), default=fault.started)
    return {
        "5xx_or_no_answer": len(mine),
        "statuses": dict(sorted(statuses.items())),
        "failing_until_s": round(last - fault.started, 1),
    }


# --- the checks ------------------------------------------------------------------------------


async def drain(url: str, timeout: float = 180) -> float:
    """Wait until no job is due or running, and none waits to be tried again (a job that
    failed, such as a fan-out that lost a deadlock, is retried after a back-off: what it
    owes is owed until then); seconds waited."""
    from sqlalchemy import text

    from agora.db.engine import Database

    db = Database(url)
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            async with db.session() as session:
                busy = await session.scalar(
                    text(
                        "SELECT count(*) FROM jobs WHERE state = 'running' "
                        "OR (state = 'pending' AND (run_at <= :now OR attempts > 0))"
                    ),
                    {"now": _utcnow()},
                )
            if not busy:
                break
            await asyncio.sleep(0.5)
    finally:
        await db.dispose()
    return round(time.monotonic() - started, 1)


def _utcnow() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC).replace(tzinfo=None)


async def check(url: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The checks of the issue, by SQL; each {"ok": bool, ...numbers}."""
    from sqlalchemy import bindparam, text

    from agora.config import get_settings
    from agora.db.engine import Database

    def ok(kind: str) -> list[dict[str, Any]]:
        return [r for r in records if r["k"] == kind and r["s"] == 200 and r["p"]]

    posts = sorted({int(r["p"]) for r in ok("post")}) or [0]
    likes = {(int(r["a"]), int(r["p"])) for r in ok("like")}
    boosts = {(int(r["a"]), int(r["p"])) for r in ok("boost")}
    acted = sorted({p for _, p in likes | boosts}) or [0]
    values = {"ids": posts, "targets": acted}

    db = Database(url)
    try:
        async with db.session() as session:

            async def rows(sql: str) -> list[Any]:
                lists = {k: v for k, v in values.items() if f":{k}" in sql}
                query = text(sql).bindparams(*(bindparam(k, expanding=True) for k in lists))
                return list((await session.execute(query, lists)).all())

            found = await rows("SELECT count(*) FROM posts WHERE id IN :ids")
            doubled = await rows(
                "SELECT text, count(*) FROM posts WHERE text LIKE 'topology %' "
                "AND reblog_of_id IS NULL GROUP BY text HAVING count(*) > 1"
            )
            # a trim keeps a feed's newest `home_feed_cap` entries, and an entry newer than a
            # post goes only in a trim that keeps `cap` entries newer than it: so a post with
            # `cap` entries newer than it in the feed may have been trimmed (counted apart),
            # one with fewer was lost. (Not "older than every entry": fan-outs finish out of
            # order, and an older post may arrive after a newer one was trimmed.)
            cap = int(get_settings().home_feed_cap)
            trimmed_from = (
                "(SELECT count(*) >= {cap} FROM home_feed k"
                " WHERE k.account_id = {owner} AND k.post_id > p.id)"
            )
            kept = " AND NOT " + trimmed_from
            missing = await rows(
                "SELECT count(*) FROM posts p JOIN follows f ON f.target_account_id = p.account_id"
                " WHERE p.id IN :ids AND NOT EXISTS (SELECT 1 FROM home_feed h"
                " WHERE h.account_id = f.account_id AND h.post_id = p.id)"
                + kept.format(cap=cap, owner="f.account_id"),
            )
            own_missing = await rows(
                "SELECT count(*) FROM posts p WHERE p.id IN :ids AND NOT EXISTS"
                " (SELECT 1 FROM home_feed h WHERE h.account_id = p.account_id"
                " AND h.post_id = p.id)" + kept.format(cap=cap, owner="p.account_id"),
            )
            trimmed = await rows(
                "SELECT count(*) FROM posts p JOIN follows f ON f.target_account_id = p.account_id"
                " WHERE p.id IN :ids AND NOT EXISTS (SELECT 1 FROM home_feed h"
                " WHERE h.account_id = f.account_id AND h.post_id = p.id)"
                " AND " + trimmed_from.format(cap=cap, owner="f.account_id"),
            )
            extra = await rows(
                "SELECT count(*) FROM home_feed h JOIN posts p ON p.id = h.post_id"
                " WHERE p.id IN :ids AND h.account_id <> p.account_id AND NOT EXISTS"
                " (SELECT 1 FROM follows f WHERE f.account_id = h.account_id"
                " AND f.target_account_id = p.account_id)",
            )
            entries = await rows("SELECT count(*) FROM home_feed WHERE post_id IN :ids")
            liked = await rows(
                "SELECT account_id, post_id FROM favourites WHERE post_id IN :targets",
            )
            boosted = await rows(
                "SELECT account_id, reblog_of_id FROM posts WHERE reblog_of_id IN :targets"
                " AND deleted_at IS NULL",
            )
            counters = await rows(
                "SELECT count(*) FROM posts p WHERE p.id IN :targets AND ("
                " p.favourites_count <> (SELECT count(*) FROM favourites f WHERE f.post_id = p.id)"
                " OR p.reblogs_count <> (SELECT count(*) FROM posts b WHERE b.reblog_of_id = p.id"
                " AND b.deleted_at IS NULL))",
            )
            dead = await rows("SELECT kind, last_error FROM jobs WHERE state = 'dead'")
            # what a failed check needs to be explained: which posts and feeds, and the jobs
            # not run yet (a retry due later is not waited for by `drain`)
            missing_examples = await rows(
                "SELECT p.id, p.account_id, f.account_id, p.created_at,"
                " (SELECT count(*) FROM home_feed k WHERE k.account_id = f.account_id),"
                " (SELECT min(k.post_id) FROM home_feed k WHERE k.account_id = f.account_id),"
                " (SELECT count(*) FROM follows g WHERE g.target_account_id = p.account_id)"
                " FROM posts p JOIN follows f ON f.target_account_id = p.account_id"
                " WHERE p.id IN :ids AND NOT EXISTS (SELECT 1 FROM home_feed h"
                " WHERE h.account_id = f.account_id AND h.post_id = p.id)"
                + kept.format(cap=cap, owner="f.account_id")
                + " LIMIT 5",
            )
            waiting = await rows(
                "SELECT kind, state, attempts, run_at, last_error FROM jobs"
                " WHERE state IN ('pending', 'running') AND (attempts > 0 OR kind NOT IN"
                " ('refresh_for_you', 'refresh_trends', 'sweep_unattached_media'))"
                " ORDER BY run_at LIMIT 10"
            )
    finally:
        await db.dispose()
    real_posts = [p for p in posts if p]
    return {
        "posts_exist_once": {
            "ok": found[0][0] == len(real_posts) and not doubled,
            "answered_200": len(real_posts),
            "found": found[0][0],
            "doubled_texts": len(doubled),
        },
        "fan_out_exactly_once": {
            "ok": missing[0][0] == 0 and own_missing[0][0] == 0 and extra[0][0] == 0,
            "feed_entries": entries[0][0],
            "followers_missing_it": missing[0][0],
            "authors_missing_it": own_missing[0][0],
            "non_followers_having_it": extra[0][0],
            "trimmed_from_full_feeds": trimmed[0][0],
            "missing_examples": [
                {
                    "post": p,
                    "author": a,
                    "follower": f,
                    "created": str(c),
                    "feed_entries": n,
                    "feed_oldest": o,
                    "author_followers": k,
                }
                for p, a, f, c, n, o, k in missing_examples
            ],
        },
        "likes_and_boosts_counted_once": {
            "ok": likes <= {(a, p) for a, p in liked}
            and boosts <= {(a, p) for a, p in boosted}
            and counters[0][0] == 0,
            "likes_answered_200": len(likes),
            "likes_missing": len(likes - {(a, p) for a, p in liked}),
            "boosts_answered_200": len(boosts),
            "boosts_missing": len(boosts - {(a, p) for a, p in boosted}),
            "posts_with_wrong_counters": counters[0][0],
        },
        "no_dead_jobs": {
            "ok": not dead,
            "dead": [{"kind": k, "error": (e or "")[:200]} for k, e in dead[:10]],
            "not_run_yet": [
                {"kind": k, "state": st, "attempts": n, "run_at": str(at), "error": (e or "")[:200]}
                for k, st, n, at, e in waiting
            ],
        },
    }


def check_api(front: str, setup: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Up to 20 posts answered 200, read back through the API by their authors (once nginx
    answers again: it may still hold both web processes out after a late fault)."""
    tokens = {p["id"]: p["token"] for p in setup["people"]}
    made = [r for r in records if r["k"] == "post" and r["s"] == 200 and r["p"]][:20]
    wrong: list[str] = []
    with httpx.Client(base_url=front, timeout=30) as client:
        wait_for(lambda: client.get("/api/v1/agora/ping").status_code == 200, 30, "the front")
        for r in made:
            headers = {"Authorization": f"Bearer {tokens[r['a']]}"}
            got = client.get(f"/api/v1/statuses/{r['p']}", headers=headers)
            if got.status_code != 200 or got.json()["id"] != r["p"]:
                wrong.append(f"{r['p']}: {got.status_code} {got.text[:100]}")
    return {"ok": not wrong, "read_back": len(made), "wrong": len(wrong), "examples": wrong[:3]}


# --- the comparison of 1 and 2 web processes --------------------------------------------------


def pgbouncer_statements(cluster: Cluster) -> dict[str, int]:
    """PgBouncer's prepared statement counters for the `agora` database since it last started
    (SHOW STATS: statements prepared by clients, prepared by PgBouncer on servers, executions
    of prepared statements), and the most statements prepared on one server connection now
    (SHOW SERVERS; at `max_prepared_statements` its LRU evicts)."""
    (stats,) = [r for r in cluster.bouncer_admin("SHOW STATS") if r["database"] == "agora"]
    servers = cluster.bouncer_admin("SHOW SERVERS")
    return {
        "client_parses": int(stats["total_client_parse_count"]),
        "server_parses": int(stats["total_server_parse_count"]),
        "binds": int(stats["total_bind_count"]),
        "most_on_one_server": max((int(r["prepared_statements"]) for r in servers), default=0),
        "max_prepared_statements": cluster.max_prepared_statements,
    }


def compare_web(top: Topology, setup: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """Home reads as fast as they come, through nginx to one web process, then to two."""
    setup_file = top.root / "people.json"
    setup_file.write_text(json.dumps(setup))
    ports = [int(p.command[-1]) for p in top.webs]
    result: dict[str, Any] = {}
    for count in (1, 2):
        top.route(ports[:count])
        log = top.root / f"home-{count}.jsonl"
        log.write_text("")
        started = time.time()
        run_people(top.front, setup_file, log, args.people, args.seconds, "HomeReader").wait(
            args.seconds + 120
        )
        records = [json.loads(line) for line in log.read_text().splitlines() if line]
        elapsed = time.time() - started
        stats = latency_stats([r["d"] for r in records if r["s"] == 200])
        result[f"web_{count}"] = {
            "requests_per_s": round(sum(1 for r in records if r["s"] == 200) / elapsed, 1),
            "p50_ms": stats["p50_ms"],
            "p99_ms": stats["p99_ms"],
            "errors": sum(1 for r in records if r["s"] != 200),
        }
    one, two = result["web_1"]["requests_per_s"], result["web_2"]["requests_per_s"]
    result["ratio_2_to_1"] = round(two / one, 2) if one else None
    return result


def _options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--seconds", type=float, help="the run's length (overrides --minutes)")
    parser.add_argument("--streams", type=int, default=200, help="open SSE user streams")
    parser.add_argument("--single-sqlite", action="store_true", help="one process on SQLite")
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument(
        "--compare-web", action="store_true", help="home reads through 1 then 2 web processes"
    )
    parser.add_argument(
        "--pgbouncer-prepared-statements",
        choices=("true", "false"),
        default="true",
        help="PgBouncer tracks prepared statements and Agora keeps them (false: as 1.18)",
    )
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = args.minutes * 60
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the topology test; print and return its JSON."""
    args = _options(argv)
    began = time.monotonic()
    prepared = args.pgbouncer_prepared_statements == "true"
    with topology(2, args.single_sqlite, prepared) as top:
        setup = asyncio.run(seed(top.database_url, args.people))
        ready_s = round(time.monotonic() - began, 1)
        result: dict[str, Any] = {
            "benchmark": "topology",
            "shape": "single-sqlite" if args.single_sqlite else "topology",
            "people": args.people,
            "setup_s": ready_s,
        }
        if args.compare_web:
            result["compare_web"] = compare_web(top, setup, args)
        else:
            run = drive(top, setup, args)
            result.update(summarise(run["records"], run["seconds"], run["faults"]))
            result["streams"] = run["streams"]
            result["drain_s"] = asyncio.run(drain(top.database_url))
            checks = asyncio.run(check(top.database_url, run["records"]))
            checks["read_back_through_the_api"] = check_api(top.front, setup, run["records"])
            checks["no_5xx_outside_fault_windows"] = {"ok": result["5xx_or_no_answer_outside"] == 0}
            # every limit is UNREFUSING_LIMITS: a 429 is the limiter miscounting
            checks["no_429_under_unreachable_limits"] = {"ok": result["refused_429"] == 0}
            everything = [*top.webs, *top.workers, *top.others]
            checks["every_fault_recovered"] = recovered(run["faults"], args, everything)
            result["checks"] = checks
            result["ok"] = all(c["ok"] for c in checks.values())
        if top.cluster is not None:
            result["pgbouncer_statements"] = pgbouncer_statements(top.cluster)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    result["wall_s"] = round(time.monotonic() - began, 1)
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
