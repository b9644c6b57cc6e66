"""Post accepted: `posts.create_post` through the service layer (validation, mentions and
hashtags, counters, the fan-out job, commit), by random demo accounts.

    python -m bench.post [--backend postgresql] [--users 10000 --posts 1000000]

A fifth of the posts are replies to a recent public post. No job worker runs while posts are
timed (the fan-out they enqueue is reported separately: draining the queue afterwards).
Target: p50 <= 10 ms. POST /api/v1/statuses over HTTP is timed by bench.http.
"""

from __future__ import annotations

import random
import time
from typing import Any

from sqlalchemy import select

from bench.common import QueryCounter, dataset, emit, latency_stats, parser, run


async def _authors_and_parents(db: Any, seed: int) -> tuple[list[int], list[int]]:
    from agora.db.models import Account, Post

    async with db.session() as session:
        authors = list(
            (
                await session.scalars(
                    select(Account.id).where(Account.username_lower.like("demo%")).limit(2000)
                )
            ).all()
        )
        parents = list(
            (
                await session.scalars(
                    select(Post.id)
                    .where(Post.visibility == 0, Post.reblog_of_id.is_(None))
                    .order_by(Post.id.desc())
                    .limit(500)
                )
            ).all()
        )
    random.Random(seed).shuffle(authors)
    return authors, parents


async def measure(db: Any, count: int, seed: int) -> dict[str, Any]:
    """Time `count` create_post calls (after 20 untimed ones), then drain the fan-out."""
    from agora.db.models import Account
    from agora.job_registry import register_all_jobs
    from agora.jobs.worker import Worker
    from agora.social.posts.writing import Draft, create_post

    register_all_jobs()

    rng = random.Random(seed)
    authors, parents = await _authors_and_parents(db, seed)
    counter = QueryCounter(db.engine)
    times: list[float] = []
    queries: list[int] = []
    with counter.attached():
        for i in range(count + 20):
            reply = rng.choice(parents) if rng.random() < 0.2 else None
            draft = Draft(
                text=f"benchmark post {i} about #agora with @demo{rng.randrange(100)}",
                in_reply_to_id=reply,
            )
            async with db.session(write=True) as session:
                author = await session.get(Account, authors[i % len(authors)])
                counter.count = 0
                started = time.perf_counter()
                await create_post(session, author.id, draft)
                elapsed = time.perf_counter() - started
            if i >= 20:
                times.append(elapsed)
                queries.append(counter.count)
    started = time.perf_counter()
    jobs = await Worker(db, batch=50).run_until_idle()
    drained = time.perf_counter() - started
    return {
        "create_post": latency_stats(times),
        "queries_per_post": {"min": min(queries), "max": max(queries)},
        "fan_out_after": {"jobs": jobs, "seconds": round(drained, 2)},
    }


async def main() -> None:
    """Entry point."""
    p = parser(__doc__ or "")
    p.add_argument("--requests", type=int, default=300)
    args = p.parse_args()
    from agora.db.engine import Database

    async with dataset(args) as data:
        db = Database(data.url)
        try:
            metrics = await measure(db, args.requests, args.seed)
        finally:
            await db.dispose()
    emit(
        "post_status_service",
        data,
        metrics,
        {"p50_le_10ms": metrics["create_post"]["p50_ms"] <= 10},
    )


if __name__ == "__main__":
    run(main())
