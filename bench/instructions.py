"""Instructions per request through the ASGI application in process, counted by valgrind's
callgrind: a count the machine's speed, its load and its neighbours do not move, for the
changes too small for any timing on a shared 2-core machine (a few microseconds of the
request path's middleware).

    python -m bench.instructions [--endpoints ping home_timeline_40 ...] [--requests 500]

Each endpoint of bench.http (and the bare no-op, `bench/noop_app.py`, on the same harness) is
measured by running this module under `valgrind --tool=callgrind --instr-atstart=no` twice,
with N and then 2N requests after the same warm-up (the demo tokens' viewers, once each, and
300 more requests): instrumentation is switched on after the warm-up and off after the loop
(`callgrind_control -i`), and the difference of the two counts over N is one request's (the
start-up and the switching cancel out). Deterministic to within about 0.2 % from run to run.
Needs valgrind (`make bench-tools`); the data set is bench.common's (SQLite unless
`--backend postgresql`). Prints one JSON object: instructions per request per endpoint, and
each endpoint's ratio to the no-op's (the requests/s ratio a CPU-bound server would show, but
for uvicorn's own share, which both pay).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
from typing import Any

from bench.common import dataset, emit, parser, run, use_database
from bench.http import HOME, NOOP, PING, READS, UNREFUSING_LIMITS, _asgi_request, tokens_for
from bench.timeline import viewers

WARM_UP = 300
TOKENS_ENV = "AGORA_BENCH_TOKENS"


def _paths(account_id: int) -> dict[str, str]:
    return {
        "noop": NOOP,
        "ping": PING,
        "home_timeline_40": HOME,
        **READS,
        "account_statuses_40": f"/api/v1/accounts/{account_id}/statuses?limit=40",
    }


def _instrumentation(on: bool) -> None:
    command = ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


async def _child(url: str, endpoint: str, count: int, account_id: int) -> None:
    """Under callgrind: warm up, then `count` requests with instrumentation on."""
    from agora.app import create_app
    from bench.noop_app import create_noop_app

    tokens = os.environ[TOKENS_ENV].split(",")
    os.environ.update(UNREFUSING_LIMITS)
    use_database(url, inprocess_workers=0)
    agora = create_app(migrate=False)
    app: Any = create_noop_app() if endpoint == "noop" else agora
    path = _paths(account_id)[endpoint]
    async with agora.router.lifespan_context(agora):
        for i in range(len(tokens) + WARM_UP):
            await _asgi_request(app, "GET", path, tokens[i % len(tokens)])
        _instrumentation(True)
        for i in range(count):
            await _asgi_request(app, "GET", path, tokens[i % len(tokens)])
        _instrumentation(False)


def _collected(url: str, endpoint: str, count: int, account_id: int, tokens: list[str]) -> int:
    """The instructions callgrind collected in one child run."""
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
    command += ["--callgrind-out-file=/dev/null", sys.executable, "-m", "bench.instructions"]
    command += ["--child", endpoint, "--count", str(count), "--database-url", url]
    command += ["--account", str(account_id)]
    env = {**os.environ, TOKENS_ENV: ",".join(tokens)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind reported no count for {endpoint}: {done.stderr[-500:]}")
    return int(found.group(1))


async def measure(url: str, endpoints: list[str], count: int) -> dict[str, Any]:
    """Instructions per request of each endpoint, and its ratio to the no-op's."""
    from agora.db.engine import Database

    db = Database(url)
    try:
        people = await viewers(db, 50, 0)
    finally:
        await db.dispose()
    tokens = await tokens_for(url, people)
    per_request: dict[str, int] = {}
    for endpoint in ["noop", *[e for e in endpoints if e != "noop"]]:
        once = await asyncio.to_thread(_collected, url, endpoint, count, people[0], tokens)
        twice = await asyncio.to_thread(_collected, url, endpoint, 2 * count, people[0], tokens)
        per_request[endpoint] = round((twice - once) / count)
    noop = per_request["noop"]
    return {
        "requests": count,
        "instructions_per_request": per_request,
        "ratio_to_noop": {k: round(noop / v, 3) for k, v in per_request.items() if k != "noop"},
    }


def _arguments() -> argparse.Namespace:
    p = parser(__doc__ or "")
    p.add_argument("--endpoints", nargs="*", default=list(_paths(0)))
    p.add_argument("--requests", type=int, default=500)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, help=argparse.SUPPRESS)
    p.add_argument("--account", type=int, help=argparse.SUPPRESS)
    return p.parse_args()


async def main() -> None:
    """Entry point."""
    args = _arguments()
    if args.child:
        await _child(args.database_url, args.child, args.count, args.account)
        return
    unknown = set(args.endpoints) - set(_paths(0))
    if unknown:
        raise SystemExit(f"unknown endpoints: {sorted(unknown)}")
    async with dataset(args) as data:
        found = await measure(data.url, args.endpoints, args.requests)
    emit("instructions", data, found, {})


if __name__ == "__main__":
    run(main())
