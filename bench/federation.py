"""Federation: the inbox and the deliveries, on a fresh database with real peers on loopback.

    python -m bench.federation [--backend sqlite] [--activities 1000]
                               [--followers 1000 --servers 100 --dead 10]
                               [--dead-mode refused|silent]

Three measurements, one JSON result:
- inbox accept: `inbox.receive` for a signed Create by a known remote actor (parse, look the
  key up, verify the draft-cavage signature, record the activity id and queue its job, commit),
  the part of `POST /inbox` before the 202. Target: p50 <= 5 ms.
- inbox processing: one worker draining those `ap_inbox` jobs (each stores a remote post and
  fans it out to the author's 10 local followers; any job that follows counts in the time),
  claimed and run in batches as the application registers them.
  Target: >= 300 activities/s on SQLite. Also reported: SQL statements, SQLite thread round
  trips (a savepoint rides with the next statement) and the process's CPU ms per activity.
- delivery: a local author followed by `--followers` remote accounts on `--servers` peers
  (tests/federation_receivers.py: HTTP servers in threads; one shared inbox each), `--dead`
  of them down; one post, one worker: the time until every live peer has the Create.
  Target: <= 10 s for 1,000 followers on 100 servers, 10 dead. `--dead-mode refused` (the
  default): nothing listens, a connection is refused at once; `silent`: the dead peers take
  the connection and never answer, so each delivery to them waits out `federation_timeout`
  (10 s), and the live ones must not wait behind them.

Timings mean something only on a quiet machine; `--activities 20 --followers 20 --servers 4
--dead 1` checks that it runs.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Dataset, QueryCounter, emit, latency_stats, run, use_database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from federation_receivers import Receiver, dead_url

INBOX_TARGET_MS = 5.0
PROCESS_TARGET_PER_S = 300.0
DELIVERY_TARGET_S = 10.0
LOCAL_FOLLOWERS = 10


async def _database(backend: str) -> tuple[Any, str]:
    from agora.db.engine import Database
    from agora.db.migrate import upgrade

    if backend != "sqlite":
        raise SystemExit("bench.federation runs on SQLite (its targets are SQLite's)")
    url = f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='agora-bench-fed-')}/agora.db"
    use_database(url, federation_allow_private_addresses="true", base_url="http://127.0.0.1:8000")
    db = Database(url)
    await upgrade(db.engine)
    return db, url


async def _remote(session: Any, peer: Receiver | None, url: str, name: str) -> Any:
    from agora.federation.actors import RemoteActor, store_actor

    uri = f"{url}/users/{name}"
    return await store_actor(
        session,
        RemoteActor(
            uri=uri,
            username=name,
            domain=url.split("//", 1)[1],
            display_name=name,
            note_html="",
            url=None,
            inbox=f"{uri}/inbox",
            shared_inbox=f"{url}/inbox",
            followers=f"{uri}/followers",
            public_key_pem=(peer.key.public_pem if peer else ""),
            locked=False,
            bot=False,
            discoverable=True,
        ),
    )


async def _local(session: Any, name: str) -> Any:
    from agora.social.people.accounts import create_account

    account = await create_account(session, username=name, display_name=name)
    await session.flush()
    return account


async def _follow(session: Any, followers: list[int], target: int) -> None:
    from sqlalchemy import insert, update

    from agora.db.models import Account, Follow
    from agora.ids import new_id

    await session.execute(
        insert(Follow),
        [{"id": new_id(), "account_id": f, "target_account_id": target} for f in followers],
    )
    await session.execute(
        update(Account).where(Account.id == target).values(followers_count=len(followers))
    )


def _create(actor: str, n: int) -> bytes:
    public = "https://www.w3.org/ns/activitystreams#Public"
    note = f"{actor}/statuses/{n}"
    return json.dumps(
        {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{note}/activity",
            "type": "Create",
            "actor": actor,
            "to": [public],
            "object": {
                "id": note,
                "type": "Note",
                "attributedTo": actor,
                "content": f"<p>remote post {n}</p>",
                "to": [public],
                "cc": [f"{actor}/followers"],
            },
        }
    ).encode()


class _RoundTrips:
    """Counts the calls into SQLite connections' threads (statements, commits, rollbacks:
    db/sqlite_one_trip.py) while inside the block; the process's CPU time is measured
    besides, as wall-clock figures mean little on a loaded machine."""

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> _RoundTrips:
        import aiosqlite

        self._real = real = aiosqlite.Connection._execute

        async def counted(connection: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await real(connection, fn, *args, **kwargs)

        aiosqlite.Connection._execute = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *_exc: object) -> None:
        import aiosqlite

        aiosqlite.Connection._execute = self._real  # type: ignore[method-assign]


async def measure_inbox(db: Any, activities: int) -> dict[str, Any]:
    """Accept `activities` signed Creates (timed one by one), then drain them with one worker."""
    from agora.config import get_settings
    from agora.federation import inbox
    from agora.federation.signatures import sign_cavage
    from agora.job_registry import register_all_jobs
    from agora.jobs.worker import Worker

    register_all_jobs()
    peer = Receiver()  # its key signs; it need not listen (the actor is known)
    url = "http://127.0.0.1:9"
    async with db.transaction() as session:
        author = await _remote(session, peer, url, "author")
        fans = [(await _local(session, f"fan{i}")).id for i in range(LOCAL_FOLLOWERS)]
        await _follow(session, fans, author.id)
    target = get_settings().base_url.rstrip("/") + "/inbox"
    deliveries = []
    for n in range(activities + 20):
        body = _create(author.uri, n)
        signed = sign_cavage(
            "POST", target, body, key_id=f"{author.uri}#main-key", private_pem=peer.key.private_pem
        )
        headers = {k.lower(): v for k, v in signed.items()}
        headers["content-type"] = "application/activity+json"
        deliveries.append(inbox.Delivery("POST", target, headers, body))
    seconds = []
    counter = QueryCounter(db.engine)
    with counter.attached():
        for i, delivery in enumerate(deliveries):
            started = time.perf_counter()
            assert await inbox.receive(db, delivery)
            if i >= 20:  # the first ones warm the caches
                seconds.append(time.perf_counter() - started)
        accept_statements, counter.count = counter.count, 0
        worker = Worker(db)
        with _RoundTrips() as trips:
            started, cpu = time.perf_counter(), time.process_time()
            jobs = await worker.run_until_idle()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert worker.failed == 0, "an inbox job failed"
    count = len(deliveries)
    return {
        "accept": {
            **latency_stats(seconds),
            "statements_each": round(accept_statements / count, 1),
        },
        "process": {
            "activities": count,
            "jobs_run": jobs,
            "seconds": round(elapsed, 3),
            "activities_per_s": round(count / elapsed, 1),
            "statements_per_activity": round(counter.count / count, 1),
            "round_trips_per_activity": round(trips.count / count, 1),
            "cpu_ms_per_activity": round(cpu * 1000 / count, 2),
        },
    }


async def measure_delivery(
    db: Any, followers: int, servers: int, dead: int, dead_mode: str = "refused"
) -> dict[str, Any]:
    """One post to `followers` remote followers on `servers` peers, `dead` of them down
    (`dead_mode`: refused or silent, see the module docstring): the seconds until every live
    peer has its Create (one worker)."""
    from agora.db.models import Account
    from agora.jobs.worker import Worker
    from agora.social.posts.writing import Draft, create_post

    shared = Receiver().key
    live = [Receiver(key=shared).start() for _ in range(servers - dead)]
    silent = [Receiver("slow", delay=60, key=shared) for _ in range(dead)]
    if dead_mode == "silent":
        urls = [p.url for p in live] + [p.start().url for p in silent]
    else:
        urls = [p.url for p in live] + [dead_url() for _ in range(dead)]
    try:
        async with db.transaction() as session:
            author = await _local(session, "speaker")
            ids = []
            for i in range(followers):
                peer_url = urls[i % servers]
                ids.append((await _remote(session, None, peer_url, f"f{i}")).id)
            await _follow(session, ids, author.id)
            author_id = author.id
        stop = asyncio.Event()
        worker = Worker(db)
        task = asyncio.create_task(worker.run_forever(stop))
        async with db.session(write=True) as session:
            speaker = await session.get(Account, author_id)
            started = time.perf_counter()
            await create_post(session, speaker.id, Draft(text="one post to a thousand followers"))

        def arrived() -> int:
            return sum(any(b"thousand followers" in r.body for r in p.posts()) for p in list(live))

        while arrived() < len(live) and time.perf_counter() - started < 120:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        reached = arrived()
        stop.set()
        await task
    finally:
        for peer in live:
            peer.stop()
        for peer in silent:
            peer.stop()
    return {
        "followers": followers,
        "servers": servers,
        "dead": dead,
        "dead_mode": dead_mode,
        "live_servers_reached": reached,
        "seconds_until_every_live_inbox": round(elapsed, 3),
        "jobs_run": worker.processed + worker.failed,
    }


async def main(args: Any) -> None:
    """Entry point."""
    db, _url = await _database(args.backend)
    try:
        inbox_metrics = await measure_inbox(db, args.activities)
        delivery = await measure_delivery(
            db, args.followers, args.servers, args.dead, args.dead_mode
        )
    finally:
        await db.dispose()
    metrics = {**inbox_metrics, "delivery": delivery}
    full = args.followers >= 1000 and args.servers >= 100
    targets = {
        "inbox_accept_p50_le_5ms": inbox_metrics["accept"]["p50_ms"] <= INBOX_TARGET_MS,
        "inbox_process_ge_300_per_s": inbox_metrics["process"]["activities_per_s"]
        >= PROCESS_TARGET_PER_S,
        "delivery_le_10s": delivery["live_servers_reached"] == args.servers - args.dead
        and delivery["seconds_until_every_live_inbox"] <= DELIVERY_TARGET_S
        and full,
    }
    emit("federation", Dataset("-", args.backend, 0, 0, None), metrics, targets)


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--backend", choices=("sqlite",), default="sqlite")
    p.add_argument("--activities", type=int, default=1000)
    p.add_argument("--followers", type=int, default=1000)
    p.add_argument("--servers", type=int, default=100)
    p.add_argument("--dead", type=int, default=10)
    p.add_argument("--dead-mode", choices=("refused", "silent"), default="refused")
    run(main(p.parse_args()))
