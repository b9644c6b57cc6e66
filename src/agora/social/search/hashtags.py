"""Searching hashtags: by name prefix (`#` optional), the exact name first, then the most
used in the last days, then alphabetically; only hashtags the searcher may learn of
(`tags.findable_by`: public use, a post they may see, or one they follow)."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Tag, TagHistory
from agora.social.posts.tags import HISTORY_DAYS, TAG_NAME, findable_by, today

MAX_OFFSET = 10_000


def _tag_prefix(text: str) -> str | None:
    """The hashtag name a query starts with, or None when it cannot name one."""
    cleaned = text.strip().lstrip("#").lower()
    return cleaned if TAG_NAME.match(cleaned) else None


async def search_hashtags(
    session: AsyncSession,
    viewer_id: int | None,
    text: str,
    *,
    limit: int = 20,
    offset: int = 0,
) -> list[Tag]:
    """Hashtags whose name starts with the query, among those the viewer may learn of."""
    prefix = _tag_prefix(text[:200])
    if prefix is None:
        return []
    recent = (
        select(func.coalesce(func.sum(TagHistory.uses), 0))
        .where(TagHistory.tag_id == Tag.id, TagHistory.day > today() - HISTORY_DAYS)
        .scalar_subquery()
    )
    query = (
        select(Tag)
        .where(Tag.name.startswith(prefix, autoescape=True), findable_by(viewer_id))
        .order_by(case((Tag.name == prefix, 0), else_=1), recent.desc(), Tag.name)
        .limit(limit)
        .offset(max(0, min(offset, MAX_OFFSET)))
    )
    return list((await session.scalars(query)).all())
