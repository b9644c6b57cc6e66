"""Hashtags: look-up, daily use (the Tag entity's history), following and unfollowing.

Following a hashtag puts public posts that carry it into the follower's home feed: fan-out
on write, done by the same `distribute_post` job as fan-out to followers (see
feeds.tag_follower_recipients), with the same block and mute rules. Unfollowing does not
take back what was delivered, as on Mastodon.

Daily use counts public and unlisted posts (never followers-only or direct ones, so the
numbers reveal nothing private); it is recorded by the `distribute_post` job too.

Who may learn that a hashtag exists (`findable_by`, for search and the Tag entity): anyone,
once a live post anyone may see carries it (public use); otherwise only someone who may see a
post that carries it (through the visibility rule) or who follows or features it. A hashtag
used only in followers-only or direct posts is, to everyone else, a name never used: no
search result, no id, an empty history.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from agora.db.models import (
    FeaturedTag,
    FollowedTag,
    Post,
    PostTag,
    Tag,
    TagHistory,
    TagHistoryAccount,
    utcnow,
)
from agora.db.upsert import affected_rows, insert_for, insert_ignore, insert_ignore_one
from agora.ids import id_to_ms, min_id_for_ms
from agora.social.rules.errors import NotFound
from agora.social.rules.paging import Page, apply_page, finish
from agora.social.rules.visibility import (
    is_public_or_unlisted,
    plain_visible_to,
    public_or_unlisted,
)

TAG_NAME = re.compile(r"^\w{1,100}$")
DAY_MS = 86_400_000
HISTORY_DAYS = 7


@dataclass(slots=True)
class TagView:
    """A hashtag with its last HISTORY_DAYS days of use (newest first), whether the viewer
    follows it and whether they feature it on their profile (each None when nobody is
    signed in)."""

    name: str
    id: int | None = None
    history: list[tuple[int, int, int]] = field(default_factory=list)  # (day, uses, accounts)
    following: bool | None = None
    featuring: bool | None = None


def normalize(name: str) -> str:
    """A hashtag name as stored (no '#', lower-cased); NotFound for anything that cannot be
    a hashtag (as a missing tag answers)."""
    cleaned = (name or "").strip().lstrip("#").lower()
    if not TAG_NAME.match(cleaned) or cleaned.isdigit():
        raise NotFound()
    return cleaned


def today() -> int:
    """Today's number of UTC days since the epoch."""
    return int(utcnow().timestamp() * 1000) // DAY_MS


def findable_by(viewer_id: int | None) -> ColumnElement[bool]:
    """SQL condition on `Tag`: the viewer may learn it exists, because a post they may see
    carries it (public use counts for everyone) or they follow or feature it."""
    seen = plain_visible_to(None)
    if viewer_id is not None:
        seen = or_(seen, plain_visible_to(viewer_id))
    used = exists(
        select(PostTag.post_id)
        .join(Post, Post.id == PostTag.post_id)
        .where(PostTag.tag_id == Tag.id, seen)
    )
    if viewer_id is None:
        return used
    followed = exists().where(FollowedTag.tag_id == Tag.id, FollowedTag.account_id == viewer_id)
    featured = exists().where(FeaturedTag.tag_id == Tag.id, FeaturedTag.account_id == viewer_id)
    return or_(used, followed, featured)


async def find_tag(session: AsyncSession, name: str) -> Tag | None:
    """The hashtag called `name` if it has ever been used or followed."""
    return await session.scalar(select(Tag).where(Tag.name == normalize(name)))


async def describe(session: AsyncSession, viewer_id: int | None, name: str) -> TagView:
    """The view of one hashtag (a name never used gets an empty history, as on Mastodon; so
    does one the viewer may not learn of, see `findable_by`)."""
    tag = await session.scalar(
        select(Tag).where(Tag.name == normalize(name), findable_by(viewer_id))
    )
    if tag is None:
        none = False if viewer_id else None
        return TagView(normalize(name), None, _history({}), none, none)
    return (await describe_tags(session, viewer_id, [tag]))[0]


async def describe_tags(
    session: AsyncSession, viewer_id: int | None, tags: list[Tag]
) -> list[TagView]:
    """Views of `tags`, in order, in two queries whatever their number."""
    ids = [t.id for t in tags]
    if not ids:
        return []
    since = today() - HISTORY_DAYS + 1
    rows = await session.execute(
        select(TagHistory.tag_id, TagHistory.day, TagHistory.uses, TagHistory.accounts).where(
            TagHistory.tag_id.in_(ids), TagHistory.day >= since
        )
    )
    used: dict[int, dict[int, tuple[int, int]]] = {}
    for tag_id, day, uses, accounts in rows:
        used.setdefault(tag_id, {})[day] = (uses, accounts)
    mine = await _followed_and_featured(session, viewer_id, ids)
    signed_in = viewer_id is not None
    return [
        TagView(
            t.name,
            t.id,
            _history(used.get(t.id, {})),
            (t.id, "follow") in mine if signed_in else None,
            (t.id, "feature") in mine if signed_in else None,
        )
        for t in tags
    ]


async def _followed_and_featured(
    session: AsyncSession, viewer_id: int | None, ids: list[int]
) -> set[tuple[int, str]]:
    """(tag id, "follow" / "feature") for the hashtags among `ids` the viewer follows or
    features on their profile: one query (none signed out)."""
    if viewer_id is None:
        return set()
    followed = select(FollowedTag.tag_id, literal("follow")).where(
        FollowedTag.account_id == viewer_id, FollowedTag.tag_id.in_(ids)
    )
    featured = select(FeaturedTag.tag_id, literal("feature")).where(
        FeaturedTag.account_id == viewer_id, FeaturedTag.tag_id.in_(ids)
    )
    rows = await session.execute(followed.union_all(featured))
    return {(tag_id, kind) for tag_id, kind in rows}


