"""Outgoing activities, as jobs (the outbox).

A local change writes its federation job in its own transaction (`federate_post` from
posts/writing.py, `federate_follow` / `federate_unfollow` from people/relationships.py), so
nothing is sent for a change that rolled back and nothing is lost when a process dies. That
job works out the recipients' inboxes and writes one `ap_deliver` job per inbox (a remote
server's shared inbox when it has one), in the same transaction that consumes it; each
delivery is signed and retried on its own (`DELIVERY_ATTEMPTS`), so one dead server delays no
other.

Who receives a post: a public, unlisted or followers-only post goes to the inboxes of the
author's remote followers and of the remote accounts it mentions; a direct post only to the
mentioned. A server with no follower of the author never receives a followers-only post.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ScalarResult, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import Database
from agora.db.models import Account, Follow, FollowRequest, Job, Mention, Post, Visibility
from agora.federation import activities
from agora.federation.actors import signer_for
from agora.federation.client import post_activity
from agora.jobs.job_kinds import (
    DeliveryJob,
    FederateFollowJob,
    FederatePostJob,
    FederateUnfollowJob,
    JobKind,
)
from agora.jobs.queue import enqueue
from agora.social.people import domain_blocks

DELIVERY_ATTEMPTS = 16


def deliver(
    session: AsyncSession, sender: Account, inboxes: set[str], activity: dict[str, Any]
) -> list[Job]:
    """Write one signed delivery job per inbox, in the caller's transaction."""
    return [
        enqueue(
            session,
            JobKind.AP_DELIVER,
            {"inbox": inbox, "account_id": sender.id, "activity": activity},
            max_attempts=DELIVERY_ATTEMPTS,
        )
        for inbox in sorted(inboxes)
    ]


def _inbox_of(account: Any = Account) -> Any:
    return func.coalesce(account.shared_inbox_url, account.inbox_url)


async def _mentioned(session: AsyncSession, post_id: int) -> list[Account]:
    return list(
        (
            await session.scalars(
                select(Account)
                .join(Mention, Mention.account_id == Account.id)
                .where(Mention.post_id == post_id)
                .order_by(Account.id)
            )
        ).all()
    )


async def post_inboxes(session: AsyncSession, post: Post, mentioned: list[Account]) -> set[str]:
    """The remote inboxes a post goes to (see the module docstring)."""
    inboxes = {m.shared_inbox_url or m.inbox_url for m in mentioned if m.domain and m.inbox_url}
    if post.visibility != Visibility.DIRECT:
        rows: ScalarResult[str | None] = await session.scalars(
            select(_inbox_of())
            .join(Follow, Follow.account_id == Account.id)
            .where(Follow.target_account_id == post.account_id, Account.domain.is_not(None))
            .distinct()
        )
        inboxes |= {inbox for inbox in rows if inbox}
    return {i for i in inboxes if i}


async def federate_post(session: AsyncSession, payload: FederatePostJob) -> None:
    """Send a local post's Create (`verb` "create") or Delete ("delete") to its audience."""
    post = await session.get(Post, payload["post_id"])
    if post is None or post.reblog_of_id is not None:
        return
    author = await session.get(Account, post.account_id)
    if author is None or author.domain is not None or author.suspended_at is not None:
        return
    mentioned = await _mentioned(session, post.id)
    note = activities.note_json(post, author, mentioned)
    if payload.get("verb") == "delete":
        activity = activities.delete_activity(post, author, note["to"], note["cc"])
    elif post.deleted_at is None:
        activity = activities.create_activity(note)
    else:
        return
    deliver(session, author, await post_inboxes(session, post, mentioned), activity)


async def _pair(
    session: AsyncSession, follower_id: int, target_id: int
) -> tuple[Account, Account] | None:
    follower = await session.get(Account, follower_id)
    target = await session.get(Account, target_id)
    if follower is None or target is None or follower.domain or not target.domain:
        return None
    return follower, target


async def federate_follow(session: AsyncSession, payload: FederateFollowJob) -> None:
    """Send the Follow of a pending request from a local account to a remote one."""
    request = await session.get(FollowRequest, payload["request_id"])
    if request is None:
        return
    pair = await _pair(session, request.account_id, request.target_account_id)
    if pair is not None:
        follower, target = pair
        follow = activities.follow_activity(request.id, follower, target)
        deliver(session, follower, {target.inbox_url or ""} - {""}, follow)


async def federate_unfollow(session: AsyncSession, payload: FederateUnfollowJob) -> None:
    """Send Undo(Follow) when a local account stops following a remote one."""
    pair = await _pair(session, payload["account_id"], payload["target_account_id"])
    if pair is not None:
        follower, target = pair
        follow = activities.follow_activity(0, follower, target)
        deliver(
            session,
            follower,
            {target.inbox_url or ""} - {""},
            activities.undo_activity(follower, follow),
        )


async def send_delivery(db: Database, payload: DeliveryJob) -> None:
    """Sign and send one delivery; nothing goes to a server this one suspended
    (domain_blocks.refuses, asked here so that no sender can forget it)."""
    async with db.session() as session:
        sender = await session.get(Account, payload["account_id"])
        refused = await domain_blocks.refuses(session, urlsplit(payload["inbox"]).netloc.lower())
    if sender is None or sender.domain is not None or refused:
        return
    await post_activity(payload["inbox"], payload["activity"], await signer_for(db, sender))


async def delivery_sent(session: AsyncSession, payload: DeliveryJob, prepared: None) -> None:
    """Nothing to record: a delivery's only effect is on the other server."""
