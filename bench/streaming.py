"""Live delivery to 1,000 listeners: how long after `POST /api/v1/statuses` returns does the
post reach every follower's stream?

    python -m bench.streaming [--backend postgresql] [--listeners 1000] [--rounds 20]

A benchmark author followed by `--listeners` demo accounts is created (and removed
afterwards). One uvicorn worker serves the data set as `agora serve` does (in-process job
worker, in-process event bus). This process opens one server-sent-event `user` stream per
follower (`GET /api/v1/streaming/user` with the follower's own token, raw sockets so the
client stays cheap), waits until all are open, then the author posts `--rounds` times, one
post at a time. Each (post, listener) arrival minus the moment the POST returned is one
delivery latency (an arrival before the return counts as 0). Target: p99 <= 500 ms.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from typing import Any

import httpx

from bench.common import (
    create_followed_author,
    dataset,
    demo_account_ids,
    emit,
    latency_stats,
    parser,
    remove_author,
    run,
    use_database,
)
from bench.http import server, tokens_for

AUTHOR = "stream_bench"
UPDATE = re.compile(rb'event: update\ndata: \{"id":"(\d+)"')
GENEROUS = "1000000/minute"


class RawListener:
    """One SSE `user` stream over a plain socket; records when each post id arrives."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.arrivals: dict[str, float] = {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self, port: int) -> None:
        """Connect and read until the stream's first bytes (`:)`): it is registered."""
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(
            (
                "GET /api/v1/streaming/user HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {self.token}\r\n\r\n"
            ).encode()
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"stream refused: {head[:80]!r}")
        seen = b""
        while b":)" not in seen:
            seen += await self.reader.read(1024)

    async def read_forever(self) -> None:
        """Note the arrival time of every `update` (by post id) until the socket closes."""
        assert self.reader is not None
        tail = b""
        while chunk := await self.reader.read(65536):
            now = time.perf_counter()
            data = tail + chunk
            for match in UPDATE.finditer(data):
                self.arrivals.setdefault(match.group(1).decode(), now)
            tail = data[-80:]

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _setup(url: str, listeners: int, seed: int) -> tuple[str, list[str]]:
    """The author's token and one token per follower."""
    from agora.db.engine import Database
    from agora.db.migrate import upgrade

    db = Database(url)
    try:
        await upgrade(db.engine)  # the server would migrate too; the author needs the schema
        await remove_author(db, AUTHOR)
        everyone = await demo_account_ids(db)
        followers = random.Random(seed).sample(everyone, min(listeners, len(everyone)))
        author = await create_followed_author(db, AUTHOR, "Streaming bench", followers)
    finally:
        await db.dispose()
    tokens = await tokens_for(url, [author, *followers])
    return tokens[0], tokens[1:]


async def _deliveries(port: int, author: str, tokens: list[str], rounds: int) -> dict[str, Any]:
    listeners = [RawListener(t) for t in tokens]
    opened = time.perf_counter()
    for start in range(0, len(listeners), 100):
        await asyncio.gather(*(each.open(port) for each in listeners[start : start + 100]))
    connect_s = time.perf_counter() - opened
    readers = [asyncio.ensure_future(each.read_forever()) for each in listeners]
    returned: dict[str, float] = {}
    post_times = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            headers = {"Authorization": f"Bearer {author}"}
            for n in range(rounds + 1):
                started = time.perf_counter()
                r = await client.post(
                    "/api/v1/statuses", headers=headers, data={"status": f"live post {n}"}
                )
                r.raise_for_status()
                post_id = r.json()["id"]
                returned[post_id] = time.perf_counter()
                post_times.append(returned[post_id] - started)
                await _all_arrived(listeners, post_id, 10.0)
                if n == 0:  # warm-up round, not counted
                    returned.clear()
                    post_times.clear()
                await asyncio.sleep(0.2)
    finally:
        for each in listeners:
            each.close()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    samples = [
        max(0.0, each.arrivals[pid] - at)
        for pid, at in returned.items()
        for each in listeners
        if pid in each.arrivals
    ]
    return {
        "listeners": len(listeners),
        "rounds": len(returned),
        "connect_seconds": round(connect_s, 3),
        "expected_deliveries": len(listeners) * len(returned),
        "deliveries": len(samples),
        "delivery_after_post_returned": latency_stats(samples),
        "post_status": latency_stats(post_times),
    }


async def _all_arrived(listeners: list[RawListener], post_id: str, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if all(post_id in each.arrivals for each in listeners):
            return
        await asyncio.sleep(0.005)


async def main() -> None:
    """Entry point."""
    p = parser(__doc__ or "")
    p.add_argument("--listeners", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=20)
    args = p.parse_args()
    async with dataset(args) as data:
        use_database(
            data.url,
            ratelimit_per_ip=GENEROUS,
            ratelimit_reads=GENEROUS,
            ratelimit_writes=GENEROUS,
        )
        author, tokens = await _setup(data.url, args.listeners, args.seed)
        try:
            with server(data.url) as port:
                metrics = await _deliveries(port, author, tokens, args.rounds)
        finally:
            from agora.db.engine import Database

            db = Database(data.url)
            try:
                await remove_author(db, AUTHOR)
            finally:
                await db.dispose()
    delivery = metrics["delivery_after_post_returned"]
    emit(
        "streaming",
        data,
        metrics,
        {
            "all_delivered": metrics["deliveries"] == metrics["expected_deliveries"],
            "delivery_p99_le_500ms": delivery["p99_ms"] <= 500,
        },
    )


if __name__ == "__main__":
    run(main())
