"""Searching people: by username (exact, then prefix) and by display name.

`@name`, `name` and `name@this.domain` all find the local account `name`; a handle on any
other domain finds the remote account stored under it, if any (federation resolves new ones,
`/api/v2/search?resolve=true`). Suspended accounts and accounts on the other
side of a block are never found. Order: the exact username first, then accounts the
searcher follows, then username prefix matches before display-name matches, then the most
followed. A silenced account is found only by its followers (it is listed to no one else).
Display names are matched anywhere (a scan of the accounts table: fine for tens of thousands
of accounts).
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.models import Account, Block, Follow

USERNAME_CHARS = re.compile(r"^[a-z0-9_]+$")
MAX_OFFSET = 10_000


def _handle(text: str) -> tuple[str, bool] | None:
    """(what to match, whether it must be the exact username)."""
    cleaned = " ".join(text.split()).lstrip("@").lower()
    name, at, domain = cleaned.partition("@")
    if not at:
        return cleaned, False
    ours = {get_settings().domain.lower(), get_settings().base_url.split("://")[-1].lower()}
    if domain and domain not in ours:
        return cleaned, True  # a remote account's username_lower is "name@domain"
    return name, True


async def search_accounts(
    session: AsyncSession,
    viewer_id: int | None,
    text: str,
    *,
    limit: int = 40,
    offset: int = 0,
    following: bool = False,
) -> list[int]:
    """Ids of the accounts matching `text`, best first (see the module docstring)."""
    handle = _handle(text[:200])
    if handle is None or not handle[0]:
        return []
    term, exact_only = handle
    if following and viewer_id is None:
        return []
    is_name = USERNAME_CHARS.match(term) is not None
    exact = Account.username_lower == term
    prefix = and_(Account.username_lower >= term, Account.username_lower < term + "{")
    if exact_only or (not is_name and "@" in term):
        matches = exact
    else:
        named = func.lower(Account.display_name).contains(term, autoescape=True)
        matches = or_(exact, prefix, named) if is_name else named
    followed = _follows(viewer_id)
    query = select(Account.id).where(matches, Account.suspended_at.is_(None))
    silenced = Account.silenced_at.isnot(None)
    if viewer_id is None:
        query = query.where(~silenced)
    else:
        query = query.where(~_blocked_either_way(viewer_id))
        query = query.where(~(silenced & (Account.id != viewer_id) & ~followed))
    if following:
        query = query.where(followed)
    order = [case((exact, 0), else_=1)]
    if viewer_id is not None:
        order.append(case((followed, 0), else_=1))
    if is_name:
        order.append(case((prefix, 0), else_=1))
    query = query.order_by(*order, Account.followers_count.desc(), Account.id)
    offset = max(0, min(offset, MAX_OFFSET))
    return list((await session.scalars(query.limit(limit).offset(offset))).all())


def _follows(viewer_id: int | None) -> ColumnElement[bool]:
    return exists().where(Follow.account_id == viewer_id, Follow.target_account_id == Account.id)


def _blocked_either_way(viewer_id: int) -> ColumnElement[bool]:
    return exists().where(
        or_(
            and_(Block.account_id == viewer_id, Block.target_account_id == Account.id),
            and_(Block.account_id == Account.id, Block.target_account_id == viewer_id),
        )
    )
