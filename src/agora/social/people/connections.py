"""Pages of accounts tied to one person: follow requests waiting for them, their followers,
the people they follow, block or mute (newest first, paged on the row id that ties them).

The one rule for these lists (API and web alike): suspended accounts are left out, and the
cursor is the id of the follow, request, block or mute row, not the account's. Whose
followers and follows may be listed at all is `hides_collections_from` (Mastodon's
`hide_collections`: nobody's but the owner's), asked by the API and the ActivityPub
collections."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, Block, Follow, FollowRequest, Mute
from agora.social.rules.paging import Page, Slice, apply_page, slice_of


async def _pairs(
    session: AsyncSession, model: Any, where: Any, pick: Any, page: Page
) -> Slice[Account]:
    query = (
        select(model.id, Account)
        .join(Account, Account.id == pick)
        .where(where, Account.suspended_at.is_(None))
    )
    return slice_of((await session.execute(apply_page(query, model.id, page))).all(), page)


def hides_collections_from(account: Account, viewer_id: int | None) -> bool:
    """Whether `account`'s followers and follows are hidden from this viewer (None: nobody
    signed in, or another server): the account hides them and the viewer is not its owner."""
    return account.hide_collections and viewer_id != account.id


async def follow_requesters(session: AsyncSession, account_id: int, page: Page) -> Slice[Account]:
    """Each person waiting for `account_id` to accept their follow."""
    where = FollowRequest.target_account_id == account_id
    return await _pairs(session, FollowRequest, where, FollowRequest.account_id, page)


async def followers(session: AsyncSession, account_id: int, page: Page) -> Slice[Account]:
    """Each person who follows `account_id`."""
    where = Follow.target_account_id == account_id
    return await _pairs(session, Follow, where, Follow.account_id, page)


async def followed_accounts(session: AsyncSession, account_id: int, page: Page) -> Slice[Account]:
    """Each person `account_id` follows."""
    where = Follow.account_id == account_id
    return await _pairs(session, Follow, where, Follow.target_account_id, page)


async def blocked_accounts(session: AsyncSession, account_id: int, page: Page) -> Slice[Account]:
    """Each person `account_id` blocks."""
    where = Block.account_id == account_id
    return await _pairs(session, Block, where, Block.target_account_id, page)


async def muted_accounts(session: AsyncSession, account_id: int, page: Page) -> Slice[Account]:
    """Each person `account_id` mutes."""
    where = Mute.account_id == account_id
    return await _pairs(session, Mute, where, Mute.target_account_id, page)
