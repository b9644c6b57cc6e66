"""Trends: the hashtags, posts and links that more people than usual share right now, as
Mastodon scores them, reviewed by the admins before anyone sees them.

The `refresh_trends` job (two-phase: `compute` reads, `store` writes) runs every
`REFRESH_SECONDS` and queues its next run itself (`ensure_scheduled`; at most one pending).
It looks at the last two days of **public** posts (never unlisted, followers-only or direct)
whose author passes the discoverability rule (`rules/discoverability.py`), never boosts:

- a hashtag or a link: `observed` = the distinct authors using it in the last 24 hours,
  `expected` = those of the 24 hours before (at least 1); below `THRESHOLD` authors or
  under the expectation it scores 0, else (observed - expected)² / expected. Its highest score
  decays by half every `TAG_HALFLIFE` / `LINK_HALFLIFE` (and is forgotten after
  `MAX_SCORE_COOLDOWN`); it trends while the decayed score is at least 1.
- a post (not a reply, not sensitive, no content warning): `observed` = its boosts plus
  favourites, expected 1, the same formula, decaying by half every `STATUS_HALFLIFE` from
  its creation; it trends while that is at least 0.3.

Links are known by URL; a trending link is shown with its stored preview card
(social/posts/preview_cards.py) when there is one, else titled by its URL's host and path.

Review (`trends.review`): a new item is `pending`, or `approved` at once when the instance
setting `trends_auto_approve` is on; an admin approves or rejects it (`review_trend`), and
the decision outlives the score (a rejected item never comes back by trending again). The
public endpoints list only approved items with a score, best first; a post is shown to a
viewer only through the visibility rule and their mutes and blocks (`listed_to`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import Database
from agora.db.models import (
    Account,
    Job,
    Post,
    PostTag,
    PreviewCard,
    Tag,
    Trend,
    Visibility,
    utcnow,
)
from agora.ids import min_id_for_ms
from agora.jobs.job_kinds import JobKind, JobState, RefreshTrendsJob
from agora.jobs.queue import enqueue
from agora.social.instance.instance_settings import effective
from agora.social.posts.text import extract_urls
from agora.social.rules.discoverability import listable_account
from agora.social.rules.errors import Invalid, NotFound
from agora.social.rules.visibility import listed_to

TrendKind = Literal["tag", "status", "link"]
KINDS: tuple[TrendKind, ...] = ("tag", "status", "link")
REVIEWS = ("pending", "approved", "rejected")
REFRESH_SECONDS = 600.0
WINDOW = timedelta(days=2)
THRESHOLD = 5
TAG_HALFLIFE = timedelta(hours=4)
LINK_HALFLIFE = timedelta(hours=8)
STATUS_HALFLIFE = timedelta(hours=2)
MAX_SCORE_COOLDOWN = timedelta(days=2)
DECAY_THRESHOLD = {"tag": 1.0, "link": 1.0, "status": 0.3}


@dataclass(frozen=True, slots=True)
class Scored:
    """One item's new score (and, for hashtags and links, its highest score and when)."""

    kind: TrendKind
    item: str
    score: float
    max_score: float
    max_score_at: datetime | None


@dataclass(frozen=True, slots=True)
class Refresh:
    """What a run computed: every candidate's score at `at`."""

    at: datetime
    scored: list[Scored]


@dataclass(frozen=True, slots=True)
class TrendRow:
    """A trend as the admins review it (`label`: the hashtag, the post's author and start,
    or the link's title)."""

    id: int
    kind: str
    item: str
    score: float
    review: str
    title: str | None
    label: str = ""
    path: str | None = None  # where it is seen on this server


async def ensure_scheduled(session: AsyncSession, delay: float = REFRESH_SECONDS) -> None:
    """Queue the trends job in the caller's transaction unless one is already pending."""
    pending = await session.scalar(
        select(Job.id)
        .where(Job.kind == JobKind.REFRESH_TRENDS, Job.state != JobState.DEAD)
        .limit(1)
    )
    if pending is None:
        enqueue(session, JobKind.REFRESH_TRENDS, {}, delay=delay)


def _surge(observed: float, expected: float) -> float:
    """Mastodon's score: how far above what was expected, 0 below the threshold."""
    expected = max(expected, 1.0)
    if observed < THRESHOLD or observed < expected:
        return 0.0
    return (observed - expected) ** 2 / expected


def _halves(elapsed: timedelta, halflife: timedelta) -> float:
    return math.pow(0.5, elapsed.total_seconds() / halflife.total_seconds())


def _decayed(
    kind: TrendKind,
    item: str,
    score: float,
    previous: tuple[float, datetime | None] | None,
    at: datetime,
) -> Scored:
    """A hashtag's or link's decaying score from its new score and its previous maximum."""
    max_score, max_at = previous or (0.0, None)
    if max_at is None or max_at < at - MAX_SCORE_COOLDOWN:
        max_score = 0.0
    if score > max_score:
        max_score, max_at = score, at
    halflife = TAG_HALFLIFE if kind == "tag" else LINK_HALFLIFE
    decayed = max_score * _halves(at - max_at, halflife) if max_at is not None else 0.0
    shown = decayed if decayed >= DECAY_THRESHOLD[kind] else 0.0
    return Scored(kind, item, shown, max_score, max_at)


