"""Deleting an account with many posts, on a fresh database of its own.

    python -m bench.account_erasure [--backend postgresql] [--posts 20000] [--likes 2000]

One account with `--posts` posts (a tenth of them replies to its own, a fifth of them liked
by a neighbour: `--likes`), 200 followers and follows, is deleted as its owner deletes it
(`account_deletion.begin_deletion`), then its `delete_account` job runs its two phases as a
worker runs them. Measured: wall and CPU time of the job; the longest write transaction it
held (on SQLite the whole database's write lock: from BEGIN IMMEDIATE to COMMIT); and what a
request would see meanwhile: a probe writes a small transaction every 20 ms alongside, and its
longest wait is reported. Targets (issue 16): <= 60 s, the write lock held <= 100 ms at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import own_post_rows, use_database, write_result
from bench.media import _fresh_database


async def _seed(db: Any, posts: int, likes: int) -> tuple[int, int]:
    from sqlalchemy import insert

    from agora.db.models import Account, Favourite, Follow, Post, utcnow
    from agora.ids import new_id
    from agora.social.people.accounts import create_account

    async with db.session(write=True) as session:
        leaving = await create_account(
            session, username="leaving", email="l@example.org", password="bench password"
        )
        probe = await create_account(
            session, username="probe", email="p@example.org", password="bench password"
        )
        await session.commit()
        leaving_id, probe_id = leaving.id, probe.id
    start = utcnow() - timedelta(days=400)
    async with db.transaction() as session:
        people = [
            {"id": new_id(), "username": f"n{n}", "username_lower": f"n{n}", "created_at": start}
            for n in range(200)
        ]
        await session.execute(insert(Account), people)
        follows = [
            {"id": new_id(), "account_id": a, "target_account_id": b}
            for p in people
            for a, b in ((p["id"], leaving_id), (leaving_id, p["id"]))
        ]
        await session.execute(insert(Follow), follows)
        rows = own_post_rows(leaving_id, posts, "to be erased")
        every = posts // max(likes, 1) or 1
        for n, row in enumerate(rows):
            row["favourites_count"] = 1 if n % every == 0 else 0
        for chunk in range(0, len(rows), 2000):
            await session.execute(insert(Post), rows[chunk : chunk + 2000])
        liked = [r["id"] for r in rows if r["favourites_count"]][:likes]
        faves = [
            {"id": new_id(), "account_id": people[n % 200]["id"], "post_id": p}
            for n, p in enumerate(liked)
        ]
        for chunk in range(0, len(faves), 2000):
            await session.execute(insert(Favourite), faves[chunk : chunk + 2000])
    return leaving_id, probe_id


def _watch_transactions(db: Any) -> tuple[list[float], Any]:
    """Durations of every transaction committed or rolled back on the engine from now on."""
    from sqlalchemy import event

    held: list[float] = []
    began: dict[int, float] = {}

    def on_begin(conn: Any) -> None:
        began[id(conn)] = time.perf_counter()

    def on_end(conn: Any) -> None:
        started = began.pop(id(conn), None)
        if started is not None:
            held.append(time.perf_counter() - started)

    engine = db.engine.sync_engine
    event.listen(engine, "begin", on_begin)
    event.listen(engine, "commit", on_end)
    event.listen(engine, "rollback", on_end)

    def stop() -> None:
        event.remove(engine, "begin", on_begin)
        event.remove(engine, "commit", on_end)
        event.remove(engine, "rollback", on_end)

    return held, stop


async def _probe(db: Any, account_id: int, done: asyncio.Event, waits: list[float]) -> None:
    """A small write every 20 ms (as a request would write), timed from asking to commit."""
    from sqlalchemy import update

    from agora.db.models import Account

    n = 0
    while not done.is_set():
        n += 1
        asked = time.perf_counter()
        async with db.transaction() as session:
            await session.execute(
                update(Account).where(Account.id == account_id).values(note=f"probe {n}")
            )
        waits.append(time.perf_counter() - asked)
        await asyncio.sleep(0.02)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    import tempfile

    from sqlalchemy import func, select

    from agora.db.engine import Database
    from agora.db.models import Post
    from agora.jobs.job_kinds import AccountJob
    from agora.social.people import account_deletion

    url, remove = await _fresh_database(args.backend)
    work = Path(tempfile.mkdtemp(prefix="agora-bench-erasure-"))
    use_database(url, media_dir=work / "media", archive_dir=work / "archives")
    db = Database(url)
    try:
        seeding = time.perf_counter()
        leaving_id, probe_id = await _seed(db, args.posts, args.likes)
        seeded = time.perf_counter() - seeding
        async with db.transaction() as session:
            await account_deletion.begin_deletion(session, leaving_id)
        payload: AccountJob = {"account_id": leaving_id}
        waits: list[float] = []
        done = asyncio.Event()
        probing = asyncio.create_task(_probe(db, probe_id, done, waits))
        await asyncio.sleep(0.1)
        held, stop = _watch_transactions(db)
        started, cpu = time.perf_counter(), time.process_time()
        await account_deletion.erase(db, payload)  # the job's phases, as a worker runs them
        async with db.transaction() as session:
            await account_deletion.erased(session, payload, None)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        done.set()
        await probing
        stop()  # once nothing runs (a listener removed mid-dispatch breaks the dispatch)
        async with db.session() as session:
            left = await session.scalar(
                select(func.count()).select_from(Post).where(Post.account_id == leaving_id)
            )
    finally:
        await db.dispose()
        await remove()
    held.sort()
    waits.sort()
    result = {
        "benchmark": "account_erasure",
        "backend": args.backend,
        "posts": args.posts,
        "likes": args.likes,
        "seed_seconds": round(seeded, 1),
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "posts_left": left,
        "transactions": len(held),
        "longest_transaction_ms": round(held[-1] * 1000, 1) if held else None,
        "p99_transaction_ms": round(held[int(len(held) * 0.99)] * 1000, 1) if held else None,
        "probe_writes": len(waits),
        "probe_longest_wait_ms": round(waits[-1] * 1000, 1) if waits else None,
        "probe_median_wait_ms": round(waits[len(waits) // 2] * 1000, 1) if waits else None,
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "targets": {
            "erase_60s": seconds <= 60,
            "lock_100ms": bool(held) and held[-1] <= 0.1,
        },
    }
    write_result(f"account-erasure-{args.backend}", result)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--likes", type=int, default=2_000)
    asyncio.run(main(parser.parse_args()))
