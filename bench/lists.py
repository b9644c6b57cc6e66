"""List timelines through the service layer, and home timelines next to exclusive lists.

    python -m bench.lists [--backend postgresql] [--users 10000 --posts 1000000]

Gives random demo viewers a list of 10, 50 or 200 of the accounts they follow (replies
policy `list`), then times a page of 40 through `list_timeline.list_timeline` +
`serialise.statuses` + orjson (first pages and deeper pages), as GET /api/v1/timelines/list/:id
does. List timelines are read at request time in windows (no list feed); this measures how
that holds up as lists grow. Then the lists are made exclusive and the owners' home
pages are timed (each page also checks every post's author against the owner's exclusive
lists). The bench lists are deleted at the end. Migrations are applied to the data set first.
Targets (SQLite, as for the home timeline): first page p50 <= 5 ms, p99 <= 25 ms.
"""

from __future__ import annotations

import random
from functools import partial
from typing import Any

import orjson
from sqlalchemy import delete, select, update

from bench.common import dataset, emit, measure_pages, parser, run
from bench.timeline import one_page as home_page

PAGE = 40
TITLE = "agora-bench-list"
SIZES = (10, 50, 200)


async def make_lists(db: Any, size: int, count: int, seed: int) -> list[tuple[int, int]]:
    """(owner, list id) for up to `count` demo accounts following at least `size` accounts."""
    from agora.db.models import Account, Follow, ListMember, UserList, utcnow
    from agora.ids import new_id

    made = []
    async with db.session(write=True) as session:
        owners = list(
            await session.scalars(select(Account.id).where(Account.following_count >= size))
        )
        random.Random(seed + size).shuffle(owners)
        for owner in owners[:count]:
            follows = (
                await session.execute(
                    select(Follow.id, Follow.target_account_id)
                    .where(Follow.account_id == owner)
                    .limit(size)
                )
            ).all()
            list_id = new_id()
            session.add(
                UserList(
                    id=list_id,
                    account_id=owner,
                    title=TITLE,
                    replies_policy="list",
                    exclusive=False,
                    created_at=utcnow(),
                )
            )
            await session.flush()
            await session.execute(
                ListMember.__table__.insert(),
                [{"list_id": list_id, "account_id": t, "follow_id": f} for f, t in follows],
            )
            made.append((owner, list_id))
        await session.commit()
    return made


async def one_page(db: Any, owner: int, list_id: int, max_id: int | None) -> tuple[int, Any]:
    """One hydrated, serialised list page; returns (posts on it, cursor of the next page)."""
    from agora.api import serialise
    from agora.social.reading.list_timeline import list_timeline
    from agora.social.rules.paging import Page

    async with db.session() as session:
        found = await list_timeline(session, owner, list_id, Page(limit=PAGE, max_id=max_id))
        items = await serialise.statuses(session, owner, found.items)
        orjson.dumps(items)
    return len(items), found.next_max_id


async def measure(db: Any, lists: list[tuple[int, int]], requests: int, home: bool = False) -> Any:
    """Time `requests` page loads (three pages down per visit)."""
    visits = [
        partial(home_page, db, owner) if home else partial(one_page, db, owner, list_id)
        for owner, list_id in lists
    ]
    return {**await measure_pages(db, visits, requests, 3), "lists": len(lists)}


async def main() -> None:
    """Entry point."""
    p = parser(__doc__ or "")
    p.add_argument("--requests", type=int, default=600)
    p.add_argument("--lists", type=int, default=50, help="lists per size")
    args = p.parse_args()
    from agora.db.engine import Database
    from agora.db.migrate import upgrade
    from agora.db.models import UserList

    async with dataset(args) as data:
        db = Database(data.url)
        metrics: dict[str, Any] = {}
        try:
            await upgrade(db.engine)
            async with db.transaction() as session:
                await session.execute(delete(UserList).where(UserList.title == TITLE))
            every: list[tuple[int, int]] = []
            for size in SIZES:
                made = await make_lists(db, size, args.lists, args.seed)
                if not made:  # a small data set: nobody follows that many accounts
                    continue
                every.extend(made)
                await measure(db, made, 60)  # warm caches
                metrics[f"members_{size}"] = await measure(db, made, args.requests)
            async with db.transaction() as session:
                await session.execute(
                    update(UserList).where(UserList.title == TITLE).values(exclusive=True)
                )
            await measure(db, every, 60, home=True)
            metrics["home_with_exclusive_lists"] = await measure(
                db, every, args.requests, home=True
            )
        finally:
            async with db.transaction() as session:
                await session.execute(delete(UserList).where(UserList.title == TITLE))
            await db.dispose()
    metrics["page_size"] = PAGE
    targets = {}
    if "members_10" in metrics:  # none on a data set too small for lists of 10
        small = metrics["members_10"]["first_page"]
        targets = {"p50_le_5ms": small["p50_ms"] <= 5, "p99_le_25ms": small["p99_ms"] <= 25}
    emit("list_timeline_service", data, metrics, targets)


if __name__ == "__main__":
    run(main())