def _authors_by_item(
    uses: Iterable[tuple[str, int, datetime]], day_start: datetime
) -> dict[str, tuple[set[int], set[int]]]:
    """(authors of the last 24 hours, authors of the 24 hours before) per item."""
    found: dict[str, tuple[set[int], set[int]]] = defaultdict(lambda: (set(), set()))
    for item, author, created in uses:
        found[item][0 if created >= day_start else 1].add(author)
    return found


async def compute(db: Database, payload: RefreshTrendsJob) -> Refresh:
    """The job's read phase: score every candidate of the last two days."""
    return await score_at(db, utcnow())


async def score_at(db: Database, at: datetime) -> Refresh:
    """Score every candidate of the two days before `at` (read-only)."""
    since = min_id_for_ms(int((at - WINDOW).timestamp() * 1000))
    eligible = (
        Post.id >= since,
        Post.visibility == int(Visibility.PUBLIC),
        Post.reblog_of_id.is_(None),
        Post.deleted_at.is_(None),
        listable_account(),
    )
    async with db.session() as session:
        posts = (
            await session.execute(
                select(
                    Post.id,
                    Post.account_id,
                    Post.created_at,
                    Post.text,
                    Post.in_reply_to_id,
                    Post.sensitive,
                    Post.spoiler_text,
                    Post.reblogs_count + Post.favourites_count,
                )
                .join(Account, Account.id == Post.account_id)
                .where(*eligible)
            )
        ).all()
        tag_uses = (
            await session.execute(
                select(PostTag.tag_id, Post.account_id, Post.created_at)
                .join(Post, Post.id == PostTag.post_id)
                .join(Account, Account.id == Post.account_id)
                .where(*eligible)
            )
        ).all()
        previous = {
            (kind, item): (max_score, max_at)
            for kind, item, max_score, max_at in await session.execute(
                select(Trend.kind, Trend.item, Trend.max_score, Trend.max_score_at).where(
                    Trend.kind != "status"
                )
            )
        }
    day_start = at - timedelta(days=1)
    scored: list[Scored] = []
    tags = _authors_by_item(((str(t), a, c) for t, a, c in tag_uses), day_start)
    links = _authors_by_item(
        (
            (url, author, created)
            for _, author, created, text, *_ in posts
            if "://" in text  # the linkifier's work only for posts with a link
            for url in extract_urls(text)
        ),
        day_start,
    )
    for kind, items in (("tag", tags), ("link", links)):
        for item, (recent, before) in items.items():
            surge = _surge(len(recent), len(before))
            scored.append(_decayed(kind, item, surge, previous.get((kind, item)), at))  # type: ignore[arg-type]
    for post_id, _, created, _, reply_to, sensitive, spoiler, reactions in posts:
        if reply_to is not None or sensitive or spoiler:
            continue
        score = _surge(float(reactions), 1.0) * _halves(at - created, STATUS_HALFLIFE)
        shown = score if score >= DECAY_THRESHOLD["status"] else 0.0
        scored.append(Scored("status", str(post_id), shown, shown, created))
    # items that trended before and have no use left in the window decay to nothing
    seen = {(s.kind, s.item) for s in scored}
    for (kind, item), prior in previous.items():
        if (kind, item) not in seen:
            scored.append(_decayed(kind, item, 0.0, prior, at))  # type: ignore[arg-type]
    return Refresh(at, scored)


async def store(session: AsyncSession, payload: RefreshTrendsJob, result: Refresh) -> None:
    """The job's write phase: store the scores, then queue the next run."""
    await write_scores(session, result)
    await ensure_scheduled(session)


async def write_scores(session: AsyncSession, result: Refresh) -> None:
    """Write a run's scores: new trending items as pending (approved when the instance
    auto-approves), every known item's score replaced; items never reviewed that stopped
    trending are dropped, reviewed ones stay with score 0."""
    auto = (await effective(session)).trends_auto_approve
    known = {
        (kind, item): trend_id
        for trend_id, kind, item in await session.execute(select(Trend.id, Trend.kind, Trend.item))
    }
    seen: set[int] = set()
    for s in result.scored:
        trend_id = known.get((s.kind, s.item))
        if trend_id is None:
            if s.score <= 0:
                continue
            session.add(
                Trend(
                    kind=s.kind,
                    item=s.item,
                    score=s.score,
                    max_score=s.max_score,
                    max_score_at=s.max_score_at,
                    review="approved" if auto else "pending",
                    updated_at=result.at,
                )
            )
            continue
        seen.add(trend_id)
        await session.execute(
            update(Trend)
            .where(Trend.id == trend_id)
            .values(
                score=s.score,
                max_score=s.max_score,
                max_score_at=s.max_score_at,
                updated_at=result.at,
            )
        )
    gone = [trend_id for trend_id in known.values() if trend_id not in seen]
    if gone:
        await session.execute(update(Trend).where(Trend.id.in_(gone)).values(score=0.0))
    await session.execute(delete(Trend).where(Trend.score <= 0, Trend.review == "pending"))


