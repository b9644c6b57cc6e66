"""Incoming activities: checked at the door, processed as jobs.

`receive` (the inbox routes, personal and shared) accepts an activity only when:
- the body is a JSON object with an `id`, a `type` and an `actor` (4xx otherwise);
- the request is signed (draft-cavage or RFC 9421, federation/signatures.py) with the key of
  the activity's actor: the key is looked up (or fetched) by its key id, and its owner must be
  the `actor` (401 otherwise, "actor spoofing");
- the activity's id is on the actor's host (the same-origin rule);
- the signing key's server is not one this server suspended (403, before any fetch;
  social/people/domain_blocks.py).
Then it records the activity id (`inbox_activities`) and writes an `ap_inbox` job in the
same transaction, and answers 202: a redelivery finds the id recorded and changes nothing.
A verified activity also clears its domain's unavailable mark (federation/domain_health.py),
and its signed `Collection-Synchronization` header may queue a reconciliation of the sender's
local followers (federation/followers_sync.py).

The job is two-phase and runs in batches (jobs/queue.py `run_batch`: many received activities
per transaction, each in a savepoint, one that fails retried alone; a sender is read once per
transaction, `sender`; consecutive Creates of Notes are applied at once, `joins` and
`process_many`, with the effects each has alone, in their order, and each alone if that
fails): `prepare` first fetches, outside any transaction, what the activity
refers to and this server lacks (an area's
`PREPARE`, e.g. the post an Announce boosts); then `process` dispatches the activity by its
type to the handlers of the `inbound_<area>.py` modules (an Undo by the type of the object it
undoes, an Update by the type of the object it carries), which call the same services as the
other doors. No visibility or consent rule is restated there: a stored remote post is read
through the same rule as a local one. A handler refused by a rule (a block…) changes nothing;
the activity is then logged and dropped.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import Database
from agora.db.models import Account, InboxActivity, utcnow
from agora.db.upsert import insert_ignore_one
from agora.federation import (
    domain_health,
    followers_sync,
    inbound_follows,
    inbound_interactions,
    inbound_moderation,
    inbound_polls,
    inbound_posts,
    inbound_quotes,
)
from agora.federation.actors import current_actor, fetch_actor, known_actor
from agora.federation.client import FederationError
from agora.federation.inbound_common import Handler, Prepare, id_of
from agora.federation.signatures import SignatureError, signing_key_id, verify_request
from agora.jobs.job_kinds import InboxJob, JobKind
from agora.jobs.queue import enqueue
from agora.social.people import domain_blocks
from agora.social.posts.post_uris import is_local_uri
from agora.social.rules.errors import DomainError

log = logging.getLogger("agora.federation")
MAX_DEPTH = 8  # nesting of a received JSON document
INBOX_ATTEMPTS = 3
SENDERS = "agora_inbox_senders"  # `session.info` key: the senders read in this transaction
AREAS = (  # later areas win a type
    inbound_follows,
    inbound_posts,
    inbound_interactions,
    inbound_polls,
    inbound_quotes,
    inbound_moderation,
)
HANDLERS: dict[str, Handler] = {t: h for area in AREAS for t, h in area.HANDLERS.items()}
UNDO_HANDLERS: dict[str, Handler] = {t: h for area in AREAS for t, h in area.UNDO_HANDLERS.items()}
UPDATE_HANDLERS: dict[str, Handler] = {
    t: h for area in AREAS for t, h in getattr(area, "UPDATE_HANDLERS", {}).items()
}
PREPARE: dict[str, Prepare] = {
    t: p for area in AREAS for t, p in getattr(area, "PREPARE", {}).items()
}


class Refused(Exception):
    """An activity the inbox refuses; `status` is the HTTP answer (400, 401, 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Delivery:
    """One POST to an inbox, as received."""

    method: str
    url: str  # the full URL as this server's base URL names it
    headers: dict[str, str]  # lower-case names
    body: bytes


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def parse_activity(body: bytes) -> dict[str, Any]:
    """The activity in a body; Refused (400/422) unless it is a JSON object of bounded depth
    with an id, a type and an actor."""
    try:
        activity = json.loads(body)
    except ValueError:
        raise Refused(400, "The body is not JSON") from None
    if not isinstance(activity, dict):
        raise Refused(422, "The body is not an activity")
    if _depth(activity) > MAX_DEPTH:
        raise Refused(422, "The activity is nested too deeply")
    if not all(isinstance(activity.get(k), str) for k in ("id", "type")) or not id_of(
        activity.get("actor")
    ):
        raise Refused(422, "The activity lacks an id, a type or an actor")
    return activity


async def signing_actor(db: Database, delivery: Delivery, key_id: str) -> Account:
    """The remote account whose key signed the request (a delivery, or a signed GET under
    authorized fetch), checked against that key (fetched again once if the stored key
    fails: the actor may have changed keys); Refused (401) otherwise, and (403) when the
    key's server is one this one suspended, asked before any fetch, in the session that
    reads the stored actor."""
    owner_uri = key_id.split("#", 1)[0]
    if is_local_uri(owner_uri):
        raise Refused(401, "The key is not a remote actor's")
    async with db.session() as session:
        await _refuse_blocked(session, key_id)
        known = await known_actor(session, owner_uri)
    try:
        actor = await current_actor(db, owner_uri, known)
    except FederationError as exc:
        raise Refused(401, f"The signing key cannot be fetched: {exc}") from None
    for attempt in range(2):
        try:
            verify_request(
                delivery.method,
                delivery.url,
                delivery.headers,
                delivery.body,
                actor.public_key_pem or "",
            )
            return actor
        except SignatureError as exc:
            if attempt or "more than 12 hours" in str(exc) or "digest" in str(exc).lower():
                raise Refused(401, str(exc)) from None
        try:
            actor = await fetch_actor(db, owner_uri)
        except FederationError as exc:
            raise Refused(401, f"The signing key cannot be fetched: {exc}") from None
    raise Refused(401, "The signature does not verify")


async def refuse_blocked_server(db: Database, key_id: str) -> None:
    """Refused (403) when the key that signed a request is on a server this one suspended
    (signed fetches; deliveries ask it in `signing_actor`)."""
    async with db.session() as session:
        await _refuse_blocked(session, key_id)


async def _refuse_blocked(session: AsyncSession, key_id: str) -> None:
    if await domain_blocks.refuses(session, urlsplit(key_id).netloc.lower()):
        raise Refused(403, "This server is blocked here")


async def receive(db: Database, delivery: Delivery) -> bool:
    """Check and queue one delivery (see the module docstring). True when it was new, False
    for a redelivery; Refused for anything not accepted. An unknown sender's actor is fetched
    signed by `fetcher` when given (the personal inbox's owner)."""
    activity = parse_activity(delivery.body)
    key_id = signing_key_id(delivery.headers)
    if not key_id:
        raise Refused(401, "Request not signed")
    signer = await signing_actor(db, delivery, key_id)
    if id_of(activity["actor"]) != signer.uri:
        raise Refused(401, "The activity's actor is not the key's owner")
    if urlsplit(activity["id"]).netloc.lower() != (signer.domain or ""):
        raise Refused(401, "The activity's id is on another host than its actor")
    async with db.session(write=True) as session:
        new = await insert_ignore_one(
            session,
            InboxActivity,
            id_hash=hashlib.sha256(activity["id"].encode()).hexdigest(),
            received_at=utcnow(),
        )
        if new:
            enqueue(
                session,
                JobKind.AP_INBOX,
                {"activity": activity, "actor_id": signer.id},
                max_attempts=INBOX_ATTEMPTS,
            )
            await domain_health.heard_from(session, signer.domain or "")
            await followers_sync.schedule_sync(session, signer, delivery.headers)
        await session.commit()
    return new


# --- processing ---------------------------------------------------------------------------


async def prepare(db: Database, payload: InboxJob) -> None:
    """Fetch what a received activity refers to and is not stored here (its area's
    `PREPARE`), outside the job's transaction; a failed fetch leaves it to the handler to
    find nothing."""
    fetch = PREPARE.get(payload["activity"]["type"])
    if fetch is None:
        return
    try:
        await fetch(db, payload["activity"])
    except FederationError as exc:
        log.info("inbox: %s %s: %s", payload["activity"]["type"], payload["activity"]["id"], exc)


async def apply(session: AsyncSession, payload: InboxJob, prepared: None) -> None:
    """The second phase of the `ap_inbox` job: `process`."""
    await process(session, payload)


async def sender(session: AsyncSession, actor_id: int) -> Account | None:
    """The account that sent an activity, kept referenced by the session until its
    transaction ends: the session's identity map holds objects only while something does, so
    the next activities of a batch (jobs/queue.py `run_batch`) from the same sender find it
    there instead of reading it again."""
    actor = await session.get(Account, actor_id)
    if actor is not None:
        session.info.setdefault(SENDERS, {})[actor_id] = actor
    return actor


def joins(payload: InboxJob) -> bool:
    """Whether a received activity may be applied with the batch's others (`process_many`):
    a Create of a Note or a Question, the activity most received."""
    activity, note = payload["activity"], payload["activity"].get("object")
    return (
        activity["type"] == "Create"
        and isinstance(note, dict)
        and note.get("type") in inbound_posts.CREATED_TYPES
    )


async def process_many(session: AsyncSession, payloads: list[InboxJob]) -> None:
    """Apply received Creates (`joins`) at once, in their order, with the effects `process`
    has for each (jobs/queue.py `Together`): their senders read in one statement, then the
    notes stored together by the one writer of received posts (inbound_posts.create_many).
    A sender gone, local or suspended drops its activities, as in `process`. A rule's
    refusal (DomainError) is not caught here: the queue then applies each alone, where
    `process` logs and drops the refused one."""
    kept: dict[int, Account] = session.info.setdefault(SENDERS, {})
    wanted = {p["actor_id"] for p in payloads} - kept.keys()
    if wanted:
        found = await session.scalars(select(Account).where(Account.id.in_(wanted)))
        kept.update({a.id: a for a in found})
    creates = []
    for payload in payloads:
        # the identity map's (read again only when a rolled-back savepoint expired it)
        actor = await sender(session, payload["actor_id"]) if payload["actor_id"] in kept else None
        if actor is not None and actor.domain is not None and actor.suspended_at is None:
            creates.append((actor, payload["activity"]))
    await inbound_posts.create_many(session, creates)


async def process(session: AsyncSession, payload: InboxJob) -> None:
    """Apply one received activity (queued by `receive`) through its area's handler."""
    actor = await sender(session, payload["actor_id"])
    if actor is None or actor.domain is None or actor.suspended_at is not None:
        return
    activity = payload["activity"]
    handler = HANDLERS.get(activity["type"])
    carried = activity.get("object")
    if activity["type"] == "Undo" and isinstance(carried, dict):
        handler = UNDO_HANDLERS.get(str(carried.get("type")))
        activity = carried
    elif activity["type"] == "Update" and isinstance(carried, dict):
        handler = UPDATE_HANDLERS.get(str(carried.get("type")))
    if handler is None:
        log.info("inbox: %s activities are not supported yet", activity["type"])
        return
    try:
        await handler(session, actor, activity)
    except DomainError as exc:  # refused by a rule (a block…): nothing happens
        log.info("inbox: %s %s refused: %s", activity["type"], activity.get("id"), exc)
