"""Home timeline through the service layer: a page of 40 posts, hydrated and serialised.

    python -m bench.timeline [--backend postgresql] [--users 10000 --posts 1000000]

Each request opens a session (a read-only one, as the route's: on PostgreSQL without a
transaction), asks `timelines.home_timeline` for 40 ids, renders them with
`serialise.shown_statuses` (the render cache of api/status_cache.py: one narrow read, the
cached renderings, the misses hydrated) and serialises the page with orjson, as GET
/api/v1/timelines/home does; the warm-up pass fills the cache.
Viewers are random demo accounts with at least 40 entries in their feed. First pages and
deeper pages (max_id from the page before) are measured separately. Targets (SQLite):
first page p50 <= 5 ms, p99 <= 25 ms; the SQL query count per page is reported.

With `--filter-keywords N` (default 100; 0 to skip) the same pages are measured again with a
`warn` filter of N whole-word keywords (words of the demo vocabulary, so posts match and carry
`filtered`) on every viewer, the two alternating in rounds so that the load of the machine
weighs on both alike; `with_filter` reports the pages with it and the p50 ratio and added
milliseconds (target: <= 2 ms added at p50). The filters are removed afterwards.
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

    async with db.session(read_only=True) as session:  # as the route's (http/deps.py)
        found = await home_timeline(session, viewer, Page(limit=PAGE, max_id=max_id))
        items = await serialise.shown_statuses(session, viewer, found.items, context="home")
        orjson.dumps(items)
    return len(items), found.next_max_id


async def measure(db: Any, people: list[int], requests: int, depth: int) -> dict[str, Any]:
    """Time `requests` page loads: each viewer pages `depth` pages down from the top."""
    visits = [partial(one_page, db, viewer) for viewer in people]
    return {**await measure_pages(db, visits, requests, depth), "viewers": len(people)}


async def set_filters(db: Any, people: list[int], keywords: int, seed: int) -> None:
    """Give every viewer a `warn` filter for home of `keywords` whole words (none: remove
    them)."""
    from sqlalchemy import delete

    from agora.db.models import Filter, FilterKeyword, utcnow
    from agora.demo.plan import WORDS
    from agora.ids import new_id

    rng = random.Random(seed)
    async with db.transaction() as session:
        await session.execute(delete(Filter).where(Filter.account_id.in_(people)))
        for person in people if keywords else []:
            fid = new_id()
            session.add(
                Filter(
                    id=fid,
                    account_id=person,
                    title="bench",
                    contexts=["home"],
                    action="warn",
                    created_at=utcnow(),
                )
            )
            await session.flush()
            words = rng.sample(sorted(set(WORDS)), min(keywords, len(set(WORDS))))
            words += [f"nomatch{i}" for i in range(keywords - len(words))]
            session.add_all(FilterKeyword(filter_id=fid, keyword=w, whole_word=True) for w in words)


def _merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """p50 of each run's first pages (the median of the rounds' p50s), wall and CPU."""
    p50s = sorted(r["first_page"]["p50_ms"] for r in runs)
    cpu = sorted(r["first_page_cpu"]["p50_ms"] for r in runs)
    return {
        "first_page_p50_ms": p50s[len(p50s) // 2],
        "rounds": p50s,
        "first_page_cpu_p50_ms": cpu[len(cpu) // 2],
    }


async def main() -> None:
    """Entry point."""
    p = parser(__doc__ or "")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--depth", type=int, default=3, help="pages per viewer visit")
    p.add_argument("--filter-keywords", type=int, default=100)
    p.add_argument("--rounds", type=int, default=4, help="alternations with / without filter")
    args = p.parse_args()
    from agora.db.engine import Database

    async with dataset(args) as data:
        db = Database(data.url)
        try:
            people = await viewers(db, 500, args.seed)
            await measure(db, people, 300, args.depth)  # warm caches
            metrics = await measure(db, people, args.requests, args.depth)
            if args.filter_keywords:
                metrics["with_filter"] = await compare(db, people, args)
        finally:
            await set_filters(db, people, 0, args.seed)
            await db.dispose()
    metrics["page_size"] = PAGE
    first = metrics["first_page"]
    checks = {"p50_le_5ms": first["p50_ms"] <= 5, "p99_le_25ms": first["p99_ms"] <= 25}
    if "with_filter" in metrics:
        checks["filter_adds_le_2ms_p50"] = metrics["with_filter"]["added_p50_ms"] <= 2
    emit("home_timeline_service", data, metrics, checks)


async def compare(db: Any, people: list[int], args: Any) -> dict[str, Any]:
    """The same pages without and with a filter of `--filter-keywords` keywords, alternating."""
    share = max(1, args.requests // args.rounds)
    plain: list[dict[str, Any]] = []
    filtered: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        await set_filters(db, people, 0, args.seed)
        plain.append(await measure(db, people, share, args.depth))
        await set_filters(db, people, args.filter_keywords, args.seed)
        filtered.append(await measure(db, people, share, args.depth))
    without, with_ = _merge(plain), _merge(filtered)
    # each round's own difference (the two halves of a round share the machine's load)
    paired = sorted(
        w["first_page"]["p50_ms"] - p["first_page"]["p50_ms"]
        for p, w in zip(plain, filtered, strict=True)
    )
    paired_cpu = sorted(
        w["first_page_cpu"]["p50_ms"] - p["first_page_cpu"]["p50_ms"]
        for p, w in zip(plain, filtered, strict=True)
    )
    return {
        "keywords": args.filter_keywords,
        "without": without,
        "with": with_ | {"queries_per_page": filtered[-1]["queries_per_page"]},
        "ratio_p50": round(with_["first_page_p50_ms"] / without["first_page_p50_ms"], 3),
        "added_p50_ms": round(with_["first_page_p50_ms"] - without["first_page_p50_ms"], 3),
        "added_cpu_p50_ms": round(
            with_["first_page_cpu_p50_ms"] - without["first_page_cpu_p50_ms"], 3
        ),
        "added_by_round_ms": [round(d, 3) for d in paired],
        "added_by_round_median_ms": round(paired[len(paired) // 2], 3),
        "added_cpu_by_round_median_ms": round(paired_cpu[len(paired_cpu) // 2], 3),
    }


if __name__ == "__main__":
    run(main())
