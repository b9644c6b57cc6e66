"""A small HTTP/1.1 keep-alive load generator, used when `wrk` is not installed.

It runs in its own process (so that it does not share the server's event loop) and reports
requests per second, latency percentiles and non-2xx responses like `wrk --latency` does.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import time
from dataclasses import dataclass, field

from bench.common import latency_stats

LENGTH_RE = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


@dataclass
class Tally:
    """What the connections saw."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0


def _request(path: str, token: str | None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    coding = "Accept-Encoding: gzip, deflate\r\n"  # as bench.http's wrk script asks
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}{coding}\r\n".encode()


async def _connection(
    port: int, requests: list[bytes], offset: int, deadline: float, tally: Tally
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            found = LENGTH_RE.search(head)
            await reader.readexactly(int(found.group(1)) if found else 0)
            tally.latencies.append(time.perf_counter() - started)
            if not head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2")):
                tally.errors += 1
    finally:
        writer.close()


async def _drive(port: int, requests: list[bytes], connections: int, seconds: float) -> Tally:
    tally = Tally()
    deadline = time.perf_counter() + seconds
    await asyncio.gather(
        *(_connection(port, requests, c, deadline, tally) for c in range(connections))
    )
    return tally


def _worker(
    port: int, requests: list[bytes], connections: int, seconds: float, out: object
) -> None:
    started = time.perf_counter()
    tally = asyncio.run(_drive(port, requests, connections, seconds))
    elapsed = time.perf_counter() - started
    out.put((len(tally.latencies) / elapsed, latency_stats(tally.latencies), tally.errors))  # type: ignore[attr-defined]


def load(
    port: int, path: str, tokens: list[str | None], connections: int, seconds: float
) -> dict[str, object]:
    """Hammer `path` for `seconds` from a separate process; returns req/s and latencies."""
    requests = [_request(path, t) for t in tokens]
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(port, requests, connections, seconds, out))
    proc.start()
    rps, latency, errors = out.get(timeout=seconds + 60)
    proc.join()
    return {"requests_per_s": round(rps, 1), "latency": latency, "non_2xx": errors}
