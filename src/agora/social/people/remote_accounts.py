"""What happens here when another server says one of its accounts moved or is gone.

- `move_followers` (ActivityPub Move, verified by federation first; and a local person's own
  move): the old account is marked moved (`moved_to_account_id`, `moved_at`), and each local
  follower of it follows the new account
  and stops following the old one (as Mastodon does: a follow of a remote account is a request
  until its server accepts), and gets a `move` notification. A follower the new account
  blocks (or who blocks it) only stops following the old one. An account moves at most once
  in `MOVE_COOLDOWN` (30 days, Mastodon's `AccountMigration::COOLDOWN_PERIOD`): a second
  move within it is refused here (`Invalid`; a received one is dropped by its caller, which
  asks `may_move` first), whichever door it came through.
- `forget_deleted` (Delete of the actor itself): the account is suspended here, which hides
  it and its posts from every door (the visibility rule and every look-up already skip
  suspended accounts), its follows both ways and pending requests end, and its posts are
  deleted.
Both run in the caller's transaction (a job's), so they happen once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, Follow, FollowRequest, Post, utcnow
from agora.social.people import moderation, relationships
from agora.social.reading.notifications import MOVE, create_notification
from agora.social.rules.errors import DomainError, Invalid

MOVE_COOLDOWN = timedelta(days=30)
ON_COOLDOWN = "Validation failed: an account can move only once every 30 days"


def may_move(account: Account, now: datetime | None = None) -> bool:
    """Whether `account` may move now: it has not moved within `MOVE_COOLDOWN`."""
    moved = account.moved_at
    return moved is None or (now or utcnow()) - moved >= MOVE_COOLDOWN


async def move_followers(session: AsyncSession, old: Account, new: Account) -> int:
    """Move the local followers of `old` to `new` (see the module docstring); how many moved.
    Invalid (nothing changed) when `old` moved less than `MOVE_COOLDOWN` ago. Does not
    commit."""
    now = utcnow()
    if not may_move(old, now):
        raise Invalid(ON_COOLDOWN)
    old.moved_to_account_id, old.moved_at = new.id, now
    followers = (
        await session.scalars(
            select(Account)
            .join(Follow, Follow.account_id == Account.id)
            .where(
                Follow.target_account_id == old.id,
                Account.domain.is_(None),
                Account.suspended_at.is_(None),
            )
            .order_by(Account.id)
        )
    ).all()
    moved = 0
    for follower in followers:
        await relationships.stop_following(session, follower, old)
        try:
            async with session.begin_nested():
                await relationships.start_follow(session, follower, new)
        except DomainError:  # a block stands between them: the old follow ends all the same
            continue
        moved += 1
        await create_notification(
            session,
            type=MOVE,
            account_id=follower.id,
            from_account_id=old.id,
            post_id=None,
            activity_id=new.id,
        )
    return moved


async def forget_deleted(session: AsyncSession, account: Account) -> None:
    """A remote account deleted by its server (see the module docstring). Does not commit."""
    now = utcnow()
    moderation.close_remote_account(session, account)
    followed = await session.scalars(
        select(Follow.target_account_id).where(Follow.account_id == account.id)
    )
    for target in followed.all():
        await relationships.drop_follower(session, target, account.id)
    followers = await session.scalars(
        select(Follow.account_id).where(Follow.target_account_id == account.id)
    )
    requesters = await session.scalars(
        select(FollowRequest.account_id).where(FollowRequest.target_account_id == account.id)
    )
    for follower in {*followers.all(), *requesters.all()}:
        await relationships.drop_follower(session, account.id, follower)
    await session.execute(
        update(Post)
        .where(Post.account_id == account.id, Post.deleted_at.is_(None))
        .values(deleted_at=now)
    )
