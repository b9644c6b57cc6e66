"""Over HTTP: the API's hot reads as a ratio of a bare FastAPI no-op's req/s, and post latency.

    python -m bench.http [--backend postgresql] [--users 10000 --posts 1000000]

Starts one uvicorn worker on a bare FastAPI app answering `{"ok":true}` with orjson (the
ceiling: bench/noop_app.py) and one on agora.app:create_app (as `agora serve` does, without
the access log) against the demo data set, then drives them from another process with `wrk`
(Debian: `apt-get install wrk`; a small Python load generator is used when wrk is missing):
the no-op, GET /api/v1/agora/ping, the home and public timelines, notifications and a
profile's statuses (40 per page) with bearer tokens of random demo accounts, same connections
and duration, same run; each is reported as a ratio to the no-op. Targets (issue 19): ping
>= 0.7, home >= 0.25 with p99 <= 10 ms, public / notifications / profile >= 0.2.
Then POST /api/v1/statuses sequentially (keep-alive) to time an accepted post (p50 <= 10 ms,
p99 <= 40 ms) while the server's in-process worker fans the posts out; the server's RSS after.

With `--scaling`: then the home timeline on one uvicorn worker process and on two, back to
back (issue 19: two serve >= 1.7x one on the 2 cores).

With `--in-process`: no server, no load generator; each endpoint's CPU per request
(`time.process_time`, best of five batches) and statements per request through the whole
ASGI application, the figure a loaded machine disturbs least.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.common import Dataset, dataset, emit, latency_stats, parser, run, use_database
from bench.timeline import viewers

HOME = "/api/v1/timelines/home?limit=40"
PING = "/api/v1/agora/ping"
NOOP = "/noop"
READS = {
    "public_timeline_40": "/api/v1/timelines/public?limit=40",
    "notifications_40": "/api/v1/notifications?limit=40",
}


async def tokens_for(url: str, accounts: list[int]) -> list[str]:
    """Fresh read/write tokens for `accounts` (an OAuth app registered for the benchmark)."""
    from agora.auth import oauth
    from agora.db.engine import Database

    db = Database(url)
    try:
        async with db.session(write=True) as session:
            app = await oauth.register_app(
                session, name="bench", redirect_uris=oauth.OOB, scopes="read write", website=None
            )
            return [
                (await oauth.issue_token(session, app, a, ["read", "write"])).token
                for a in accounts
            ]
    finally:
        await db.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# A load generator is one address with a few tokens: limits stay on (their cost is measured),
# but too high to refuse anything.
UNREFUSING_LIMITS = {
    f"AGORA_RATELIMIT_{k}": "1000000000/minute" for k in ("READS", "WRITES", "PER_IP", "MEDIA")
}


@contextmanager
def server(
    url: str, app: str = "agora.app:create_app", ready: str = PING, workers: int = 1
) -> Iterator[int]:
    """`workers` uvicorn worker processes (one by default) serving Agora (or `app`, a
    factory) on a free local port."""
    port = _free_port()
    env = {**os.environ, "AGORA_DATABASE_URL": url, "AGORA_LOG_LEVEL": "warning"}
    env.update(UNREFUSING_LIMITS)
    command = [sys.executable, "-m", "uvicorn", app, "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    command += ["--no-access-log", "--log-level", "warning"]
    proc = subprocess.Popen(command, env=env)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}{ready}", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError("server did not start")
        yield port
    finally:
        server.last_rss_mb = _rss_mb(proc.pid)  # type: ignore[attr-defined]
        proc.terminate()
        proc.wait(timeout=30)


def _rss_mb(pid: int) -> float | None:
    """A process's resident memory (Linux), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


LUA = """
tokens = {%s}
i = 0
request = function()
  i = i + 1
  local headers = {}
  if #tokens > 0 then headers["Authorization"] = "Bearer " .. tokens[(i %% #tokens) + 1] end
  return wrk.format("GET", "%s", headers)
end
"""


def _wrk(port: int, path: str, tokens: list[str], connections: int, seconds: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(LUA % (", ".join(f'"{t}"' for t in tokens), path))
        script = fh.name
    try:
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script]
        out = subprocess.run(
            [*command, f"http://127.0.0.1:{port}{path}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        Path(script).unlink()
    return _parse_wrk(out)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _parse_wrk(out: str) -> dict[str, Any]:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {
        f"p{p}_ms": round(_ms(v), 3)
        for p, v in re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.MULTILINE)
    }
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "requests_per_s": rps,
        "latency": latency,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(0) if errors else None,
    }


