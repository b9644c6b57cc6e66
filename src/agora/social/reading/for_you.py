"""The For You feed: candidates from the last 48 hours, the visibility rule on them in SQL,
the features the score reads, the ranking (for_you_scoring.py) and its pages.

Two paths to the same features: a viewer with a precomputed set younger than
`PRECOMPUTED_FOR` (the `refresh_for_you` job, for_you_precompute.py: the candidates and
their slow features) is ranked from it, the rule, the posts' counters, "seen" and feedback
read now in one statement over the set; anyone else gets the whole pipeline at request time.
On the same state both give the same ranking.

Invariants:
- a candidate is only ever a post that passes `timeline_filter` for the viewer (the rule every
  timeline uses: visibility, blocks either way, mutes, the viewer's domain blocks, deleted
  posts, suspended authors) and `silenced_for` (a silenced author reaches only followers), in
  the same statement that reads its features, at request time on both paths (a precomputed
  row decides nothing: a block or a deletion after the job hides the post at once);
  hydration (`load_posts`, in the door's "home" context, so the viewer's filters apply)
  checks it again. From outside the viewer's network
  only public posts are candidates (an unlisted post is never spread), never a boost (the
  boosted post is the candidate), never a reply to someone else, never the viewer's own;
- posts the viewer has "seen" are left out: boosted, replied to, or given feedback on;
- the ranking reads counts only: who liked a post is never part of its reasons;
- a person's feed with `enabled` off is empty (and is not offered as a list).

Sources (each capped, newest first; ~1,500 in all): posts of the people one follows; posts
those people liked; posts of the people they follow; posts with the instance's trending
hashtags (most used over the last two days in `tag_history`); posts liked by people who
liked what the viewer liked lately.

Pages: a refresh (no cursor) ranks afresh (deterministic for a given state) and keeps that
ranking for the viewer in this process for 15 minutes; pages are cursored by post id
(`max_id`: the last post of the page before) in that ranking, or, without it (another
process, expired), in a fresh one, where a cursor the viewer has seen meanwhile (boosted) is
placed by the ranking with seen posts kept."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    Select,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from agora.db.models import (
    ID,
    Account,
    Favourite,
    Follow,
    ForYouCandidate,
    ForYouFeedback,
    ForYouSet,
    Post,
    PostTag,
    Tag,
    TagHistory,
    Visibility,
    utcnow,
)
from agora.ids import id_to_ms, min_id_for_ms
from agora.social.reading.for_you_scoring import WINDOW_HOURS, Features, Ranked, rank
from agora.social.reading.for_you_settings import (
    feed_settings,
    feedback_by_author,
    reported_authors,
)
from agora.social.reading.public_rule import not_reply_to_others
from agora.social.rules.paging import Page, Slice
from agora.social.rules.visibility import public_or_unlisted, silenced_for, timeline_filter

CANDIDATES = 1500
SOURCE_CAPS = {"followed": 700, "network_liked": 300, "second_degree": 200, "tags": 150}
SIMILAR_CAP = 150
TRENDING_TAGS = 10
RECENT_LIKES = 100  # the viewer's likes that find people with their taste
SIMILAR_PEOPLE = 200
PRECOMPUTED_FOR = 1200.0  # seconds a precomputed set is read (the job refreshes every 600)

_IDS: BindParameter[int] = bindparam("ids", expanding=True)


@dataclass(frozen=True, slots=True)
class FeedPage:
    """A page of the ranked feed: the post ids (a Slice, cursors are post ids) and the ranking
    of each (score, contributions, reasons)."""

    found: Slice[int]
    ranking: dict[int, Ranked] = field(default_factory=dict)


def _window_start() -> int:
    return min_id_for_ms(int((time.time() - WINDOW_HOURS * 3600) * 1000))


# Every statement below is built once per shape (`functools.cache`), with the viewer, the
# window's start, the day and the id lists as bound parameters: building them per request
# cost more CPU than running them.
VIEWER = bindparam("viewer_id", type_=ID)
START = bindparam("start", type_=ID)
_TAGS: BindParameter[int] = bindparam("tags", expanding=True)
_SIMILAR: BindParameter[int] = bindparam("similar", expanding=True)


def _followed() -> Select[int]:
    mine = aliased(Follow)  # its own alias: never correlated to a Follow of the outer query
    return select(mine.target_account_id).where(mine.account_id == VIEWER)


async def _ids(session: AsyncSession, query: Select[int], params: dict[str, object]) -> list[int]:
    return list(await session.scalars(query, params))


@cache
def _trending_tags_query() -> Select[int]:
    used = func.sum(TagHistory.uses)
    return (
        select(TagHistory.tag_id)
        .where(TagHistory.day >= bindparam("since_day"))
        .group_by(TagHistory.tag_id)
        .order_by(used.desc(), TagHistory.tag_id)
        .limit(TRENDING_TAGS)
    )


async def trending_tags(session: AsyncSession) -> list[int]:
    """The instance's most used hashtags of the last two days (public and unlisted use)."""
    today = int(datetime.now(UTC).timestamp() // 86400)
    return await _ids(session, _trending_tags_query(), {"since_day": today - 1})


@cache
def _similar_people_query() -> Select[int]:
    recent = (
        select(Favourite.post_id)
        .where(Favourite.account_id == VIEWER)
        .order_by(Favourite.id.desc())
        .limit(RECENT_LIKES)
        .scalar_subquery()
    )
    return (
        select(Favourite.account_id)
        .where(Favourite.post_id.in_(recent), Favourite.account_id != VIEWER)
        .group_by(Favourite.account_id)
        .order_by(func.count().desc(), Favourite.account_id)
        .limit(SIMILAR_PEOPLE)
    )


@cache
def _source_queries(with_tags: bool, with_similar: bool) -> tuple[Select[int], ...]:
    followed = _followed()
    second = aliased(Follow)
    second_degree = select(second.target_account_id).where(second.account_id.in_(followed))
    sources: list[Select[int]] = [
        select(Post.id)
        .where(Post.account_id.in_(followed), Post.id >= START, Post.reblog_of_id.is_(None))
        .order_by(Post.id.desc())
        .limit(SOURCE_CAPS["followed"]),
        select(Favourite.post_id)
        .where(Favourite.account_id.in_(followed), Favourite.post_id >= START)
        .order_by(Favourite.post_id.desc())
        .limit(SOURCE_CAPS["network_liked"]),
        select(Post.id)
        .where(
            Post.account_id.in_(second_degree),
            Post.id >= START,
            Post.reblog_of_id.is_(None),
            Post.visibility == int(Visibility.PUBLIC),
        )
        .order_by(Post.id.desc())
        .limit(SOURCE_CAPS["second_degree"]),
    ]
    if with_tags:
        sources.append(
            select(PostTag.post_id)
            .where(PostTag.tag_id.in_(_TAGS), PostTag.post_id >= START)
            .order_by(PostTag.post_id.desc())
            .limit(SOURCE_CAPS["tags"])
        )
    if with_similar:
        sources.append(
            select(Favourite.post_id)
            .where(Favourite.account_id.in_(_SIMILAR), Favourite.post_id >= START)
            .order_by(Favourite.post_id.desc())
            .limit(SIMILAR_CAP)
        )
    return tuple(sources)


async def _candidate_ids(
    session: AsyncSession, viewer_id: int, start: int, tags: list[int], similar: list[int]
) -> set[int]:
    params = {"viewer_id": viewer_id, "start": start, "tags": tags, "similar": similar}
    found: set[int] = set()
    for query in _source_queries(bool(tags), bool(similar)):
        found.update(await _ids(session, query, params))
    return found


@dataclass(frozen=True, slots=True)
class SlowFeatures:
    """The features of a candidate that take the most reading (likes by the people the viewer
    follows and by people like them, followers of its author among the people they follow,
    quotes, a trending hashtag): what `refresh_for_you` precomputes (for_you_precompute.py)."""

    network_likes: int = 0
    similar_likes: int = 0
    author_follows: int = 0
    quotes: int = 0
    trending_tag: str | None = None


@cache
def _shown_candidates(exclude_seen: bool, precomputed: bool) -> Select[*tuple[Any, ...]]:
    """The candidates the viewer may be shown now, newest first, with the post's own counters:
    among the ids given (`ids`), or, `precomputed`, among the viewer's `for_you_candidates`
    rows, whose stored features come along. The same rule either way."""
    follows_author = exists().where(
        Follow.account_id == VIEWER, Follow.target_account_id == Post.account_id
    )
    reply = aliased(Post)
    author = aliased(Account)  # the rules below correlate their own Account to the post
    author_is_bot = select(author.bot).where(author.id == Post.account_id).scalar_subquery()
    conditions = [
        Post.id >= START,
        Post.reblog_of_id.is_(None),
        Post.account_id != VIEWER,
        not_reply_to_others(Post),
        timeline_filter(VIEWER, Post),
        not_(silenced_for(VIEWER, Post.account_id)),
        or_(Post.visibility == int(Visibility.PUBLIC), follows_author),
    ]
    if exclude_seen:
        boosted = exists().where(reply.reblog_of_id == Post.id, reply.account_id == VIEWER)
        replied = exists().where(reply.in_reply_to_id == Post.id, reply.account_id == VIEWER)
        told = exists().where(
            ForYouFeedback.account_id == VIEWER, ForYouFeedback.post_id == Post.id
        )
        conditions += [not_(boosted), not_(replied), not_(told)]
    query = select(
        Post.id,
        Post.account_id,
        Post.favourites_count,
        Post.replies_count,
        Post.reblogs_count,
        Post.ai_generated,
        author_is_bot.label("bot"),
        follows_author.label("followed"),
    )
    if precomputed:
        kept = ForYouCandidate
        query = query.add_columns(
            kept.network_likes, kept.similar_likes, kept.author_follows, kept.quotes
        ).add_columns(kept.trending_tag)
        query = query.join(kept, and_(kept.post_id == Post.id, kept.account_id == VIEWER))
    else:
        conditions.append(Post.id.in_(_IDS))
    return query.where(and_(*conditions)).order_by(Post.id.desc()).limit(CANDIDATES)


async def _shown(
    session: AsyncSession,
    viewer_id: int,
    start: int,
    *,
    exclude_seen: bool,
    ids: list[int] | None = None,
) -> list[Any]:
    """The rows of `_shown_candidates`: among `ids`, or among the viewer's precomputed set."""
    params: dict[str, object] = {"viewer_id": viewer_id, "start": start}
    if ids is not None:
        params["ids"] = ids
    query = _shown_candidates(exclude_seen, ids is None)
    return list((await session.execute(query, params)).all())


async def _counts(
    session: AsyncSession,
    query: Select[int, int] | Select[int | None, int],
    params: dict[str, object],
) -> dict[int, int]:
    rows = (await session.execute(query, params)).all()
    return {key: n for key, n in rows if key is not None}


@cache
def _likes_by_query(with_similar: bool) -> Select[int, int, int]:
    by_followed = Favourite.account_id.in_(_followed())
    by_similar = Favourite.account_id.in_(_SIMILAR) if with_similar else false()
    return (
        select(
            Favourite.post_id,
            func.sum(case((by_followed, 1), else_=0)),
            func.sum(case((by_similar, 1), else_=0)),
        )
        .where(Favourite.post_id.in_(_IDS), or_(by_followed, by_similar))
        .group_by(Favourite.post_id)
    )


async def _likes_by(
    session: AsyncSession, viewer_id: int, similar: list[int], ids: list[int]
) -> tuple[dict[int, int], dict[int, int]]:
    """Likes of each post by people the viewer follows, and by people like them (one pass
    over the posts' likes)."""
    params = {"viewer_id": viewer_id, "similar": similar, "ids": ids}
    rows = await session.execute(_likes_by_query(bool(similar)), params)
    network: dict[int, int] = {}
    alike: dict[int, int] = {}
    for post_id, n_followed, n_similar in rows.all():
        network[post_id] = int(n_followed or 0)
        alike[post_id] = int(n_similar or 0)
    return network, alike


@cache
def _author_follows_query() -> Select[int, int]:
    return (
        select(Follow.target_account_id, func.count())
        .where(Follow.target_account_id.in_(_IDS), Follow.account_id.in_(_followed()))
        .group_by(Follow.target_account_id)
    )


@cache
def _quotes_query() -> Select[int | None, int]:
    quoting = aliased(Post)
    return (
        select(quoting.quote_of_id, func.count())
        .where(
            quoting.quote_of_id.in_(_IDS),
            quoting.id >= START,
            quoting.deleted_at.is_(None),
            public_or_unlisted(quoting),
        )
        .group_by(quoting.quote_of_id)
    )


@cache
def _trending_names_query() -> Select[int, str]:
    return (
        select(PostTag.post_id, Tag.name)
        .join(Tag, Tag.id == PostTag.tag_id)
        .where(PostTag.post_id.in_(_IDS), PostTag.tag_id.in_(_TAGS))
        .order_by(PostTag.post_id, Tag.name)
    )


async def _slow_features(
    session: AsyncSession,
    viewer_id: int,
    start: int,
    rows: list[Any],
    tags: list[int],
    similar: list[int],
) -> dict[int, SlowFeatures]:
    """The slow features of the shown candidates (`rows` of `_shown`), by post id."""
    shown = [int(r.id) for r in rows]
    authors = sorted({int(r.account_id) for r in rows})
    network_likes, similar_likes = await _likes_by(session, viewer_id, similar, shown)
    author_follows = await _counts(
        session, _author_follows_query(), {"viewer_id": viewer_id, "ids": authors}
    )
    quotes = await _counts(session, _quotes_query(), {"start": start, "ids": shown})
    trending: dict[int, str] = {}
    if tags:
        tagged = await session.execute(_trending_names_query(), {"ids": shown, "tags": tags})
        for pid, name in tagged.all():
            trending.setdefault(pid, name)
    return {
        int(r.id): SlowFeatures(
            network_likes=network_likes.get(int(r.id), 0),
            similar_likes=similar_likes.get(int(r.id), 0),
            author_follows=author_follows.get(int(r.account_id), 0),
            quotes=quotes.get(int(r.id), 0),
            trending_tag=trending.get(int(r.id)),
        )
        for r in rows
    }


async def _live(
    session: AsyncSession, viewer_id: int, start: int, *, exclude_seen: bool
) -> tuple[list[Any], dict[int, SlowFeatures]]:
    """The whole pipeline now: sources, the rule, the slow features."""
    tags = await trending_tags(session)
    similar = await _ids(session, _similar_people_query(), {"viewer_id": viewer_id})
    ids = await _candidate_ids(session, viewer_id, start, tags, similar)
    if not ids:
        return [], {}
    rows = await _shown(session, viewer_id, start, exclude_seen=exclude_seen, ids=list(ids))
    if not rows:
        return [], {}
    return rows, await _slow_features(session, viewer_id, start, rows, tags, similar)


async def candidate_set(
    session: AsyncSession, viewer_id: int, start: int
) -> dict[int, SlowFeatures]:
    """The viewer's candidates as the rule lets them through now (seen posts kept: the
    request leaves them out) with their slow features: what `refresh_for_you` stores."""
    _, slow = await _live(session, viewer_id, start, exclude_seen=False)
    return slow


@cache
def _set_query() -> Select[datetime]:
    return select(ForYouSet.computed_at).where(ForYouSet.account_id == VIEWER)


async def precomputed_at(session: AsyncSession, viewer_id: int) -> datetime | None:
    """When the viewer's precomputed set was computed, if it is younger than
    `PRECOMPUTED_FOR` seconds (else None: the request computes it all)."""
    computed = await session.scalar(_set_query(), {"viewer_id": viewer_id})
    if computed is None or (utcnow() - computed).total_seconds() > PRECOMPUTED_FOR:
        return None
    return computed


def _stored(rows: list[Any]) -> dict[int, SlowFeatures]:
    """The stored slow features that came with the rows of the precomputed set."""
    return {r[0]: SlowFeatures(*r[8:]) for r in rows}


@cache
def _newer_followed_query() -> Select[int]:
    """Posts of the people the viewer follows since `start` (the set's time): read from the
    newest posts, which are few, rather than from each followed person's."""
    follows_author = exists().where(
        Follow.account_id == VIEWER, Follow.target_account_id == Post.account_id
    )
    return (
        select(Post.id)
        .where(Post.id >= START, Post.reblog_of_id.is_(None), follows_author)
        .order_by(Post.id.desc())
        .limit(SOURCE_CAPS["followed"])
    )


async def _from_set(
    session: AsyncSession, viewer_id: int, start: int, computed: datetime, *, exclude_seen: bool
) -> tuple[list[Any], dict[int, SlowFeatures]]:
    """The precomputed set through the rule, plus the posts of followed people written since
    it was computed (their slow features read now)."""
    rows = await _shown(session, viewer_id, start, exclude_seen=exclude_seen)
    slow = _stored(rows)
    since = max(start, min_id_for_ms(int(computed.timestamp() * 1000)))
    params: dict[str, object] = {"viewer_id": viewer_id, "start": since}
    newer = [i for i in await _ids(session, _newer_followed_query(), params) if i not in slow]
    if not newer:
        return rows, slow
    added = await _shown(session, viewer_id, start, exclude_seen=exclude_seen, ids=newer)
    if added:
        tags = await trending_tags(session)
        similar = await _ids(session, _similar_people_query(), {"viewer_id": viewer_id})
        slow.update(await _slow_features(session, viewer_id, start, added, tags, similar))
        rows = sorted([*rows, *added], key=lambda r: int(r.id), reverse=True)[:CANDIDATES]
    return rows, slow


async def _features(
    session: AsyncSession, viewer_id: int, start: int, *, exclude_seen: bool
) -> list[Features]:
    """Every candidate's features: from the viewer's fresh precomputed set (the rule, the
    counters and the feedback read now), else from the whole pipeline."""
    computed = await precomputed_at(session, viewer_id)
    if computed is not None:
        rows, slow = await _from_set(session, viewer_id, start, computed, exclude_seen=exclude_seen)
    else:
        rows, slow = await _live(session, viewer_id, start, exclude_seen=exclude_seen)
    if not rows:
        return []
    feedback = await feedback_by_author(session, viewer_id)
    reported = await reported_authors(session, viewer_id)
    now_ms = time.time() * 1000
    out = []
    for post_id, author_id, likes, replies, boosts, ai_generated, bot, followed, *_ in rows:
        more, less = feedback.get(author_id, (0, 0))
        known = slow[post_id]
        out.append(
            Features(
                post_id=post_id,
                author_id=author_id,
                age_hours=max(0.0, (now_ms - id_to_ms(post_id)) / 3_600_000),
                likes=likes,
                replies=replies,
                boosts=boosts,
                quotes=known.quotes,
                network_likes=known.network_likes,
                author_follows=known.author_follows,
                followed=bool(followed),
                trending_tag=known.trending_tag,
                similar_likes=known.similar_likes,
                more=more,
                less=less,
                reported=reported.get(author_id, 0),
                assistant=bool(ai_generated or bot),
            )
        )
    return out


async def ranked_feed(
    session: AsyncSession, viewer_id: int, *, exclude_seen: bool = True
) -> list[Ranked]:
    """The viewer's whole For You ranking now (empty when they turned the feed off)."""
    settings = await feed_settings(session, viewer_id)
    if not settings.enabled:
        return []
    features = await _features(session, viewer_id, _window_start(), exclude_seen=exclude_seen)
    return rank(features, settings.weights)


def _position(ranking: list[Ranked], post_id: int) -> int | None:
    return next((i for i, r in enumerate(ranking) if r.post_id == post_id), None)


_Kept = tuple[int, int, float, tuple[object, ...], tuple[float, ...], float, float]


def _plain(ranked: Ranked) -> _Kept:
    """A ranked post as a plain tuple of plain values, which CPython's garbage collector stops
    tracking (a named tuple it tracks for good: 10,000 kept rankings of ~1,000 posts made
    every full collection a pause of a tenth of a second)."""
    return (*ranked[:3], tuple(ranked.features), *ranked[4:])


def _unplain(kept: _Kept) -> Ranked:
    post_id, author_id, score, features, terms, out_of_network, author_diversity = kept
    return Ranked(
        post_id,
        author_id,
        score,
        Features._make(features),
        terms,
        out_of_network,
        author_diversity,
    )


class _Snapshots:
    """The last ranking served to each viewer in this process (bounded, expiring), so the
    pages after a refresh follow the order the viewer started reading in even as likes come
    in. A rule never lives here: every page is hydrated, and so checked, again. Rankings are
    held as plain tuples (`_plain`)."""

    def __init__(self, size: int = 10_000, seconds: float = 900.0) -> None:
        self.size = size
        self.seconds = seconds
        self.held: OrderedDict[int, tuple[float, tuple[_Kept, ...]]] = OrderedDict()

    def keep(self, viewer_id: int, ranking: list[Ranked]) -> None:
        self.held[viewer_id] = (time.monotonic(), tuple(_plain(r) for r in ranking))
        self.held.move_to_end(viewer_id)
        while len(self.held) > self.size:
            self.held.popitem(last=False)

    def get(self, viewer_id: int, post_id: int) -> list[Ranked] | None:
        found = self.held.get(viewer_id)
        if found is None or time.monotonic() - found[0] > self.seconds:
            return None
        if not any(kept[0] == post_id for kept in found[1]):
            return None
        return [_unplain(kept) for kept in found[1]]

    def forget(self, viewer_id: int) -> None:
        self.held.pop(viewer_id, None)


SNAPSHOTS = _Snapshots()


async def _after_cursor(
    session: AsyncSession, viewer_id: int, page: Page, cursor: int
) -> list[Ranked]:
    """The posts of a page after (`max_id`) or before (`min_id`) the cursor's post: in the
    ranking this viewer was served (this process, 15 minutes), else in a fresh one (where a
    cursor that was seen meanwhile is placed by the ranking with seen posts kept)."""
    held = SNAPSHOTS.get(viewer_id, cursor)
    ranking = held if held is not None else await ranked_feed(session, viewer_id)
    at = _position(ranking, cursor)
    if at is None:
        full = await ranked_feed(session, viewer_id, exclude_seen=False)
        at_full = _position(full, cursor)
        kept = {r.post_id for r in ranking}
        if at_full is None:
            return []
        if page.max_id is not None:
            return [r for r in full[at_full + 1 :] if r.post_id in kept][: page.limit]
        return [r for r in full[:at_full] if r.post_id in kept][-page.limit :]
    if page.max_id is not None:
        return ranking[at + 1 : at + 1 + page.limit]
    return ranking[max(0, at - page.limit) : at]


async def for_you_page(session: AsyncSession, viewer_id: int, page: Page) -> FeedPage:
    """One page of the ranked feed: the top of a fresh ranking (a refresh), or the posts
    ranked after `max_id` (before `min_id`)."""
    cursor = page.max_id if page.max_id is not None else page.min_id
    if cursor is None:
        ranking = await ranked_feed(session, viewer_id)
        SNAPSHOTS.keep(viewer_id, ranking)
        chosen = ranking[: page.limit]
    else:
        chosen = await _after_cursor(session, viewer_id, page, cursor)
    ids = [r.post_id for r in chosen]
    return FeedPage(Slice(ids, list(ids)), {r.post_id: r for r in chosen})
