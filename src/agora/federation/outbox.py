"""Outgoing activities, as jobs (the outbox).

A local change writes its federation job in its own transaction (`federate_post` from
posts/writing.py, `federate_follow` / `federate_unfollow` from people/relationships.py), so
nothing is sent for a change that rolled back and nothing is lost when a process dies. That
job works out the recipients' inboxes and writes one `ap_deliver` job per inbox (a remote
server's shared inbox when it has one), in the same transaction that consumes it; each
delivery is signed and retried on its own (`federation_delivery_attempts`, Mastodon's
schedule: `delivery_backoff`), so one dead server delays no other; before each try the
domain's health is asked (federation/domain_health.py: a circuit open postpones it without a
request, an unavailable domain drops it), and each outcome is recorded there. An answer no
retry can fix (a 4xx other than 401, 408 and 429, or 501) drops the delivery, logged.

Who receives a post: a public, unlisted or followers-only post goes to the inboxes of the
author's remote followers and of the remote accounts it mentions; a direct post only to the
mentioned. A server with no follower of the author never receives a followers-only post.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from sqlalchemy import ScalarResult, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.engine import Database
from agora.db.models import Account, Follow, FollowRequest, Job, Mention, Post, Visibility
from agora.federation import activities, domain_health
from agora.federation.actors import signer_for
from agora.federation.client import FederationError, post_activity
from agora.jobs.job_kinds import (
    DeliveryJob,
    FederateFollowJob,
    FederatePostJob,
    FederateUnfollowJob,
    JobKind,
)
from agora.jobs.queue import Postpone, enqueue

log = logging.getLogger("agora.federation")
RETRYABLE_4XX = (401, 408, 429)


def delivery_backoff(attempts: int) -> float:
    """Seconds before the next try of a delivery that failed `attempts` times: Mastodon's
    (n^4 + 15) s plus up to 10 (n + 1) s of jitter, n = attempts - 1 (about 2.1 days over
    its 16 retries), times `federation_retry_scale`."""
    n = max(attempts - 1, 0)
    delay = n**4 + 15 + random.random() * 10 * (n + 1)
    return delay * get_settings().federation_retry_scale


def deliver(
    session: AsyncSession, sender: Account, inboxes: set[str], activity: dict[str, Any]
) -> list[Job]:
    """Write one signed delivery job per inbox, in the caller's transaction."""
    return [
        enqueue(
            session,
            JobKind.AP_DELIVER,
            {"inbox": inbox, "account_id": sender.id, "activity": activity},
            max_attempts=get_settings().federation_delivery_attempts,
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


def _unsalvageable(status: int | None) -> bool:
    if status is None:
        return False
    return status == 501 or (400 <= status < 500 and status not in RETRYABLE_4XX)


async def send_delivery(db: Database, payload: DeliveryJob) -> None:
    """Phase 1 of `ap_deliver`: one signed POST, if the inbox's domain admits it (see the
    module docstring). Raises to be retried; `Postpone` while the domain's circuit is open."""
    inbox = payload["inbox"]
    domain = domain_health.domain_of(inbox)
    admission = await domain_health.admit(db, domain)
    if admission.action == "drop":
        log.info("federation: %s is unavailable: delivery to %s dropped", domain, inbox)
        return
    if admission.action == "wait":
        raise Postpone(admission.seconds, f"{domain} is failing: its circuit is open")
    async with db.session() as session:
        sender = await session.get(Account, payload["account_id"])
    if sender is None or sender.domain is not None:
        return
    signer = await signer_for(db, sender)
    try:
        await post_activity(inbox, payload["activity"], signer)
    except FederationError as exc:
        if _unsalvageable(exc.status):  # it answered: the domain is up, the delivery is not
            log.info("federation: delivery to %s refused for good: %s", inbox, exc)
            if admission.failing:
                await domain_health.record_success(db, domain)
            return
        await domain_health.record_failure(db, domain)
        raise
    if admission.failing:
        await domain_health.record_success(db, domain)


async def delivery_sent(session: AsyncSession, payload: DeliveryJob, prepared: None) -> None:
    """Nothing to record: a delivery's only effect is on the other server."""
