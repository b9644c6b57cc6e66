"""Shared benchmark plumbing: the demo data set (seeded once, cached), timing statistics,
SQL query counting and JSON results (printed, and written to bench/results/)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
DATA_DIR = BENCH_DIR / "data"
PG_SERVER = os.environ.get("AGORA_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")


def parser(description: str) -> argparse.ArgumentParser:
    """Command-line options every benchmark takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--users", type=int, default=10_000, help="demo accounts (default 10000)")
    p.add_argument("--posts", type=int, default=1_000_000, help="demo posts (default 1000000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--database-url", help="use this database as is (no seeding)")
    p.add_argument("--fresh", action="store_true", help="re-seed even if a data set exists")
    p.add_argument("--drop", action="store_true", help="delete the data set afterwards")
    return p


@dataclass(frozen=True, slots=True)
class Dataset:
    """Where the benchmark data lives."""

    url: str
    backend: str
    users: int
    posts: int
    seeded_seconds: float | None


def _dataset_name(args: argparse.Namespace) -> str:
    return f"agora_bench_{args.users}_{args.posts}_s{args.seed}"


def _url(args: argparse.Namespace) -> str:
    if args.backend == "sqlite":
        return f"sqlite+aiosqlite:///{DATA_DIR / (_dataset_name(args) + '.db')}"
    server = PG_SERVER.replace("postgresql://", "postgresql+asyncpg://")
    return f"{server}/{_dataset_name(args)}"


async def _pg(sql: str) -> Any:
    import asyncpg

    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        return await conn.fetch(sql)
    finally:
        await conn.close()


async def _is_complete(url: str, users: int, posts: int) -> bool:
    from sqlalchemy import func, select

    from agora.db.engine import Database
    from agora.db.models import Account, Post

    db = Database(url)
    try:
        async with db.session() as session:
            n_posts = await session.scalar(select(func.count()).select_from(Post))
            n_users = await session.scalar(
                select(func.count())
                .select_from(Account)
                .where(Account.username_lower.like("demo%"))
            )
        return n_users == users and (n_posts or 0) >= posts
    except Exception:
        return False
    finally:
        await db.dispose()


async def _remove(args: argparse.Namespace) -> None:
    if args.backend == "sqlite":
        path = DATA_DIR / (_dataset_name(args) + ".db")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        await _pg(f'DROP DATABASE IF EXISTS "{_dataset_name(args)}" WITH (FORCE)')


async def _create(args: argparse.Namespace) -> None:
    if args.backend == "sqlite":
        DATA_DIR.mkdir(parents=True, exist_ok=True)
    else:
        await _pg(f'CREATE DATABASE "{_dataset_name(args)}"')


async def _seed(url: str, args: argparse.Namespace) -> float:
    from rich.console import Console
    from rich.progress import Progress

    from agora.config import get_settings
    from agora.db.engine import Database
    from agora.demo.seed import seed_demo

    use_database(url)
    db = Database(url)
    try:
        with Progress(console=Console(stderr=True), transient=True) as progress:
            summary = await seed_demo(
                db, users=args.users, posts=args.posts, seed=args.seed, progress=progress
            )
    finally:
        await db.dispose()
    get_settings.cache_clear()
    return summary.seconds


def use_database(url: str, **settings: Any) -> None:
    """Point Agora's settings (AGORA_* environment) at `url`, plus any overrides."""
    from agora.config import get_settings

    os.environ["AGORA_DATABASE_URL"] = url
    for key, value in settings.items():
        os.environ[f"AGORA_{key.upper()}"] = str(value)
    get_settings.cache_clear()


@asynccontextmanager
async def dataset(args: argparse.Namespace) -> AsyncIterator[Dataset]:
    """The demo data set for these options: reused when already seeded, seeded otherwise."""
    if args.database_url:
        use_database(args.database_url)
        backend = "sqlite" if args.database_url.startswith("sqlite") else "postgresql"
        yield Dataset(args.database_url, backend, args.users, args.posts, None)
        return
    url = _url(args)
    seconds = None
    if args.fresh or not await _is_complete(url, args.users, args.posts):
        await _remove(args)
        await _create(args)
        seconds = await _seed(url, args)
    use_database(url)
    try:
        yield Dataset(url, args.backend, args.users, args.posts, seconds)
    finally:
        if args.drop:
            await _remove(args)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def latency_stats(seconds: list[float]) -> dict[str, float]:
    """p50 / p90 / p99 / mean / max in milliseconds."""
    ms = sorted(s * 1000 for s in seconds)
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p90_ms": round(percentile(ms, 90), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(sum(ms) / len(ms), 3) if ms else float("nan"),
        "max_ms": round(ms[-1], 3) if ms else float("nan"),
    }


