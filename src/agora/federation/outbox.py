"""Outgoing activities, as jobs (the outbox).

A local change writes its federation job in its own transaction (`federate_post` from
posts/writing.py, `federate_follow` / `federate_unfollow` / `federate_follow_answer` from
people/relationships.py, `federate_reaction` from posts/interactions.py, `federate_profile`
from people/accounts.py; social/reading/remote_audience.py decides when), so
nothing is sent for a change that rolled back and nothing is lost when a process dies. That
job works out the recipients' inboxes and writes one `ap_deliver` job per inbox (a remote
server's shared inbox when it has one), in the same transaction that consumes it; each
delivery is signed and retried on its own (`federation_delivery_attempts`, Mastodon's
schedule: `delivery_backoff`), so one dead server delays no other; before each try the
domain's health is asked (federation/domain_health.py: a circuit open postpones it without a
request, an unavailable domain drops it), and each outcome is recorded there. An answer no
retry can fix (a 4xx other than 401, 408 and 429, or 501) drops the delivery, logged.
Nothing is ever sent to a server this one suspended (`send_delivery` asks
`domain_blocks.refuses` last, whoever wrote the delivery).

Who receives a post: a public, unlisted or followers-only post goes to the inboxes of the
author's remote followers, of the remote accounts it mentions and of the remote author of the
post it answers; a direct post only to the mentioned. A server with no follower of the author
never receives a followers-only post. Its edits (Update) and deletion go to the same inboxes.
A like goes to the liked post's remote author; a boost to the booster's remote followers and
the boosted post's remote author; a profile change to the person's remote followers; the
answer to a follow request to the requester; a deleted account's Delete(Actor) to the
servers that knew it (their inboxes are taken when it is deleted:
remote_audience.schedule_account_deletion); a Move to the mover's remote followers.

A delivery of a post also carries the author's FEP-8fcf `Collection-Synchronization` header
(`synchronize_followers`; computed when sent: federation/followers_sync.py).

Who signs: a delivery names its sender (`account_id`), a local account, whose key signs it;
or None, the instance actor (forwarded reports: outbound_moderation). A deleted account keeps
its private key until every delivery it signs is done (`drop_account_key` waits for them);
a delivery of a deleted account whose key is gone is dropped, never signed with a new key.
"""

from __future__ import annotations

import logging
import random
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ScalarResult, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.engine import Database
from agora.db.models import (
    Account,
    AccountKey,
    Follow,
    FollowRequest,
    Job,
    Mention,
    Post,
    Visibility,
    utcnow,
)
from agora.federation import activities, domain_health, followers_sync, quote_objects
from agora.federation.actors import actor_json, actor_uri, key_id, moved_to_uri, signer_for
from agora.federation.client import FederationError, Signer, post_activity
from agora.federation.keys import instance_signer, stored_key_pair
from agora.federation.object_extensions import NoteParts, complete_note
from agora.ids import new_id
from agora.jobs.job_kinds import (
    AccountDeleteJob,
    AccountJob,
    DeliveryJob,
    FederateFollowAnswerJob,
    FederateFollowJob,
    FederateMoveJob,
    FederatePostJob,
    FederateProfileJob,
    FederateQuoteRevocationJob,
    FederateReactionJob,
    FederateUnfollowJob,
    JobKind,
    JobState,
)
from agora.jobs.queue import Postpone, enqueue
from agora.metrics import FEDERATION_DELIVERIES
from agora.social.people import domain_blocks

log = logging.getLogger("agora.federation")
RETRYABLE_4XX = (401, 408, 429)
KEY_DROP_WAIT = 600.0  # seconds between looks for a deleted account's pending deliveries


def delivery_backoff(attempts: int) -> float:
    """Seconds before the next try of a delivery that failed `attempts` times: Mastodon's
    (n^4 + 15) s plus up to 10 (n + 1) s of jitter, n = attempts - 1 (about 2.1 days over
    its 16 retries), times `federation_retry_scale`."""
    n = max(attempts - 1, 0)
    delay = n**4 + 15 + random.random() * 10 * (n + 1)
    return delay * get_settings().federation_retry_scale