def _history(by_day: dict[int, tuple[int, int]]) -> list[tuple[int, int, int]]:
    last = today()
    return [(d, *by_day.get(d, (0, 0))) for d in range(last, last - HISTORY_DAYS, -1)]


async def follow_tag(session: AsyncSession, account_id: int, name: str) -> TagView:
    """Follow a hashtag (created when new). Idempotent; commits."""
    cleaned = normalize(name)
    await insert_ignore_one(session, Tag, name=cleaned)
    tag = await session.scalar(select(Tag).where(Tag.name == cleaned))
    assert tag is not None
    await session.execute(
        insert_ignore(session, FollowedTag).values(
            account_id=account_id, tag_id=tag.id, created_at=utcnow()
        )
    )
    await session.commit()
    return (await describe_tags(session, account_id, [tag]))[0]


async def unfollow_tag(session: AsyncSession, account_id: int, name: str) -> TagView:
    """Stop following a hashtag. Idempotent; commits. Posts already delivered stay."""
    tag = await find_tag(session, name)
    if tag is None:
        return TagView(normalize(name), None, _history({}), False, False)
    await session.execute(
        delete(FollowedTag).where(
            FollowedTag.account_id == account_id, FollowedTag.tag_id == tag.id
        )
    )
    await session.commit()
    return (await describe_tags(session, account_id, [tag]))[0]


async def followed_tags(
    session: AsyncSession, account_id: int, page: Page
) -> tuple[list[TagView], int | None, int | None]:
    """The hashtags someone follows, most recently followed first (paged by follow row):
    the views and the cursors of the next and previous pages."""
    query = (
        select(FollowedTag.id, Tag)
        .join(Tag, Tag.id == FollowedTag.tag_id)
        .where(FollowedTag.account_id == account_id)
    )
    rows = list((await session.execute(apply_page(query, FollowedTag.id, page))).all())
    rows = finish(rows, page)
    views = await describe_tags(session, account_id, [tag for _, tag in rows])
    cursors = (rows[-1][0], rows[0][0]) if rows else (None, None)
    return views, cursors[0], cursors[1]


@cache
def _count_use(dialect: str) -> Any:
    """One more use of the hashtag that day, and `accounts` more authors: the day's row
    made or grown in one statement (built once per dialect; parameters `tag_id`, `day`,
    `accounts`)."""
    table = TagHistory.__table__
    made = insert_for(dialect, table).values(
        tag_id=bindparam("tag_id"), day=bindparam("day"), uses=1, accounts=bindparam("accounts")
    )
    return made.on_conflict_do_update(
        index_elements=[table.c.tag_id, table.c.day],
        set_={"uses": table.c.uses + 1, "accounts": table.c.accounts + made.excluded.accounts},
    )


async def record_tag_use(
    session: AsyncSession, post: Post, tag_ids: Sequence[int] | None = None
) -> None:
    """Count a new public or unlisted post in its hashtags' daily use (idempotent per post
    only through the job that calls it: `distribute_post` runs once per post). `tag_ids`: the
    post's hashtags, when the caller has read them already."""
    if post.reblog_of_id is not None or not is_public_or_unlisted(post.visibility):
        return
    if tag_ids is None:
        tag_ids = (
            await session.scalars(select(PostTag.tag_id).where(PostTag.post_id == post.id))
        ).all()
    day = id_to_ms(post.id) // DAY_MS
    dialect = session.get_bind().dialect.name
    for tag_id in tag_ids:
        author = {"tag_id": tag_id, "day": day, "account_id": post.account_id}
        first_use = insert_ignore(session, TagHistoryAccount.__table__)  # built once
        new_author = affected_rows(await session.execute(first_use, author))
        use = {"tag_id": tag_id, "day": day, "accounts": int(bool(new_author))}
        await session.execute(_count_use(dialect), use)
    if tag_ids:
        await session.execute(
            delete(TagHistoryAccount).where(
                TagHistoryAccount.tag_id.in_(tag_ids),
                TagHistoryAccount.day <= day - HISTORY_DAYS,
            )
        )


async def rebuild_recent_history(conn: AsyncConnection) -> None:
    """Recompute the last HISTORY_DAYS days of hashtag use from the posts themselves (for
    data bulk-loaded without jobs, such as the demo data set)."""
    since = today() - HISTORY_DAYS + 1
    # the shift count as a plain integer: PostgreSQL has no bigint >> bigint operator
    shift = literal(16, Integer())
    day = (Post.id.op(">>", return_type=BigInteger())(shift) // DAY_MS).label("day")
    used = (
        select(PostTag.tag_id, day, Post.account_id)
        .join(Post, Post.id == PostTag.post_id)
        .where(
            PostTag.post_id >= min_id_for_ms(since * DAY_MS),
            public_or_unlisted(Post),
            Post.deleted_at.is_(None),
            Post.reblog_of_id.is_(None),
        )
        .subquery()
    )
    for model in (TagHistoryAccount, TagHistory):
        await conn.execute(delete(model).where(model.day >= since))
    await conn.execute(
        insert(TagHistoryAccount).from_select(
            ["tag_id", "day", "account_id"], select(used).distinct()
        )
    )
    await conn.execute(
        insert(TagHistory).from_select(
            ["tag_id", "day", "uses", "accounts"],
            select(
                used.c.tag_id, used.c.day, func.count(), func.count(used.c.account_id.distinct())
            ).group_by(used.c.tag_id, used.c.day),
        )
    )