async def refresh_now(db: Database) -> None:
    """Run the trends computation at once (the command line, the tests, the benchmark)."""
    result = await compute(db, {})
    async with db.session(write=True) as session:
        await write_scores(session, result)
        await session.commit()


async def _approved(session: AsyncSession, kind: TrendKind, offset: int, limit: int) -> list[str]:
    rows = await session.scalars(
        select(Trend.item)
        .where(Trend.kind == kind, Trend.review == "approved", Trend.score > 0)
        .order_by(Trend.score.desc(), Trend.id)
        .offset(offset)
        .limit(limit)
    )
    return list(rows)


async def trending_tags(session: AsyncSession, offset: int, limit: int) -> list[Tag]:
    """The approved trending hashtags, best first."""
    ids = [int(i) for i in await _approved(session, "tag", offset, limit)]
    tags = {t.id: t for t in await session.scalars(select(Tag).where(Tag.id.in_(ids)))}
    return [tags[i] for i in ids if i in tags]


async def trending_status_ids(
    session: AsyncSession, viewer_id: int | None, offset: int, limit: int
) -> list[int]:
    """The approved trending posts the viewer may see and has not muted, best first."""
    ids = [int(i) for i in await _approved(session, "status", offset, limit)]
    shown = set(
        await session.scalars(select(Post.id).where(Post.id.in_(ids), listed_to(viewer_id)))
    )
    return [i for i in ids if i in shown]


@dataclass(frozen=True, slots=True)
class TrendingLink:
    """A trending link: its URL, a title, and its preview card when one is stored."""

    id: int
    url: str
    title: str
    card: PreviewCard | None = None


async def trending_links(session: AsyncSession, offset: int, limit: int) -> list[TrendingLink]:
    """The approved trending links, best first, with their preview cards (one query)."""
    rows = await session.execute(
        select(Trend.id, Trend.item, Trend.title, PreviewCard)
        .outerjoin(PreviewCard, PreviewCard.url == Trend.item)
        .where(Trend.kind == "link", Trend.review == "approved", Trend.score > 0)
        .order_by(Trend.score.desc(), Trend.id)
        .offset(offset)
        .limit(limit)
    )
    return [
        TrendingLink(i, url, (card.title if card else title) or link_title(url), card)
        for i, url, title, card in rows
    ]


async def is_trending_link(session: AsyncSession, url: str) -> bool:
    """Whether `url` is an approved trending link now (Mastodon opens a link's feed, `GET
    /api/v1/timelines/link`, only for those)."""
    found = await session.scalar(
        select(Trend.id).where(
            Trend.kind == "link", Trend.item == url, Trend.review == "approved", Trend.score > 0
        )
    )
    return found is not None


def link_title(url: str) -> str:
    """A link's title when it has no preview card: its host and path."""
    return url.split("://", 1)[-1].rstrip("/")


async def review_queue(session: AsyncSession, kind: TrendKind, limit: int = 100) -> list[TrendRow]:
    """Every item of `kind` with a score, pending first, then best first (the admins'
    view)."""
    rows = list(
        await session.scalars(
            select(Trend)
            .where(Trend.kind == kind, Trend.score > 0)
            .order_by((Trend.review == "pending").desc(), Trend.score.desc(), Trend.id)
            .limit(limit)
        )
    )
    labels: dict[str, tuple[str, str | None]] = {}
    keys = [int(t.item) for t in rows if kind != "link"]
    if kind == "tag" and keys:
        for tag_id, name in await session.execute(select(Tag.id, Tag.name).where(Tag.id.in_(keys))):
            labels[str(tag_id)] = (f"#{name}", f"/tags/{name}")
    elif kind == "status" and keys:
        for post_id, username, text in await session.execute(
            select(Post.id, Account.username, Post.text)
            .join(Account, Account.id == Post.account_id)
            .where(Post.id.in_(keys))
        ):
            labels[str(post_id)] = (f"@{username}: {text[:100]}", f"/@{username}/{post_id}")
    return [
        TrendRow(
            t.id,
            t.kind,
            t.item,
            t.score,
            t.review,
            t.title,
            *labels.get(
                t.item, (t.title or link_title(t.item), t.item if kind == "link" else None)
            ),
        )
        for t in rows
    ]


async def review_trend(session: AsyncSession, kind: TrendKind, key: int, decision: str) -> TrendRow:
    """An admin approves or rejects a trending item: a hashtag or post by its id, a link by
    its trend id. NotFound when it is not trending; commits."""
    if decision not in ("approved", "rejected"):
        raise Invalid("Validation failed: decision must be approved or rejected")
    where = Trend.id == key if kind == "link" else Trend.item == str(key)
    trend = await session.scalar(select(Trend).where(Trend.kind == kind, where))
    if trend is None:
        raise NotFound()
    trend.review = decision
    row = TrendRow(trend.id, trend.kind, trend.item, trend.score, decision, trend.title)
    await session.commit()
    return row
