"""Whether a local post has an audience on other servers, and the job that sends it there:
the service side of federation's outbox (federation/outbox.py works out the inboxes and
delivers). Written in the transaction of the change, so nothing is sent for a change that
rolled back."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, Follow, Mention, Post, Visibility
from agora.jobs.job_kinds import JobKind
from agora.jobs.queue import enqueue


async def has_remote_audience(session: AsyncSession, post: Post) -> bool:
    """Whether a local post has anyone on another server to go to (a remote follower of its
    author, unless it is direct, or a remote account it mentions): `federate_post` is written
    only then, so a server without federation runs no extra job per post."""
    remote = Account.domain.is_not(None)
    mentioned = select(Mention.post_id).join(Account, Account.id == Mention.account_id)
    if await session.scalar(mentioned.where(Mention.post_id == post.id, remote).limit(1)):
        return True
    if post.visibility == Visibility.DIRECT:
        return False
    # from the remote accounts (few; `ix_accounts_remote`) to the follows' unique key, not
    # through every follower of the author
    follows = exists().where(
        Follow.account_id == Account.id, Follow.target_account_id == post.account_id
    )
    remote_follower = select(Account.id).where(remote, follows).limit(1)
    return bool(await session.scalar(remote_follower))


async def schedule_federation(
    session: AsyncSession, post: Post, verb: Literal["create", "delete"]
) -> None:
    """Write the `federate_post` job of a local post's Create ("create") or Delete
    ("delete") in the caller's transaction, when it has a remote audience."""
    if await has_remote_audience(session, post):
        enqueue(session, JobKind.FEDERATE_POST, {"post_id": post.id, "verb": verb})
