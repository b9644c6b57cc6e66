"""Followers collection synchronisation across servers (FEP-8fcf), both ends.

Sending: a delivery of a post (`outbox.federate_post` marks it `synchronize_followers`)
carries a `Collection-Synchronization` header, signed with the rest of the request: the
author's followers collection (`collectionId`), the URL of its partial followers collection
(`url`, `/users/NAME/followers_synchronization`) and the digest of the author's followers on
the inbox's server (`digest`: the XOR of the SHA-256 of each follower's actor id, in hex).
It is computed when the delivery is sent (`header_for`), from the same query that answers
the partial collection (`followers_on`), which is served only to a signed fetch and holds
only the followers on the signer's own server (`partial_collection`): nobody learns more
than their own server already knows.

Receiving: `inbox.receive` hands a verified delivery's headers to `schedule_sync`. The header
is ignored unless the signature covers it, its `collectionId` is the sender's followers
collection as stored here, and its `url` is on the sender's host. When its digest differs
from the digest of the local accounts following the sender here, an `ap_sync_followers` job
(at most one pending per sender) fetches `url` signed by the instance actor
(`fetch_partial`, outside any transaction) and `reconcile`s, as Mastodon does:
- a local follow of the sender that its server does not list ends
  (`relationships.stop_following`, which also sends Undo(Follow));
- a listed local account whose request to the sender is pending now follows it (the other
  side says it does: the request counts as accepted);
- a listed local account that neither follows the sender nor asked is sent Undo(Follow), so
  the other side drops it too.
The list is the other server's word about its own actor only: an item that is not a local
account's actor id is ignored, and at most `MAX_UNKNOWN` listed accounts without a follow
here are looked at per sync.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import Database
from agora.db.models import Account, Follow, FollowRequest, Job
from agora.federation.actors import CONTEXT, actor_uri, fetch_signed
from agora.federation.client import FederationError
from agora.federation.inbound_common import id_of, local_account
from agora.federation.signatures import header_params, signature_covers
from agora.jobs.job_kinds import FollowersSyncJob, JobKind, JobState
from agora.jobs.queue import enqueue
from agora.social.people import relationships
from agora.social.posts.post_uris import is_local_uri

log = logging.getLogger("agora.federation")
SYNC_HEADER = "collection-synchronization"
SYNC_ATTEMPTS = 3
# Listed local accounts this server has no follow of, looked at per sync (each costs a look-up
# and usually an Undo to the lister itself): legitimately few; a longer list is cut here.
MAX_UNKNOWN = 200


def partial_digest(uris: Iterable[str]) -> str:
    """FEP-8fcf's digest of a set of actor ids: the XOR of their SHA-256, 64 hex digits
    (zeros for none)."""
    value = 0
    for uri in set(uris):
        value ^= int.from_bytes(hashlib.sha256(uri.encode()).digest(), "big")
    return f"{value:064x}"


def partial_url(account: Account) -> str:
    """The URL of a local account's partial followers collection."""
    return f"{actor_uri(account)}/followers_synchronization"


async def followers_on(session: AsyncSession, account_id: int, domain: str) -> list[str]:
    """The actor ids of a local account's followers on the server `domain` (host and port,
    lower case), sorted."""
    rows = await session.scalars(
        select(Account.uri)
        .join(Follow, Follow.account_id == Account.id)
        .where(Follow.target_account_id == account_id, Account.domain == domain)
    )
    return sorted(uri for uri in rows if uri)


async def header_for(session: AsyncSession, account: Account, inbox: str) -> str:
    """The `Collection-Synchronization` header of a delivery by a local account to `inbox`."""
    domain = urlsplit(inbox).netloc.lower()
    digest = partial_digest(await followers_on(session, account.id, domain))
    return (
        f'collectionId="{actor_uri(account)}/followers", '
        f'url="{partial_url(account)}", digest="{digest}"'
    )


async def delivery_headers(session: AsyncSession, sender_id: int, inbox: str) -> dict[str, str]:
    """The headers (lower-case names) a delivery by the local account `sender_id` to `inbox`
    adds and signs: its `Collection-Synchronization` (none when the sender is gone)."""
    sender = await session.get(Account, sender_id)
    if sender is None or sender.domain is not None:
        return {}
    return {SYNC_HEADER: await header_for(session, sender, inbox)}


async def partial_collection(
    session: AsyncSession, account: Account, domain: str
) -> dict[str, Any]:
    """The partial followers collection of a local account for the server `domain` (the
    signer's of the fetch): all of them at once, as Mastodon serves it."""
    items = await followers_on(session, account.id, domain)
    return {
        "@context": CONTEXT,
        "id": partial_url(account),
        "type": "OrderedCollection",
        "totalItems": len(items),
        "orderedItems": items,
    }


