"""Grouped notifications through the service layer: a page of 40 groups over 100k
notifications, as GET /api/v2/notifications answers it.

    python -m bench.grouped_notifications [--backend postgresql] [--users 1000 --posts 20000]

Gives a few demo accounts `--notifications` (default 100000) notifications each, made as the
server makes them over ~35 days (one every 30 s): likes and boosts of their own posts and
follows, grouped with Mastodon's keys (`<type>-<post>-<hour bucket>`, a group spanning at most
12 hours), mentions and posts ungrouped. Each request opens a session, asks
`notification_groups.list_groups` for 40 groups, renders them with
`serialise.notification_groups` (accounts and statuses listed once) and serialises with orjson.
First pages and deeper pages (max_id from the page before) are measured separately; the
statements per page are reported. Target (SQLite): first page p50 <= 15 ms. The bench's
notifications are deleted at the end.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
from sqlalchemy import delete, select

from bench.common import dataset, demo_account_ids, emit, measure_pages, parser, run

PAGE = 40
VIEWERS = 3
KINDS = (("favourite", 45), ("reblog", 15), ("follow", 15), ("mention", 20), ("status", 5))


async def give_notifications(db: Any, viewers: list[int], count: int, seed: int) -> None:
    """`count` notifications for each viewer, newest now, one every 30 s back in time."""
    from agora.db.models import Notification, Post
    from agora.ids import new_id

    rng = random.Random(seed)
    people = await demo_account_ids(db)
    kinds = [k for k, weight in KINDS for _ in range(weight)]
    async with db.session(write=True) as session:
        recent = list(
            (await session.scalars(select(Post.id).order_by(Post.id.desc()).limit(5000))).all()
        )
        for viewer in viewers:
            own = (
                list(
                    (
                        await session.scalars(
                            select(Post.id).where(Post.account_id == viewer).limit(200)
                        )
                    ).all()
                )
                or recent[:50]
            )
            now = datetime.now(UTC)
            rows = []
            for i in range(count):
                at = now - timedelta(seconds=30 * i)
                kind = rng.choice(kinds)
                post = (
                    None
                    if kind == "follow"
                    else rng.choice(own if kind in ("favourite", "reblog") else recent)
                )
                sender = rng.choice(people)
                bucket = int(at.timestamp()) // 3600 // 12 * 12
                prefix = "follow" if kind == "follow" else f"{kind}-{post}"
                rows.append(
                    {
                        "id": new_id(int(at.timestamp() * 1000)),
                        "account_id": viewer,
                        "from_account_id": sender if sender != viewer else people[0],
                        "type": kind,
                        "post_id": post,
                        "activity_id": new_id(),
                        "created_at": at,
                        "filtered": False,
                        "group_key": f"{prefix}-{bucket}"
                        if kind in ("favourite", "reblog", "follow")
                        else None,
                    }
                )
                if len(rows) == 5000:
                    await session.execute(Notification.__table__.insert(), rows)
                    rows = []
            if rows:
                await session.execute(Notification.__table__.insert(), rows)
        await session.commit()


async def one_page(db: Any, viewer: int, max_id: int | None) -> tuple[int, int | None]:
    """One page of groups, rendered and serialised; (groups on it, cursor of the next)."""
    from agora.api import serialise
    from agora.social.reading.notification_groups import GroupFilters, list_groups
    from agora.social.rules.paging import Page

    async with db.session() as session:
        found = await list_groups(session, viewer, Page(limit=PAGE, max_id=max_id), GroupFilters())
        body = await serialise.notification_groups(session, viewer, found.items)
        orjson.dumps(body)
    return len(body["notification_groups"]), found.next_max_id


async def main() -> None:
    """Entry point."""
    p = parser(__doc__ or "")
    p.set_defaults(users=1000, posts=20000)
    p.add_argument("--requests", type=int, default=600)
    p.add_argument("--depth", type=int, default=3, help="pages per viewer visit")
    p.add_argument("--notifications", type=int, default=100_000, help="per viewer")
    args = p.parse_args()
    from agora.db.engine import Database
    from agora.db.migrate import upgrade
    from agora.db.models import Notification

    async with dataset(args) as data:
        db = Database(data.url)
        await upgrade(db.engine)
        people = await demo_account_ids(db)
        viewers = random.Random(args.seed).sample(people, VIEWERS)
        try:
            await give_notifications(db, viewers, args.notifications, args.seed)
            visits = [partial(one_page, db, viewer) for viewer in viewers]
            await measure_pages(db, visits, 60, args.depth)  # warm caches
            metrics = await measure_pages(db, visits, args.requests, args.depth)
        finally:
            async with db.transaction() as session:
                await session.execute(
                    delete(Notification).where(Notification.account_id.in_(viewers))
                )
            await db.dispose()
    metrics |= {"page_size": PAGE, "notifications_per_viewer": args.notifications}
    emit(
        "grouped_notifications_service",
        data,
        metrics,
        {"p50_le_15ms": metrics["first_page"]["p50_ms"] <= 15},
    )


if __name__ == "__main__":
    run(main())
