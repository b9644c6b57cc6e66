"""The trends job on the demo data set: `trends.score_at` (read the last two days of public
posts of discoverable accounts, their hashtags and links, score them) and `write_scores` (in
one transaction), as the periodic `refresh_trends` job runs them.

    python -m bench.trends [--backend postgresql] [--users 10000 --posts 1000000]

The demo data set spreads its posts over the 30 days before it was seeded, so the run is
anchored at the newest post (its two-day window then holds about a fifteenth of the posts,
as a live server's would). Applies pending migrations first; the trends written are deleted
afterwards. Reports each phase's time over `--rounds` runs (the first run inserts every
trending item, later ones update them) and what was scored. Target: a run well under the
job's 10-minute period (<= 10 s).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select

from bench.common import dataset, emit, parser, run


async def main() -> None:
    """Entry point."""
    p = parser(__doc__ or "")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    from agora.db.engine import Database
    from agora.db.migrate import upgrade
    from agora.db.models import Post, Trend
    from agora.social.reading import trends

    async with dataset(args) as data:
        db = Database(data.url)
        metrics: dict[str, Any] = {}
        try:
            await upgrade(db.engine)
            async with db.session() as session:
                newest = await session.scalar(select(func.max(Post.created_at)))
            assert newest is not None
            at = newest + timedelta(minutes=1)
            reads, writes = [], []
            for _ in range(args.rounds):
                started = time.perf_counter()
                result = await trends.score_at(db, at)
                reads.append(time.perf_counter() - started)
                started = time.perf_counter()
                async with db.session(write=True) as session:
                    await trends.write_scores(session, result)
                    await session.commit()
                writes.append(time.perf_counter() - started)
            by_kind: dict[str, int] = {}
            for s in result.scored:
                if s.score > 0:
                    by_kind[s.kind] = by_kind.get(s.kind, 0) + 1
            metrics = {
                "score_seconds": [round(x, 3) for x in reads],
                "write_seconds": [round(x, 3) for x in writes],
                "candidates": len(result.scored),
                "trending": by_kind,
            }
            async with db.session(write=True) as session:
                await session.execute(delete(Trend))
                await session.commit()
        finally:
            await db.dispose()
    total = max(r + w for r, w in zip(reads, writes, strict=True))
    metrics["worst_run_seconds"] = round(total, 3)
    emit("trends", data, metrics, {"run_le_10s": total <= 10})


if __name__ == "__main__":
    run(main())