# --- receiving --------------------------------------------------------------------------


def _claimed_url(actor: Account, headers: Mapping[str, str]) -> tuple[str, str] | None:
    """The (url, digest) of a delivery's signed header that passes FEP-8fcf's checks."""
    value = headers.get(SYNC_HEADER)
    if not value or not signature_covers(headers, SYNC_HEADER):
        return None
    params = header_params(value)
    collection, url, digest = (params.get(k) for k in ("collectionid", "url", "digest"))
    if not (collection and url and digest) or collection != actor.followers_url:
        return None
    host = actor.domain or ""
    if urlsplit(collection).netloc.lower() != host or urlsplit(url).netloc.lower() != host:
        return None
    return url, digest.lower()


async def local_followers(session: AsyncSession, actor: Account) -> list[Account]:
    """The local accounts following a remote actor."""
    rows = await session.scalars(
        select(Account)
        .join(Follow, Follow.account_id == Account.id)
        .where(Follow.target_account_id == actor.id, Account.domain.is_(None))
    )
    return list(rows.all())


async def schedule_sync(session: AsyncSession, actor: Account, headers: Mapping[str, str]) -> bool:
    """In the transaction that accepts a delivery from `actor`: queue `ap_sync_followers` when
    its header's digest differs from ours (see the module docstring). Whether it did."""
    claimed = _claimed_url(actor, headers)
    if claimed is None:
        return False
    url, digest = claimed
    ours = await local_followers(session, actor)
    if partial_digest(actor_uri(follower) for follower in ours) == digest:
        return False
    pending = await session.scalar(
        select(Job.id)
        .where(
            Job.kind == JobKind.AP_SYNC_FOLLOWERS,
            or_(Job.state == JobState.PENDING, Job.state == JobState.RUNNING),
            Job.payload["account_id"].as_numeric(20, 0) == actor.id,
        )
        .limit(1)
    )
    if pending is not None:
        return False
    payload: FollowersSyncJob = {"account_id": actor.id, "url": url}
    enqueue(session, JobKind.AP_SYNC_FOLLOWERS, payload, max_attempts=SYNC_ATTEMPTS)
    return True


def _items(document: Any) -> list[str] | None:
    """The actor ids a fetched collection lists (its `orderedItems` or `items`, or those of
    an embedded `first` page); None when it is not a collection."""
    if not isinstance(document, dict):
        return None
    for source in (document, document.get("first")):
        if isinstance(source, dict):
            items = source.get("orderedItems", source.get("items"))
            if isinstance(items, list):
                return [i for i in (id_of(v) for v in items) if i]
    return None


async def fetch_partial(db: Database, payload: FollowersSyncJob) -> list[str] | None:
    """Phase 1 of `ap_sync_followers`: the partial collection, fetched signed by the instance
    actor; None (nothing to reconcile) when its server refuses it for good or it is not a
    collection. Raises to be retried otherwise."""
    try:
        listed = _items(await fetch_signed(db, payload["url"]))
    except FederationError as exc:
        if exc.permanent or (exc.status is not None and 400 <= exc.status < 500):
            log.info("followers sync: %s: %s", payload["url"], exc)
            return None
        raise
    if listed is None:
        log.info("followers sync: %s is not a collection", payload["url"])
    return listed


async def reconcile(
    session: AsyncSession, payload: FollowersSyncJob, listed: list[str] | None
) -> None:
    """Phase 2 of `ap_sync_followers`: the local follows of the remote account made to agree
    with the list its server gave (see the module docstring)."""
    actor = await session.get(Account, payload["account_id"])
    if listed is None or actor is None or actor.domain is None:
        return
    wanted = set(listed)
    followers = await local_followers(session, actor)
    for follower in followers:
        if actor_uri(follower) not in wanted:
            log.info("followers sync: %s no longer follows %s", follower.username, actor.uri)
            await relationships.stop_following(session, follower, actor)
    known = {actor_uri(f) for f in followers}
    unknown = sorted(u for u in wanted - known if is_local_uri(u))
    if len(unknown) > MAX_UNKNOWN:
        log.info("followers sync: %s lists %d unknown followers", actor.uri, len(unknown))
    for uri in unknown[:MAX_UNKNOWN]:
        local = await local_account(session, uri)
        if local is None:
            continue
        requested = await session.scalar(
            select(FollowRequest.id).where(
                FollowRequest.account_id == local.id, FollowRequest.target_account_id == actor.id
            )
        )
        if requested is not None:
            await relationships.answer_follow_request(session, actor, local.id, accept=True)
        else:  # the other side thinks it follows: tell it it does not
            await relationships.stop_following(session, local, actor)