def deliver(
    session: AsyncSession,
    sender: Account | None,
    inboxes: set[str],
    activity: dict[str, Any],
    *,
    synchronize_followers: bool = False,
) -> list[Job]:
    """Write one signed delivery job per inbox, in the caller's transaction; signed by
    `sender`'s key, or by the instance actor's when `sender` is None;
    `synchronize_followers`: with the sender's FEP-8fcf header (federation/followers_sync.py)."""
    jobs = []
    for inbox in sorted(inboxes):
        payload: DeliveryJob = {
            "inbox": inbox,
            "account_id": sender.id if sender is not None else None,
            "activity": activity,
        }
        if synchronize_followers:
            payload["synchronize_followers"] = True
        attempts = get_settings().federation_delivery_attempts
        jobs.append(enqueue(session, JobKind.AP_DELIVER, payload, max_attempts=attempts))
    return jobs


def _inbox_of(account: Any = Account) -> Any:
    return func.coalesce(account.shared_inbox_url, account.inbox_url)


async def mentioned_accounts(session: AsyncSession, post_id: int) -> list[Account]:
    """The accounts a post mentions."""
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


def _inboxes(accounts: list[Account | None]) -> set[str]:
    """The (shared) inboxes of those of `accounts` that are remote."""
    found = {a.shared_inbox_url or a.inbox_url for a in accounts if a is not None and a.domain}
    return {i for i in found if i}


async def follower_inboxes(session: AsyncSession, account_id: int) -> set[str]:
    """The inboxes of an account's remote followers (one per shared inbox)."""
    rows: ScalarResult[str | None] = await session.scalars(
        select(_inbox_of())
        .join(Follow, Follow.account_id == Account.id)
        .where(Follow.target_account_id == account_id, Account.domain.is_not(None))
        .distinct()
    )
    return {inbox for inbox in rows if inbox}


async def post_inboxes(session: AsyncSession, post: Post, mentioned: list[Account]) -> set[str]:
    """The remote inboxes a post goes to (see the module docstring)."""
    inboxes = _inboxes(list(mentioned))
    if post.visibility != Visibility.DIRECT:
        inboxes |= await follower_inboxes(session, post.account_id)
        if post.in_reply_to_account_id is not None:
            parent_author = await session.get(Account, post.in_reply_to_account_id)
            inboxes |= _inboxes([parent_author])
    return inboxes


async def post_uri(session: AsyncSession, post: Post) -> str | None:
    """The ActivityPub id of any post, local or remote (None when its author is gone)."""
    if post.uri:
        return post.uri
    author = await session.get(Account, post.account_id)
    return activities.note_uri(author, post) if author is not None else None


async def note_for(
    session: AsyncSession,
    post: Post,
    author: Account,
    mentioned: list[Account] | None = None,
    parts: NoteParts | None = None,
) -> dict[str, Any]:
    """A local post as a Note, the one shape deliveries, fetches and archives serve: its
    mentions (read unless given), the id of the post it answers, and what object_extensions
    adds (its poll, quote, images, replies collection; `parts` when loaded for a batch)."""
    if mentioned is None:
        mentioned = await mentioned_accounts(session, post.id)
    parent = await session.get(Post, post.in_reply_to_id) if post.in_reply_to_id else None
    in_reply_to = await post_uri(session, parent) if parent is not None else None
    note = activities.note_json(post, author, mentioned, in_reply_to)
    return await complete_note(session, post, author, note, parts)


async def federate_post(session: AsyncSession, payload: FederatePostJob) -> None:
    """Send a local post's Create (`verb` "create"), Update ("update") or Delete
    ("delete") to its audience."""
    post = await session.get(Post, payload["post_id"])
    if post is None or post.reblog_of_id is not None:
        return
    author = await session.get(Account, post.account_id)
    if author is None or author.domain is not None or author.suspended_at is not None:
        return
    mentioned = await mentioned_accounts(session, post.id)
    note = await note_for(session, post, author, mentioned)
    if payload.get("verb") == "delete":
        activity = activities.delete_activity(post, author, note["to"], note["cc"])
    elif post.deleted_at is not None:
        return
    elif payload.get("verb") == "update":
        activity = activities.update_activity(note)
    else:
        activity = activities.create_activity(note)
    inboxes = await post_inboxes(session, post, mentioned)
    deliver(session, author, inboxes, activity, synchronize_followers=True)


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
    """Send Undo(Follow) when a local account stops following a remote one. Each Undo has
    an id of its own (receivers match the follow by its actor and object): a fixed one would
    make a receiver take every Undo(Follow) after the first from this server for a
    redelivery of it, and drop it."""
    pair = await _pair(session, payload["account_id"], payload["target_account_id"])
    if pair is not None:
        follower, target = pair
        follow = activities.follow_activity(new_id(), follower, target)
        deliver(
            session,
            follower,
            {target.inbox_url or ""} - {""},
            activities.undo_activity(follower, follow),
        )


