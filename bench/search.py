"""Full-text search of posts through the service layer, on the 1M-post demo data set.

    python -m bench.search [--backend postgresql] [--users 10000 --posts 1000000]

Each request opens a session, asks `search.search_posts` for the best 20 posts matching a
two-word query (two random words of the demo vocabulary: each is in about one post in ten,
both in about one in fifty, so a query matches some 20,000 posts), as a random demo
account; then hydrates and serialises them as GET /api/v2/search does. Reported: the search
alone and the whole page. Before measuring, migrations are applied (building the index of a
data set seeded before migration 0006; the time is reported). Target: p50 <= 20 ms on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import random
import time
from typing import Any

import orjson
from sqlalchemy import select

from bench.common import dataset, emit, latency_stats, parser, run

LIMIT = 20


async def require_index(db: Any) -> None:
    """Stop with a clear message on a data set stamped past migration 0006 without its index
    (seeded while that migration was still empty): it must be seeded again (--fresh)."""
    from sqlalchemy import inspect

    async with db.engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
    if not {"posts_search", "post_search"} & set(names):
        raise SystemExit("this data set has no search index: seed it again with --fresh")


async def viewers(db: Any, count: int, seed: int) -> list[int]:
    """Random demo accounts."""
    from agora.db.models import Account

    async with db.session() as session:
        ids = list(
            (
                await session.scalars(
                    select(Account.id).where(Account.username_lower.like("demo%"))
                )
            ).all()
        )
    random.Random(seed).shuffle(ids)
    return ids[:count]


def queries(count: int, seed: int) -> list[str]:
    """Two distinct random words of the demo vocabulary per query."""
    from agora.demo.plan import WORDS

    rng = random.Random(seed)
    return [" ".join(rng.sample(WORDS, 2)) for _ in range(count)]


async def one_search(db: Any, viewer: int, q: str) -> tuple[float, float, int]:
    """(search seconds, whole page seconds, posts found)."""
    from agora.api import serialise
    from agora.social.search import search_posts

    started = time.perf_counter()
    async with db.session() as session:
        ids = await search_posts(session, viewer, q, limit=LIMIT)
        searched = time.perf_counter()
        orjson.dumps(await serialise.statuses(session, viewer, ids))
    done = time.perf_counter()
    return searched - started, done - started, len(ids)


async def measure(db: Any, people: list[int], texts: list[str]) -> dict[str, Any]:
    """Time one search per query, each by the next viewer."""
    search_only: list[float] = []
    page: list[float] = []
    found: list[int] = []
    for i, q in enumerate(texts):
        alone, whole, n = await one_search(db, people[i % len(people)], q)
        search_only.append(alone)
        page.append(whole)
        found.append(n)
    return {
        "search": latency_stats(search_only),
        "search_and_page": latency_stats(page),
        "posts_per_page": {"min": min(found), "mean": round(sum(found) / len(found), 1)},
    }


async def main() -> None:
    """Entry point."""
    p = parser(__doc__ or "")
    p.add_argument("--requests", type=int, default=1000)
    args = p.parse_args()
    from agora.db.engine import Database
    from agora.db.migrate import upgrade

    async with dataset(args) as data:
        db = Database(data.url)
        try:
            started = time.perf_counter()
            await upgrade(db.engine)
            migrate_seconds = round(time.perf_counter() - started, 1)
            await require_index(db)
            people = await viewers(db, 500, args.seed)
            await measure(db, people, queries(200, args.seed + 1))  # warm caches
            metrics = await measure(db, people, queries(args.requests, args.seed))
        finally:
            await db.dispose()
    metrics["migrate_seconds"] = migrate_seconds
    metrics["limit"] = LIMIT
    emit(
        "search_posts",
        data,
        metrics,
        {"p50_le_20ms": metrics["search_and_page"]["p50_ms"] <= 20},
    )


if __name__ == "__main__":
    run(main())
