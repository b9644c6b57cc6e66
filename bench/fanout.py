"""Fan-out of one post to 10,000 followers: the distribute_post job handler, timed.

    python -m bench.fanout [--backend postgresql] [--users 10000 --posts 1000000]

A benchmark author followed by every demo account is created (and removed afterwards), the
follower threshold is raised so that the author is fanned out (AGORA_FANOUT_FOLLOWER_THRESHOLD),
and each round publishes a post with `posts.create_post` and runs the `distribute_post` job
as a worker does: `fan_out` (feeds and notifications in short batched write transactions, with
pauses on SQLite so that other writers get in) then `finish_distribution` in the job's own
transaction. `single_transaction` times the same work in one transaction (no pauses) for
comparison. `distribute_post_cpu`: the benchmark process's CPU time (`time.process_time`,
SQLite's work included) per job, which a loaded machine distorts less than wall time.
Feeds start in a steady state:
seeded feeds hold `home_feed_cap` entries, so their size counters are spread over
cap..cap+TRIM_SLACK as they would be after a while of normal traffic (about one feed in 40
is trimmed per post). Target: finished <= 2 s.
"""

from __future__ import annotations

import random
import time
from typing import Any

from sqlalchemy import bindparam, func, select, update

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

AUTHOR = "fanout_bench"


async def steady_state_sizes(db: Any, seed: int) -> int:
    """Spread the size counters of full feeds over cap..cap+TRIM_SLACK."""
    from agora.config import get_settings
    from agora.db.models import HomeFeedSize
    from agora.social.reading.fan_out import TRIM_SLACK

    cap = get_settings().home_feed_cap
    rng = random.Random(seed)
    async with db.transaction() as session:
        full = (
            await session.scalars(
                select(HomeFeedSize.account_id).where(HomeFeedSize.entries >= cap)
            )
        ).all()
        statement = (
            update(HomeFeedSize.__table__)
            .where(HomeFeedSize.__table__.c.account_id == bindparam("owner"))
            .values(entries=bindparam("size"))
        )
        rows = [{"owner": a, "size": cap + rng.randint(0, TRIM_SLACK)} for a in full]
        if rows:
            await session.execute(statement, rows)
    return len(full)


async def _due_for_trim(db: Any, author: int) -> int:
    from agora.config import get_settings
    from agora.db.models import Follow, HomeFeedSize
    from agora.social.reading.fan_out import TRIM_SLACK

    limit = get_settings().home_feed_cap + TRIM_SLACK
    async with db.session() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(HomeFeedSize)
                .join(Follow, Follow.account_id == HomeFeedSize.account_id)
                .where(Follow.target_account_id == author, HomeFeedSize.entries >= limit)
            )
            or 0
        )


async def rounds(db: Any, author_id: int, count: int) -> dict[str, Any]:
    """Publish and fan out `count` posts; time each distribute_post (handler + commit)."""
    from agora.db.models import Account, HomeFeedEntry
    from agora.social.posts.writing import Draft, create_post
    from agora.social.reading.fan_out import distribute_post, fan_out, finish_distribution

    times, single, trims, reached, cpu = [], [], [], [], []
    for i in range(count):
        async with db.session(write=True) as session:
            author = await session.get(Account, author_id)
            post = await create_post(session, author.id, Draft(text=f"fan-out round {i} #agora"))
        trims.append(await _due_for_trim(db, author_id))
        started, started_cpu = time.perf_counter(), time.process_time()
        if i % 2 == 0:  # as a worker runs the job
            await fan_out(db, {"post_id": post.id})
            async with db.transaction() as session:
                await finish_distribution(session, {"post_id": post.id})
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        else:  # the same work in one transaction
            async with db.transaction() as session:
                await distribute_post(session, {"post_id": post.id})
            single.append(time.perf_counter() - started)
        async with db.session() as session:
            reached.append(
                await session.scalar(
                    select(func.count())
                    .select_from(HomeFeedEntry)
                    .where(HomeFeedEntry.post_id == post.id)
                )
            )
    return {
        "distribute_post": latency_stats(times),
        "distribute_post_cpu": latency_stats(cpu),
        "single_transaction": latency_stats(single),
        "each_ms": [round(t * 1000, 1) for t in times],
        "feeds_reached": reached,
        "feeds_trimmed": trims,
    }


async def main() -> None:
    """Entry point."""
    p = parser(__doc__ or "")
    p.add_argument("--rounds", type=int, default=10)
    args = p.parse_args()
    from agora.db.engine import Database

    async with dataset(args) as data:
        use_database(data.url, fanout_follower_threshold=1_000_000_000)
        db = Database(data.url)
        try:
            await remove_author(db, AUTHOR)
            followers = await demo_account_ids(db)
            author = await create_followed_author(db, AUTHOR, "Fan-out bench", followers)
            steady = await steady_state_sizes(db, args.seed)
            metrics = await rounds(db, author, args.rounds)
            metrics.update(followers=len(followers), full_feeds_spread=steady)
        finally:
            await remove_author(db, AUTHOR)
            await db.dispose()
    worst = metrics["distribute_post"]["max_ms"]
    emit("fanout_10k", data, metrics, {"max_le_2s": worst <= 2000})


if __name__ == "__main__":
    run(main())
