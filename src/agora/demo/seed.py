"""`agora demo`: seed a realistic data set fast (10,000 people and 1,000,000 posts in minutes).

The data set is planned in memory (agora.demo.plan), home feeds are computed with the fan-out
rule (agora.demo.seeded_feeds), and everything is written with SQLAlchemy Core bulk inserts: big
executemany batches in few transactions, no ORM. Every person `demo<n>` can sign in with the
password "password" (one argon2 hash, computed once, shared by all). Counters (followers,
following, statuses, replies, boosts, likes) match the rows written.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from rich.progress import Progress
from sqlalchemy import Index, Table, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateIndex, DropIndex

from agora.auth.credentials import hash_password
from agora.config import get_settings
from agora.db.engine import Database
from agora.db.migrate import upgrade
from agora.db.models import (
    Account,
    ConsentEvent,
    Favourite,
    Follow,
    HomeFeedEntry,
    HomeFeedSize,
    Mention,
    Post,
    PostTag,
    Tag,
    User,
)
from agora.demo.plan import NONE, TAGS, UNLISTED, WORDS, Plan, build_plan
from agora.demo.seeded_feeds import FeedBuilder
from agora.ids import new_id
from agora.social.people.assistant_account import ensure_assistant
from agora.social.posts.tags import rebuild_recent_history
from agora.social.posts.text import MentionTarget, render_html
from agora.social.search import index as search_index

PASSWORD = "password"
BATCH = 5_000
ROWS_PER_TRANSACTION = 250_000
USERNAME = "demo{}"


class DemoError(Exception):
    """The demo data set cannot be seeded (e.g. it is already there)."""


@dataclass(slots=True)
class DemoSummary:
    """What was written, and how long it took."""

    accounts: int
    follows: int
    posts: int
    favourites: int
    feed_entries: int
    seconds: float


def unique_ids(times_ms: list[int]) -> list[int]:
    """Time-sortable ids for the given times, all distinct (equal times are nudged apart by a
    millisecond), in the order given."""
    order = sorted(range(len(times_ms)), key=times_ms.__getitem__)
    ids = [0] * len(times_ms)
    last = -1
    for k in order:
        ms = max(times_ms[k], last + 1)
        ids[k] = new_id(at_ms=ms)
        last = ms
    return ids


def _batches(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    rows = iter(rows)
    while batch := list(islice(rows, size)):
        yield batch


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


async def seed_demo(
    db: Database,
    *,
    users: int,
    posts: int,
    seed: int = 0,
    progress: Progress | None = None,
) -> DemoSummary:
    """Apply migrations, then write `users` demo accounts and `posts` posts into `db`.
    Raises DemoError when demo accounts already exist."""
    started = time.perf_counter()
    progress = progress or Progress(disable=True)
    await upgrade(db.engine)
    async with db.transaction() as session:
        await ensure_assistant(session)
    await _check_absent(db, users)
    settings = get_settings()
    task = progress.add_task("planning", total=None)
    plan = build_plan(users, posts, seed, int(time.time() * 1000) - 120_000)
    progress.update(task, total=1, completed=1)
    builder = FeedBuilder(plan, settings.home_feed_cap, settings.fanout_follower_threshold)
    async with _loading_connection(db) as conn:
        seeder = _Seeder(conn, plan, progress, random.Random(seed + 1))
        try:
            await seeder.write_graph()
            await seeder.write_posts(settings.base_url)
            entries = await seeder.write_feeds(builder)
            await seeder.finish_search()
        finally:
            await conn.rollback()
            await seeder.rebuild_indexes()
    task = progress.add_task("analyze", total=1)
    await _analyze(db)
    progress.update(task, completed=1)
    return DemoSummary(
        accounts=users,
        follows=len(plan.follow_ms),
        posts=len(plan.posts),
        favourites=len(plan.favourites),
        feed_entries=entries,
        seconds=time.perf_counter() - started,
    )


@asynccontextmanager
async def _loading_connection(db: Database) -> AsyncIterator[AsyncConnection]:
    """One connection for the whole load, with per-row foreign-key checks off where the
    backend allows it (the plan is consistent by construction; tests check it)."""
    if db.is_sqlite:
        engine = db.engine.execution_options(sqlite_begin="IMMEDIATE")
        async with engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None  # an open connection has its driver's
            await driver.execute("PRAGMA foreign_keys=OFF")
            try:
                yield conn
            finally:
                await conn.rollback()
                await driver.execute("PRAGMA foreign_keys=ON")
        return
    async with db.engine.connect() as conn:
        superuser = await conn.scalar(text("SELECT current_setting('is_superuser')")) == "on"
        if superuser:  # skips foreign-key triggers for this session only
            await conn.execute(text("SET session_replication_role = replica"))
        await conn.commit()
        try:
            yield conn
        finally:
            await conn.rollback()
            if superuser:
                await conn.execute(text("RESET session_replication_role"))
                await conn.commit()


async def _analyze(db: Database) -> None:
    """Refresh the planner statistics: after a bulk load PostgreSQL would otherwise plan
    with none and pick slow plans (seconds instead of milliseconds) until autovacuum runs."""
    async with db.engine.connect() as conn:
        if db.is_sqlite:
            await conn.exec_driver_sql("PRAGMA analysis_limit=1000")  # sampled: fast
        await conn.exec_driver_sql("ANALYZE")
        await conn.commit()


async def _check_absent(db: Database, users: int) -> None:
    async with db.session() as session:
        taken = await session.scalar(
            select(Account.username).where(
                Account.username_lower.in_([USERNAME.format(i) for i in range(min(users, 100))])
            )
        )
    if taken is not None:
        raise DemoError(f"demo data already present (@{taken} exists); use a fresh database")


# Share of demo people who chose allow / deny for each category (the rest leave it unset).
DEMO_INTENTS = {
    "syntheticContentGeneration": (0.30, 0.20),
    "syntheticImageGeneration": (0.15, 0.25),
    "bulkDataset": (0.20, 0.20),
    "publicAccessArchive": (0.40, 0.05),
    "assistantContext": (0.0, 0.10),
}


def demo_intents(rng: random.Random) -> dict[str, bool]:
    """One demo person's explicit data-reuse choices."""
    chosen = {}
    for category, (allow, deny) in DEMO_INTENTS.items():
        roll = rng.random()
        if roll < allow:
            chosen[category] = True
        elif roll < allow + deny:
            chosen[category] = False
    return chosen