async def federate_reaction(session: AsyncSession, payload: FederateReactionJob) -> None:
    """Send a local account's Like or Announce of a post (or their Undo): a like to the
    post's remote author, a boost also to the booster's remote followers."""
    actor = await session.get(Account, payload["account_id"])
    post = await session.get(Post, payload["post_id"])
    if actor is None or actor.domain is not None or post is None:
        return
    author = await session.get(Account, post.account_id)
    uri = await post_uri(session, post)
    if author is None or uri is None:
        return
    inboxes = _inboxes([author])
    if payload["verb"] == "like":
        activity = activities.like_activity(payload["activity_id"], actor, uri)
    else:
        activity = activities.announce_activity(
            payload["activity_id"], actor, uri, actor_uri(author), payload["visibility"]
        )
        inboxes |= await follower_inboxes(session, actor.id)
    if payload["undo"]:
        activity = activities.undo_activity(actor, activity)
    deliver(session, actor, inboxes, activity)


async def federate_quote_revocation(
    session: AsyncSession, payload: FederateQuoteRevocationJob
) -> None:
    """Send `Delete` of the QuoteAuthorization of a remote post whose quote of a local post
    was revoked (FEP-044f) to the quoting author (the authorization itself already answers
    404: federation/routes.py)."""
    quoting = await session.get(Post, payload["post_id"])
    if quoting is None or quoting.uri is None or quoting.quote_of_id is None:
        return
    quoted = await session.get(Post, quoting.quote_of_id)
    if quoted is None:
        return
    author = await session.get(Account, quoted.account_id)
    quoter = await session.get(Account, quoting.account_id)
    if author is None or author.domain is not None or quoter is None:
        return
    quoted_uri = activities.note_uri(author, quoted)
    activity = quote_objects.revocation_activity(author, quoter, quoted_uri, quoting.uri)
    deliver(session, author, _inboxes([quoter]), activity)


async def federate_profile(session: AsyncSession, payload: FederateProfileJob) -> None:
    """Send Update(Person) of a local account whose profile changed to its remote
    followers."""
    account = await session.get(Account, payload["account_id"])
    if account is None or account.domain is not None or not account.public_key_pem:
        return
    document = actor_json(account, account.public_key_pem, await moved_to_uri(session, account))
    update = activities.update_actor_activity(document)
    deliver(session, account, await follower_inboxes(session, account.id), update)


async def federate_follow_answer(session: AsyncSession, payload: FederateFollowAnswerJob) -> None:
    """Send Accept (or Reject) of a remote account's Follow, answered later by a locked
    local account."""
    pair = await _pair(session, payload["account_id"], payload["follower_id"])
    if pair is None:
        return
    target, follower = pair
    follow = {"id": payload["follow_uri"], "actor": actor_uri(follower)}
    answer = "Accept" if payload["accept"] else "Reject"
    activity = activities.accept_activity(target, follow, answer)
    deliver(session, target, _inboxes([follower]), activity)


async def federate_account_delete(session: AsyncSession, payload: AccountDeleteJob) -> None:
    """Send Delete(Actor) of a deleted local account to the inboxes taken at its deletion."""
    account = await session.get(Account, payload["account_id"])
    if account is None or account.domain is not None or account.deleted_at is None:
        return
    deliver(session, account, set(payload["inboxes"]), activities.delete_actor_activity(account))


def _signed_by(account_id: int) -> Any:
    """Jobs still to run (pending or running) that deliver as `account_id` or will write such
    deliveries."""
    kinds = (JobKind.AP_DELIVER, JobKind.FEDERATE_ACCOUNT_DELETE)
    return select(Job.id).where(
        Job.kind.in_(kinds),
        or_(Job.state == JobState.PENDING, Job.state == JobState.RUNNING),
        _names_account(account_id),
    )


def _names_account(account_id: int) -> Any:
    """A job's payload names `account_id` (NUMERIC, not INTEGER: ids are 64-bit, which
    PostgreSQL's INTEGER cast would overflow)."""
    return Job.payload["account_id"].as_numeric(20, 0) == account_id


async def drop_account_key(session: AsyncSession, payload: AccountJob) -> None:
    """A deleted account's private key goes once no delivery signed with it is left (retried
    or postponed until then); its public key leaves the tombstone with it."""
    account = await session.get(Account, payload["account_id"])
    if account is None or account.domain is not None or account.deleted_at is None:
        return
    if await session.scalar(_signed_by(account.id).limit(1)) is not None:
        raise Postpone(KEY_DROP_WAIT, "deliveries signed with this key are still to be sent")
    await session.execute(delete(AccountKey).where(AccountKey.account_id == account.id))
    account.public_key_pem = None