class QueryCounter:
    """Counts SQL statements sent by an engine (SQLAlchemy before_cursor_execute)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine.sync_engine
        self.count = 0

    def _on_execute(self, *args: Any) -> None:
        self.count += 1

    @contextmanager
    def attached(self) -> Iterator[QueryCounter]:
        """Count while inside the block."""
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._on_execute)
        try:
            yield self
        finally:
            event.remove(self.engine, "before_cursor_execute", self._on_execute)


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=BENCH_DIR,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def emit(name: str, data: Dataset, metrics: dict[str, Any], targets: dict[str, bool]) -> None:
    """Print one JSON object for a benchmark and write it to bench/results/."""
    result = {
        "benchmark": name,
        "backend": data.backend,
        "dataset": {"users": data.users, "posts": data.posts, "seed_seconds": data.seeded_seconds},
        "metrics": metrics,
        "targets_met": targets,
        "commit": _commit(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}-{data.backend}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result), flush=True)


def run(main: Any) -> None:
    """Run an async benchmark entry point (uvloop when available, as the server uses)."""
    try:
        import uvloop

        uvloop.run(main)
    except ImportError:
        asyncio.run(main)


async def demo_account_ids(db: Any) -> list[int]:
    """Ids of the data set's demo accounts, in order."""
    from sqlalchemy import select

    from agora.db.models import Account

    async with db.session() as session:
        query = select(Account.id).where(Account.username_lower.like("demo%")).order_by(Account.id)
        return list((await session.scalars(query)).all())


async def create_followed_author(
    db: Any, username: str, display_name: str, followers: list[int]
) -> int:
    """A benchmark author followed by `followers` (their counters kept right); its id."""
    from sqlalchemy import insert, update

    from agora.db.models import Account, Follow
    from agora.ids import new_id
    from agora.social.people.accounts import create_account

    async with db.transaction() as session:
        author = await create_account(session, username=username, display_name=display_name)
        await session.flush()
        for i in range(0, len(followers), 5000):
            chunk = followers[i : i + 5000]
            await session.execute(
                insert(Follow),
                [{"id": new_id(), "account_id": f, "target_account_id": author.id} for f in chunk],
            )
            await session.execute(
                update(Account)
                .where(Account.id.in_(chunk))
                .values(following_count=Account.following_count + 1)
            )
        author.followers_count = len(followers)
        return int(author.id)


async def remove_author(db: Any, username: str) -> None:
    """Delete a benchmark author with its posts and follows (feed entries go with the posts)
    and the fan-out jobs left waiting."""
    from sqlalchemy import delete, select, update

    from agora.db.models import Account, Follow, Job

    async with db.transaction() as session:
        author = await session.scalar(select(Account.id).where(Account.username_lower == username))
        if author is None:
            return
        followers = select(Follow.account_id).where(Follow.target_account_id == author)
        await session.execute(
            update(Account)
            .where(Account.id.in_(followers))
            .values(following_count=Account.following_count - 1)
        )
        await session.execute(delete(Account).where(Account.id == author))
        await session.execute(delete(Job).where(Job.kind == "distribute_post"))


PageLoad = Callable[[Any], Awaitable[tuple[int, Any]]]


async def measure_pages(
    db: Any, visits: list[PageLoad], requests: int, depth: int
) -> dict[str, Any]:
    """Time `requests` page loads: each visit (a page loader taking the cursor and giving
    (posts on the page, next cursor)) pages `depth` pages down from the top, in turn."""
    counter = QueryCounter(db.engine)
    first: list[float] = []
    deeper: list[float] = []
    cpu: tuple[list[float], list[float]] = ([], [])  # CPU seconds of first and deeper pages
    queries: list[int] = []
    sizes: list[int] = []
    done = 0
    with counter.attached():
        while done < requests:
            load, cursor = visits[done % len(visits)], None
            for level in range(depth):
                counter.count = 0
                started, used = time.perf_counter(), time.process_time()
                size, cursor = await load(cursor)
                (first if level == 0 else deeper).append(time.perf_counter() - started)
                cpu[level > 0].append(time.process_time() - used)
                queries.append(counter.count)
                sizes.append(size)
                done += 1
                if cursor is None:
                    break
    return {
        "first_page": latency_stats(first),
        "deeper_pages": latency_stats(deeper),
        "first_page_cpu": latency_stats(cpu[0]),
        "deeper_pages_cpu": latency_stats(cpu[1]),
        "queries_per_page": {"min": min(queries), "max": max(queries)},
        "posts_per_page": {"min": min(sizes), "mean": round(sum(sizes) / len(sizes), 1)},
    }


def own_post_rows(account_id: int, count: int, words: str) -> list[dict[str, Any]]:
    """`count` posts of one account, a minute apart from 400 days ago (every tenth a reply to
    its previous one, visibilities in turn), as rows for one INSERT."""
    from datetime import timedelta

    from agora.db.models import utcnow
    from agora.ids import new_id

    start = utcnow() - timedelta(days=400)
    rows: list[dict[str, Any]] = []
    for n in range(count):
        reply_to = rows[-1]["id"] if rows and n % 10 == 0 else None
        text = f"post number {n} {words}"
        rows.append(
            {
                "id": new_id(),
                "account_id": account_id,
                "in_reply_to_id": reply_to,
                "in_reply_to_account_id": account_id if reply_to else None,
                "text": text,
                "content_html": f"<p>{text}</p>",
                "visibility": n % 3,
                "created_at": start + timedelta(minutes=n),
            }
        )
    return rows


def write_result(name: str, result: dict[str, Any]) -> None:
    """Print a benchmark's result as JSON and keep it as bench/results/`name`.json."""
    print(json.dumps(result, indent=2))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(result, indent=2))
