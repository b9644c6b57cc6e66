"""Finding people: follow suggestions, the profile directory and familiar followers.

Invariants: every account listed here passes the discoverability rule
(`rules/discoverability.py`); a suggestion is never the viewer, an account the viewer follows
or asked to follow, blocks or is blocked by, mutes, or dismissed. Familiar followers are only
accounts the viewer follows, never one that hides its connections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from agora.db.models import (
    Account,
    Block,
    Follow,
    FollowRequest,
    Mute,
    SuggestionDismissal,
    utcnow,
)
from agora.db.upsert import insert_ignore
from agora.social.people.lookup import get_account
from agora.social.rules.discoverability import listable_account

FRIENDS_OF_FRIENDS = "friends_of_friends"
MOST_FOLLOWED = "most_followed"
DirectoryOrder = Literal["active", "new"]


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A suggested account and why (`friends_of_friends` or `most_followed`)."""

    account_id: int
    source: str


def _not_excluded(viewer_id: int, candidate: Any) -> ColumnElement[bool]:
    """The candidate is not the viewer, nor followed, requested, blocked either way, muted
    or dismissed by the viewer."""
    pairs = (
        (Follow, Follow.account_id, Follow.target_account_id),
        (FollowRequest, FollowRequest.account_id, FollowRequest.target_account_id),
        (Mute, Mute.account_id, Mute.target_account_id),
        (
            SuggestionDismissal,
            SuggestionDismissal.account_id,
            SuggestionDismissal.target_account_id,
        ),
    )
    excluded = [exists().where(src == viewer_id, dst == candidate) for _, src, dst in pairs]
    blocked = exists().where(
        or_(
            and_(Block.account_id == viewer_id, Block.target_account_id == candidate),
            and_(Block.account_id == candidate, Block.target_account_id == viewer_id),
        )
    )
    return and_(candidate != viewer_id, not_(or_(*excluded, blocked)))


async def suggestions(session: AsyncSession, viewer_id: int, limit: int) -> list[Suggestion]:
    """Up to `limit` accounts to follow: those most followed by the people the viewer
    follows, then the most followed local accounts."""
    mine = aliased(Follow)
    theirs = aliased(Follow)
    fof = await session.scalars(
        select(theirs.target_account_id)
        .join(mine, mine.target_account_id == theirs.account_id)
        .join(Account, Account.id == theirs.target_account_id)
        .where(
            mine.account_id == viewer_id,
            listable_account(),
            _not_excluded(viewer_id, theirs.target_account_id),
        )
        .group_by(theirs.target_account_id)
        .order_by(func.count().desc(), theirs.target_account_id.desc())
        .limit(limit)
    )
    found = [Suggestion(i, FRIENDS_OF_FRIENDS) for i in fof]
    if len(found) < limit:
        taken = [s.account_id for s in found]
        popular = await session.scalars(
            select(Account.id)
            .where(
                Account.domain.is_(None),
                Account.bot.is_(False),
                Account.id.not_in(taken),
                listable_account(),
                _not_excluded(viewer_id, Account.id),
            )
            .order_by(Account.followers_count.desc(), Account.id.desc())
            .limit(limit - len(found))
        )
        found += [Suggestion(i, MOST_FOLLOWED) for i in popular]
    return found


async def dismiss_suggestion(session: AsyncSession, viewer_id: int, target_id: int) -> None:
    """Never suggest this account to the viewer again (idempotent). Commits."""
    await get_account(session, target_id)
    await session.execute(
        insert_ignore(session, SuggestionDismissal).values(
            account_id=viewer_id, target_account_id=target_id, created_at=utcnow()
        )
    )
    await session.commit()


async def directory(
    session: AsyncSession,
    viewer_id: int | None,
    *,
    order: DirectoryOrder,
    local: bool,
    offset: int,
    limit: int,
) -> list[int]:
    """The profile directory: discoverable accounts, most recently
    active (`active`) or newest (`new`) first; `local`: this server's only. A signed-in
    viewer does not see accounts they block or that block them."""
    query = select(Account.id).where(listable_account())
    if local:
        query = query.where(Account.domain.is_(None))
    if viewer_id is not None:
        query = query.where(
            not_(
                exists().where(
                    or_(
                        and_(Block.account_id == viewer_id, Block.target_account_id == Account.id),
                        and_(Block.account_id == Account.id, Block.target_account_id == viewer_id),
                    )
                )
            )
        )
    if order == "new":
        query = query.order_by(Account.created_at.desc(), Account.id.desc())
    else:
        query = query.order_by(Account.last_status_at.desc().nulls_last(), Account.id.desc())
    return list(await session.scalars(query.offset(offset).limit(limit)))


async def familiar_followers(
    session: AsyncSession, viewer_id: int, ids: list[int]
) -> dict[int, list[int]]:
    """For each of `ids`: the accounts the viewer follows that follow it (oldest follow
    first, at most 40), leaving out those that hide their connections."""
    mine = aliased(Follow)
    theirs = aliased(Follow)
    rows = await session.execute(
        select(theirs.target_account_id, theirs.account_id)
        .join(mine, mine.target_account_id == theirs.account_id)
        .join(Account, Account.id == theirs.account_id)
        .where(
            mine.account_id == viewer_id,
            theirs.target_account_id.in_(ids),
            Account.suspended_at.is_(None),
            Account.hide_collections.is_(False),
        )
        .order_by(theirs.id)
    )
    found: dict[int, list[int]] = {i: [] for i in ids}
    for target, follower in rows:
        if len(found[target]) < 40:
            found[target].append(follower)
    return found