def ask_each(port: int, path: str, tokens: list[str]) -> float:
    """Warm-up: `path` asked once with each token, in turn (so that a timed run measures
    pages asked again, whatever the warm-up's speed); the seconds it took per request (a
    page built, not kept: the miss's cost over HTTP)."""
    started = time.perf_counter()
    fresh = httpx.Limits(max_keepalive_connections=0)  # a connection each: any worker process
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60, limits=fresh) as client:
        for token in tokens:
            client.get(path, headers={"Authorization": f"Bearer {token}"}).raise_for_status()
    return (time.perf_counter() - started) / max(1, len(tokens))


def drive(port: int, path: str, tokens: list[str], connections: int, seconds: int) -> Any:
    """Load `path` with wrk, or with the Python load generator when wrk is missing."""
    if shutil.which("wrk"):
        return {"tool": "wrk", **_wrk(port, path, tokens, connections, seconds)}
    from bench.loadgen import load

    found = load(port, path, list(tokens) or [None], connections, seconds)
    return {"tool": "python", **found}


def post_latency(port: int, tokens: list[str], count: int, seed: int) -> dict[str, Any]:
    """Sequential POST /api/v1/statuses by random demo accounts (client-side latency)."""
    rng = random.Random(seed)
    times = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        for i in range(count + 20):
            token = rng.choice(tokens)
            body = {"status": f"benchmark post {i} about #agora and @demo{rng.randrange(100)}"}
            started = time.perf_counter()
            r = client.post(
                "/api/v1/statuses", data=body, headers={"Authorization": f"Bearer {token}"}
            )
            elapsed = time.perf_counter() - started
            r.raise_for_status()
            if i >= 20:  # warm-up
                times.append(elapsed)
    return latency_stats(times)


async def _pending_jobs(url: str) -> int:
    from agora.db.engine import Database
    from agora.db.models import Job

    db = Database(url)
    try:
        async with db.session() as session:
            return int(await session.scalar(select(func.count()).select_from(Job)) or 0)
    finally:
        await db.dispose()


async def measure(data: Dataset, args: Any) -> dict[str, Any]:
    """Run the HTTP benchmarks against a server on the data set, and the no-op ceiling."""
    from agora.db.engine import Database

    db = Database(data.url)
    try:
        people = await viewers(db, 200, args.seed)
    finally:
        await db.dispose()
    tokens = await tokens_for(data.url, people)
    reads = {**READS, "account_statuses_40": f"/api/v1/accounts/{people[0]}/statuses?limit=40"}
    c, t = args.connections, args.seconds
    with server(data.url, "bench.noop_app:create_noop_app", NOOP) as port:
        drive(port, NOOP, [], c, 2)  # warm-up
        noop = drive(port, NOOP, [], c, t)
    with server(data.url) as port:
        built = {"home_timeline_40": ask_each(port, HOME, tokens)}  # warm-up: each page once
        for name, path in reads.items():
            built[name] = ask_each(port, path, tokens)
        drive(port, HOME, tokens, c, 2)
        drive(port, PING, [], c, 2)
        ping = drive(port, PING, [], c, t)
        home = drive(port, HOME, tokens, c, t)
        others = {name: drive(port, path, tokens, c, t) for name, path in reads.items()}
        posts = post_latency(port, tokens, args.post_requests, args.seed)
        for _ in range(300):  # let the in-process worker finish the fan-out
            if not await _pending_jobs(data.url):
                break
            time.sleep(0.1)
    ceiling = noop["requests_per_s"]
    measured = {"ping": ping, "home_timeline_40": home, **others}
    return {
        "connections": c,
        "seconds": t,
        "bare_noop": noop,
        **measured,
        "ratio_to_noop": {k: round(v["requests_per_s"] / ceiling, 3) for k, v in measured.items()},
        "home_to_ping_ratio": round(home["requests_per_s"] / ping["requests_per_s"], 3),
        "first_asked_ms": {k: round(v * 1000, 2) for k, v in built.items()},
        "post_status": posts,
        "server_rss_mb": getattr(server, "last_rss_mb", None),
        **(await _scaling(data.url, tokens, c, t) if args.scaling else {}),
    }