def _iso(ms: int) -> str:
    return _dt(ms).isoformat(timespec="milliseconds")[:23] + "Z"


class _Seeder:
    """Turns the plan into rows and bulk-inserts them, table by table."""

    def __init__(
        self, conn: AsyncConnection, plan: Plan, progress: Progress, rng: random.Random
    ) -> None:
        self.conn = conn
        self.dropped: list[Index] = []
        self.plan = plan
        self.progress = progress
        self.rng = rng
        self.account_ids = unique_ids(plan.account_ms)
        self.post_ids = [new_id(at_ms=ms) for ms in plan.posts.ms]
        self.tag_ids = unique_ids([plan.now_ms - 90 * 86_400_000] * len(TAGS))
        choices = random.Random(plan.users)  # its own stream: the plan's draws stay the same
        self.intents = [demo_intents(choices) for _ in range(plan.users)]

    async def _bulk(self, table: Table, rows: Iterable[dict[str, Any]], total: int) -> int:
        """executemany in batches of BATCH rows, committing every ROWS_PER_TRANSACTION, with
        the table's plain (non-unique) indexes dropped during the load and rebuilt after it.
        The next batch is built while the database writes the previous one."""
        task = self.progress.add_task(table.name, total=total)
        statement = insert(table)
        plain = [ix for ix in table.indexes if not ix.unique] if total > BATCH else []
        for ix in plain:
            await self.conn.execute(DropIndex(ix, if_exists=True))
        self.dropped += plain
        written, pending = 0, None
        for batch in _batches(rows, BATCH):
            if pending is not None:
                await pending
            if written and written % ROWS_PER_TRANSACTION < BATCH:
                await self.conn.commit()
            pending = asyncio.ensure_future(self.conn.execute(statement, batch))
            await asyncio.sleep(0)
            written += len(batch)
            self.progress.update(task, completed=written)
        if pending is not None:
            await pending
        await self.rebuild_indexes()
        self.progress.update(task, total=written, completed=written)
        return written

    async def rebuild_indexes(self) -> None:
        """Recreate indexes dropped for a load (also after a failed one)."""
        while self.dropped:
            await self.conn.execute(CreateIndex(self.dropped[-1], if_not_exists=True))
            self.dropped.pop()
        await self.conn.commit()

    async def write_graph(self) -> None:
        """Accounts (with their counters and data-reuse choices), users, follows."""
        await self._bulk(Account.__table__, self._account_rows(), self.plan.users)
        await self._bulk(ConsentEvent.__table__, self._consent_rows(), self.plan.users)
        password_hash = hash_password(PASSWORD)
        users = (
            {
                "account_id": self.account_ids[a],
                "email": f"{USERNAME.format(a)}@example.org",
                "password_hash": password_hash,
                "approved": True,
                "is_admin": False,
                "locale": "en",
                "created_at": _dt(self.plan.account_ms[a]),
                "confirmed_at": _dt(self.plan.account_ms[a]),
            }
            for a in range(self.plan.users)
        )
        await self._bulk(User.__table__, users, self.plan.users)
        await self._bulk(Follow.__table__, self._follow_rows(), len(self.plan.follow_ms))

    def _account_rows(self) -> Iterator[dict[str, Any]]:
        p = self.plan.posts
        statuses = [0] * self.plan.users
        last = [NONE] * self.plan.users
        for i, a in enumerate(p.author):
            if p.reblog_of[i] == NONE:
                statuses[a] += 1
                last[a] = p.ms[i]
        for a in range(self.plan.users):
            name = USERNAME.format(a)
            yield {
                "id": self.account_ids[a],
                "username": name,
                "username_lower": name,
                "display_name": f"Demo {a}",
                "note": "",
                "note_html": "",
                "fields": [],
                "locked": False,
                "bot": False,
                "discoverable": True,
                "created_at": _dt(self.plan.account_ms[a]),
                "suspended_at": None,
                "followers_count": len(self.plan.followers[a]),
                "following_count": len(self.plan.following[a]),
                "statuses_count": statuses[a],
                "last_status_at": _dt(last[a]) if last[a] != NONE else None,
                "data_reuse": {
                    c: {"allow": allow, "updatedAt": _iso(self.plan.account_ms[a])}
                    for c, allow in self.intents[a].items()
                },
            }

    def _consent_rows(self) -> Iterator[dict[str, Any]]:
        """The consent log entries behind the demo choices (one per explicit intent)."""
        entries = [
            (a, c, allow) for a, chosen in enumerate(self.intents) for c, allow in chosen.items()
        ]
        ids = unique_ids([self.plan.account_ms[a] for a, _, _ in entries])
        for event_id, (a, category, allow) in zip(ids, entries, strict=True):
            yield {
                "id": event_id,
                "account_id": self.account_ids[a],
                "post_id": None,
                "category": category,
                "allow": allow,
                "created_at": _dt(self.plan.account_ms[a]),
            }

    def _follow_rows(self) -> Iterator[dict[str, Any]]:
        pairs = list(self.plan.follow_ms)
        ids = unique_ids([self.plan.follow_ms[pair] for pair in pairs])
        for (follower, target), follow_id in zip(pairs, ids, strict=True):
            yield {
                "id": follow_id,
                "account_id": self.account_ids[follower],
                "target_account_id": self.account_ids[target],
                "show_reblogs": True,
                "notify": False,
            }

    async def write_posts(self, base_url: str) -> None:
        """Tags, posts (with counters and rendered HTML), mentions, hashtags, likes."""
        p = self.plan.posts
        tags = ({"id": t, "name": n} for t, n in zip(self.tag_ids, TAGS, strict=True))
        await self._bulk(Tag.__table__, tags, len(TAGS))
        await self._bulk(Post.__table__, self._post_rows(base_url), len(p))
        mentions = (
            {"post_id": self.post_ids[i], "account_id": self.account_ids[a]}
            for i, accounts in p.mentions.items()
            for a in accounts
        )
        await self._bulk(Mention.__table__, mentions, sum(map(len, p.mentions.values())))
        post_tags = (
            {"tag_id": self.tag_ids[t], "post_id": self.post_ids[i]}
            for i, names in p.tags.items()
            for t in names
        )
        await self._bulk(PostTag.__table__, post_tags, sum(map(len, p.tags.values())))
        favs = (
            {
                "id": new_id(at_ms=ms),
                "account_id": self.account_ids[a],
                "post_id": self.post_ids[i],
            }
            for ms, a, i in self.plan.favourites
        )
        await self._bulk(Favourite.__table__, favs, len(self.plan.favourites))

    def _post_rows(self, base_url: str) -> Iterator[dict[str, Any]]:
        p = self.plan.posts
        replies = [0] * len(p)
        for i, parent in enumerate(p.reply_to):
            if parent != NONE and p.visibility[i] <= UNLISTED:
                replies[parent] += 1
        likes = [0] * len(p)
        for _, _, i in self.plan.favourites:
            likes[i] += 1
        targets = {
            a: MentionTarget(self.account_ids[a], name, f"{base_url}/@{name}")
            for a, name in ((a, USERNAME.format(a)) for a in range(self.plan.users))
        }
        for i in range(len(p)):
            text, html, spoiler = self._content(i, targets, base_url)
            yield {
                "id": self.post_ids[i],
                "account_id": self.account_ids[p.author[i]],
                "in_reply_to_id": self._post_id(p.reply_to[i]),
                "in_reply_to_account_id": self._account_id(p.reply_account[i]),
                "thread_root_id": self._post_id(p.root[i]),
                "reblog_of_id": self._post_id(p.reblog_of[i]),
                "quote_of_id": self._post_id(p.quote_of[i]),
                "text": text,
                "content_html": html,
                "spoiler_text": spoiler,
                "sensitive": bool(spoiler),
                "visibility": p.visibility[i],
                "language": None if p.reblog_of[i] != NONE else "en",
                "created_at": _dt(p.ms[i]),
                "edited_at": None,
                "deleted_at": None,
                "replies_count": replies[i],
                "reblogs_count": len(p.boosts_of.get(i, ())),
                "favourites_count": likes[i],
                "application_id": None,
            }

    def _post_id(self, i: int) -> int | None:
        return None if i == NONE else self.post_ids[i]

    def _account_id(self, a: int) -> int | None:
        return None if a == NONE else self.account_ids[a]

    def _content(
        self, i: int, targets: dict[int, MentionTarget], base_url: str
    ) -> tuple[str, str, str]:
        """(text, content_html, spoiler_text) of post i; empty for a boost."""
        p = self.plan.posts
        if p.reblog_of[i] != NONE:
            return "", "", ""
        rng = self.rng
        mentioned = p.mentions.get(i, [])
        words = rng.choices(WORDS, k=rng.randint(4, 40))
        words[0] = words[0].capitalize()
        parts = [f"@{USERNAME.format(a)}" for a in mentioned] + words
        if rng.random() < 0.05:
            parts.append(f"https://example.org/{rng.choice(WORDS)}/{rng.randrange(10_000)}")
        parts += [f"#{TAGS[t]}" for t in p.tags.get(i, [])]
        text = " ".join(parts)
        links = {targets[a].username: targets[a] for a in mentioned}
        spoiler = "spoilers" if rng.random() < 0.02 else ""
        return text, render_html(text, links, base_url), spoiler

    async def finish_search(self) -> None:
        """Finish the search index after the bulk load (see search.index.after_bulk_load)
        and count hashtag use, as jobs would have."""
        task = self.progress.add_task("search index", total=1)
        await rebuild_recent_history(self.conn)
        await search_index.after_bulk_load(self.conn)
        await self.conn.commit()
        self.progress.update(task, completed=1)

    async def write_feeds(self, builder: FeedBuilder) -> int:
        """Home feeds (newest `cap` per account) and their sizes."""
        sizes: dict[int, int] = {}
        p = self.plan.posts

        def rows() -> Iterator[dict[str, Any]]:
            for owner, feed in builder.feeds():
                sizes[owner] = len(feed)
                owner_id = self.account_ids[owner]
                for i in feed:
                    yield {
                        "account_id": owner_id,
                        "post_id": self.post_ids[i],
                        "author_id": self.account_ids[p.author[i]],
                    }

        estimate = sum(
            min(
                builder.cap,
                len(self.plan.by_author[a]) + sum(len(self.plan.by_author[b]) for b in f),
            )
            for a, f in enumerate(self.plan.following)
        )
        entries = await self._bulk(HomeFeedEntry.__table__, rows(), estimate)
        size_rows = ({"account_id": self.account_ids[a], "entries": n} for a, n in sizes.items())
        await self._bulk(HomeFeedSize.__table__, size_rows, len(sizes))
        return entries
