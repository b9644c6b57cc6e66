"""Featured hashtags: the hashtags a person shows on their profile, each with how many of
their public posts carry it and when they last used it.

Invariants: at most `limits.FEATURED_TAGS` per person (`limits.enforce` locks the owner, then
counts); one row per (person, hashtag); only the owner removes one (someone else's id is a
404, as a missing one). The counts cover the owner's live public and unlisted posts only, so
a featured hashtag reveals nothing about private posts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import FeaturedTag, Post, PostTag, Tag, utcnow
from agora.db.upsert import affected_rows, insert_ignore_one
from agora.social.posts.tags import normalize
from agora.social.rules import limits
from agora.social.rules.errors import Invalid, NotFound
from agora.social.rules.visibility import public_or_unlisted

SUGGESTED = 10


@dataclass(frozen=True, slots=True)
class FeaturedTagView:
    """One featured hashtag of a person, with their use of it."""

    id: int
    name: str
    statuses_count: int
    last_status_at: datetime | None


async def _uses(
    session: AsyncSession, account_id: int, tag_ids: list[int]
) -> dict[int, tuple[int, datetime | None]]:
    """(public posts carrying it, the newest one's time) per hashtag, in one query."""
    if not tag_ids:
        return {}
    rows = await session.execute(
        select(PostTag.tag_id, func.count(), func.max(Post.created_at))
        .join(Post, Post.id == PostTag.post_id)
        .where(
            PostTag.tag_id.in_(tag_ids),
            Post.account_id == account_id,
            Post.deleted_at.is_(None),
            Post.reblog_of_id.is_(None),
            public_or_unlisted(Post),
        )
        .group_by(PostTag.tag_id)
    )
    return {tag_id: (int(n), last) for tag_id, n, last in rows}


async def featured_tags_of(session: AsyncSession, account_id: int) -> list[FeaturedTagView]:
    """A person's featured hashtags, oldest first (as Mastodon lists them)."""
    rows = list(
        (
            await session.execute(
                select(FeaturedTag.id, Tag.id, Tag.name)
                .join(Tag, Tag.id == FeaturedTag.tag_id)
                .where(FeaturedTag.account_id == account_id)
                .order_by(FeaturedTag.id)
            )
        ).all()
    )
    uses = await _uses(session, account_id, [tag_id for _, tag_id, _ in rows])
    return [FeaturedTagView(fid, name, *uses.get(tag_id, (0, None))) for fid, tag_id, name in rows]


async def feature_tag(session: AsyncSession, account_id: int, name: str) -> FeaturedTagView:
    """Feature a hashtag (created when new); Invalid for a bad name, one already featured or
    one over the limit. Commits."""
    try:
        cleaned = normalize(name)
    except NotFound:
        raise Invalid("Validation failed: Tag is invalid") from None
    await limits.enforce(session, limits.FEATURED_TAGS, account_id)
    await insert_ignore_one(session, Tag, name=cleaned)
    tag_id = await session.scalar(select(Tag.id).where(Tag.name == cleaned))
    assert tag_id is not None
    taken = {"account_id": "Validation failed: Tag has already been taken"}
    taken["tag_id"] = taken["account_id"]
    async with limits.unique_or_invalid(session, taken):
        featured = FeaturedTag(account_id=account_id, tag_id=tag_id, created_at=utcnow())
        session.add(featured)
    featured_id = featured.id
    await session.commit()
    count, last = (await _uses(session, account_id, [tag_id])).get(tag_id, (0, None))
    return FeaturedTagView(featured_id, cleaned, count, last)


async def unfeature_tag(session: AsyncSession, account_id: int, featured_id: int) -> None:
    """Stop featuring one of one's hashtags; NotFound for anyone else's. Commits."""
    done = await session.execute(
        delete(FeaturedTag).where(
            FeaturedTag.id == featured_id, FeaturedTag.account_id == account_id
        )
    )
    if not affected_rows(done):
        raise NotFound()
    await session.commit()


async def feature_by_name(session: AsyncSession, account_id: int, name: str) -> None:
    """Feature a hashtag by its name (Mastodon 4.4's POST /api/v1/tags/:name/feature): as
    `feature_tag`, except that one already featured stays featured (no error). Commits."""
    cleaned = normalize(name)
    featured = await session.scalar(
        select(FeaturedTag.id)
        .join(Tag, Tag.id == FeaturedTag.tag_id)
        .where(FeaturedTag.account_id == account_id, Tag.name == cleaned)
    )
    if featured is None:
        await feature_tag(session, account_id, cleaned)


async def unfeature_by_name(session: AsyncSession, account_id: int, name: str) -> None:
    """Stop featuring a hashtag by its name (Mastodon 4.4's …/unfeature); idempotent.
    Commits."""
    tag_id = select(Tag.id).where(Tag.name == normalize(name)).scalar_subquery()
    await session.execute(
        delete(FeaturedTag).where(
            FeaturedTag.account_id == account_id, FeaturedTag.tag_id == tag_id
        )
    )
    await session.commit()


async def suggested_tags(session: AsyncSession, account_id: int) -> list[str]:
    """The hashtags a person uses most in their public posts and does not feature yet."""
    featured = select(FeaturedTag.tag_id).where(FeaturedTag.account_id == account_id)
    rows = await session.execute(
        select(Tag.name)
        .join(PostTag, PostTag.tag_id == Tag.id)
        .join(Post, Post.id == PostTag.post_id)
        .where(
            Post.account_id == account_id,
            Post.deleted_at.is_(None),
            public_or_unlisted(Post),
            Tag.id.not_in(featured),
        )
        .group_by(Tag.id, Tag.name)
        .order_by(func.count().desc(), Tag.name)
        .limit(SUGGESTED)
    )
    return list(rows.scalars())