async def _scaling(url: str, tokens: list[str], connections: int, seconds: int) -> dict[str, Any]:
    """The home timeline served by one uvicorn worker process, then by two (as
    `agora serve --workers 2`), back to back: requests/s of each and their ratio (issue 19's
    target on 2 cores: >= 1.7). The load generator runs on the same cores."""
    found: dict[str, Any] = {}
    for workers in (1, 2):
        with server(url, workers=workers) as port:
            for _ in range(2 * workers):  # warm-up: each process's caches, mostly
                ask_each(port, HOME, tokens)
            drive(port, HOME, tokens, connections, 3)
            found[f"home_{workers}_workers"] = drive(port, HOME, tokens, connections, seconds)
    one, two = (found[f"home_{n}_workers"]["requests_per_s"] for n in (1, 2))
    return {"workers_scaling": {**found, "ratio_2_to_1": round(two / one, 3)}}


async def _asgi_get(app: Any, path: str, token: str) -> int:
    """One GET through the whole ASGI application (middleware included), in process."""
    route, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def in_process(data: Dataset, args: Any) -> dict[str, Any]:
    """CPU per request (`time.process_time`, the database's thread included) and statements
    per request of each endpoint through the ASGI application, no HTTP server: the best of
    five batches, which a loaded machine disturbs least."""
    from sqlalchemy import event

    from agora.app import create_app
    from agora.db.engine import Database

    db = Database(data.url)
    try:
        people = await viewers(db, 50, args.seed)
    finally:
        await db.dispose()
    tokens = await tokens_for(data.url, people)
    paths = {
        "ping": PING,
        "home_timeline_40": HOME,
        **READS,
        "account_statuses_40": f"/api/v1/accounts/{people[0]}/statuses?limit=40",
    }
    os.environ.update(UNREFUSING_LIMITS)
    use_database(data.url, inprocess_workers=0)  # no job worker competing for the CPU
    app = create_app(migrate=False)
    out: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        statements = 0

        def count(*_args: Any) -> None:
            nonlocal statements
            statements += 1

        event.listen(app.state.db.engine.sync_engine, "before_cursor_execute", count)
        read_row = app.state.db.first_row

        async def counted_row(sql: str, params: dict[str, Any]) -> Any:
            count()  # a statement outside any session (a kept page's check: db/row_reader.py)
            return await read_row(sql, params)

        app.state.db.first_row = counted_row
        batch = max(1, args.in_process_requests // 5)
        for name, path in paths.items():
            for i in range(max(30, len(tokens))):  # warm-up: every viewer once, and more
                assert await _asgi_get(app, path, tokens[i % len(tokens)]) == 200, name
            statements, best = 0, float("inf")
            for b in range(5):
                started = time.process_time()
                for i in range(batch):
                    await _asgi_get(app, path, tokens[(b * batch + i) % len(tokens)])
                best = min(best, (time.process_time() - started) / batch)
            out[name] = {
                "cpu_ms_per_request": round(best * 1000, 3),
                "statements_per_request": round(statements / (5 * batch), 2),
            }
    return out


async def main() -> None:
    """Entry point."""
    p = parser(__doc__ or "")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--post-requests", type=int, default=300)
    p.add_argument(
        "--in-process",
        action="store_true",
        help="CPU and statements per request through the ASGI app, no HTTP server",
    )
    p.add_argument("--in-process-requests", type=int, default=500)
    p.add_argument(
        "--scaling",
        action="store_true",
        help="also the home timeline on one worker process, then two (ratio)",
    )
    args = p.parse_args()
    if args.in_process:
        async with dataset(args) as data:
            found = await in_process(data, args)
        emit("http_in_process", data, found, {})
        return
    async with dataset(args) as data:
        metrics = await measure(data, args)
    ratios = metrics["ratio_to_noop"]
    emit(
        "http",
        data,
        metrics,
        {
            "ping_ge_0_7_of_noop": ratios["ping"] >= 0.7,
            "home_ge_0_25_of_noop": ratios["home_timeline_40"] >= 0.25,
            "home_p99_le_10ms": metrics["home_timeline_40"]["latency"].get("p99_ms", 1e9) <= 10,
            "public_notifications_profile_ge_0_2": all(
                ratios[k] >= 0.2
                for k in ("public_timeline_40", "notifications_40", "account_statuses_40")
            ),
            "post_p50_le_10ms": metrics["post_status"]["p50_ms"] <= 10,
            "post_p99_le_40ms": metrics["post_status"]["p99_ms"] <= 40,
            "rss_under_500mb": (metrics["server_rss_mb"] or 0) < 500,
        },
    )


if __name__ == "__main__":
    run(main())