async def federate_move(session: AsyncSession, payload: FederateMoveJob) -> None:
    """Send Move of a local account to its new account to its remote followers' servers."""
    account = await session.get(Account, payload["account_id"])
    if account is None or account.domain is not None or account.suspended_at is not None:
        return
    target = await session.get(Account, payload["target_account_id"])
    if target is None:
        return
    activity = activities.move_activity(account, actor_uri(target))
    deliver(session, account, await follower_inboxes(session, account.id), activity)


async def _signer(db: Database, sender_id: int | None) -> Signer | None:
    """Who signs a delivery: the instance actor (None), or a local account, with its key
    made now if it has none; None when the sender is gone, remote, or a deleted account
    whose key is gone (a new key would sign what nobody can check)."""
    if sender_id is None:
        return await instance_signer(db)
    async with db.session() as session:
        sender = await session.get(Account, sender_id)
    if sender is None or sender.domain is not None:
        return None
    if sender.deleted_at is not None:
        pair = await stored_key_pair(db, sender.id)
        return Signer(key_id(sender), pair.private_pem) if pair is not None else None
    return await signer_for(db, sender)


def delivery_domain(payload: DeliveryJob) -> str:
    """The domain a delivery goes to (the queue runs one domain's deliveries of a batch one
    after the other, different domains' at once: agora/job_registry.py)."""
    return domain_health.domain_of(payload["inbox"])


def _unsalvageable(status: int | None) -> bool:
    if status is None:
        return False
    return status == 501 or (400 <= status < 500 and status not in RETRYABLE_4XX)


async def send_delivery(db: Database, payload: DeliveryJob) -> None:
    """Phase 1 of `ap_deliver`: one signed POST (with the sender's followers-sync header
    when the delivery asks for it, computed now), unless the inbox's server is suspended here
    (domain_blocks.refuses, asked here so that no sender can forget it) and if its domain
    admits it (see the module docstring). Raises to be retried; `Postpone` while the
    domain's circuit is open."""
    inbox = payload["inbox"]
    covered: dict[str, str] = {}
    async with db.session() as session:
        refused = await domain_blocks.refuses(session, urlsplit(inbox).netloc.lower())
        sender_id = payload["account_id"]
        if payload.get("synchronize_followers") and sender_id is not None and not refused:
            covered = await followers_sync.delivery_headers(session, sender_id, inbox)
    if refused:
        FEDERATION_DELIVERIES.labels("dropped").inc()
        return
    signer = await _signer(db, payload["account_id"])
    if signer is None:
        log.info("federation: the sender of a delivery to %s is gone: dropped", inbox)
        FEDERATION_DELIVERIES.labels("dropped").inc()
        return
    domain = domain_health.domain_of(inbox)
    admission = await domain_health.admit(db, domain)
    if admission.action == "drop":
        log.info("federation: %s is unavailable: delivery to %s dropped", domain, inbox)
        FEDERATION_DELIVERIES.labels("dropped").inc()
        return
    if admission.action == "wait":
        FEDERATION_DELIVERIES.labels("postponed").inc()
        raise Postpone(admission.seconds, f"{domain} is failing: its circuit is open")
    try:
        await post_activity(inbox, payload["activity"], signer, covered)
    except FederationError as exc:
        if _unsalvageable(exc.status):  # it answered: the domain is up, the delivery is not
            log.info("federation: delivery to %s refused for good: %s", inbox, exc)
            FEDERATION_DELIVERIES.labels("refused").inc()
            if admission.failing:
                await domain_health.record_success(db, domain)
            return
        await domain_health.record_failure(db, domain)
        FEDERATION_DELIVERIES.labels("failed").inc()
        raise
    FEDERATION_DELIVERIES.labels("delivered").inc()
    if admission.failing:
        await domain_health.record_success(db, domain)


async def delivery_sent(session: AsyncSession, payload: DeliveryJob, prepared: None) -> None:
    """A delivery's only effect is on the other server; one by a deleted account wakes its
    `drop_account_key` job, which drops the key if this was the last one."""
    sender_id = payload["account_id"]
    if sender_id is None:
        return
    if await session.scalar(select(Account.deleted_at).where(Account.id == sender_id)) is None:
        return
    await session.execute(
        update(Job)
        .where(
            Job.kind == JobKind.DROP_ACCOUNT_KEY,
            Job.state == JobState.PENDING,
            _names_account(sender_id),
        )
        .values(run_at=utcnow())
    )
