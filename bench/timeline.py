"""Home timeline through the service layer: a page of 40 posts, hydrated and serialised.

    python -m bench.timeline [--backend postgresql] [--users 10000 --posts 1000000]

Each request opens a session, asks `timelines.home_timeline` for 40 ids, renders them with
`serialise.shown_statuses` (the render cache of api/status_cache.py: one narrow read, the
cached renderings, the misses hydrated) and serialises the page with orjson, as GET
/api/v1/timelines/home does; the warm-up pass fills the cache.
Viewers are random demo accounts with at least 40 entries in their feed. First pages and
deeper pages (max_id from the page before) are measured separately. Targets (SQLite):
first page p50 <= 5 ms, p99 <= 25 ms; the SQL query count per page is reported.
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any

import orjson
from sqlalchemy import select

from bench.common import dataset, emit, measure_pages, parser, run

PAGE = 40


async def viewers(db: Any, count: int, seed: int) -> list[int]:
    """Random demo accounts whose home feed holds at least a page."""
    from agora.db.models import HomeFeedSize

    async with db.session() as session:
        ids = list(
            (
                await session.scalars(
                    select(HomeFeedSize.account_id).where(HomeFeedSize.entries >= PAGE)
                )
            ).all()
        )
    random.Random(seed).shuffle(ids)
    return ids[:count]


async def one_page(db: Any, viewer: int, max_id: int | None) -> tuple[int, int | None]:
    """One hydrated, serialised page; returns (posts on it, cursor of the next page)."""
    from agora.api import serialise
    from agora.social.reading.timelines import home_timeline
    from agora.social.rules.paging import Page

    async with db.session() as session:
        found = await home_timeline(session, viewer, Page(limit=PAGE, max_id=max_id))
        items = await serialise.shown_statuses(session, viewer, found.items)
        orjson.dumps(items)
    return len(items), found.next_max_id


async def measure(db: Any, people: list[int], requests: int, depth: int) -> dict[str, Any]:
    """Time `requests` page loads: each viewer pages `depth` pages down from the top."""
    visits = [partial(one_page, db, viewer) for viewer in people]
    return {**await measure_pages(db, visits, requests, depth), "viewers": len(people)}


async def main() -> None:
    """Entry point."""
    p = parser(__doc__ or "")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--depth", type=int, default=3, help="pages per viewer visit")
    args = p.parse_args()
    from agora.db.engine import Database

    async with dataset(args) as data:
        db = Database(data.url)
        try:
            people = await viewers(db, 500, args.seed)
            await measure(db, people, 300, args.depth)  # warm caches
            metrics = await measure(db, people, args.requests, args.depth)
        finally:
            await db.dispose()
    metrics["page_size"] = PAGE
    first = metrics["first_page"]
    emit(
        "home_timeline_service",
        data,
        metrics,
        {"p50_le_5ms": first["p50_ms"] <= 5, "p99_le_25ms": first["p99_ms"] <= 25},
    )


if __name__ == "__main__":
    run(main())
