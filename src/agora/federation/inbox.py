"""Incoming activities: checked at the door, processed as jobs.

`receive` (the inbox routes, personal and shared) accepts an activity only when:
- the body is a JSON object with an `id`, a `type` and an `actor` (4xx otherwise);
- the request is signed (draft-cavage or RFC 9421, federation/signatures.py) with the key of
  the activity's actor: the key is looked up (or fetched) by its key id, and its owner must be
  the `actor` (401 otherwise, "actor spoofing");
- the activity's id is on the actor's host (the same-origin rule).
Then it records the activity id (`inbox_activities`) and writes an `ap_inbox` job in the
same transaction, and answers 202: a redelivery finds the id recorded and changes nothing.

The job (`process`) calls the same services as the other doors: `relationships.follow` for a
Follow (and sends Accept unless the account is locked, which keeps a request),
`relationships.answer_follow_request` for Accept / Reject of our Follow,
`relationships.unfollow` for Undo(Follow), `store_remote_post` + the normal fan-out for
Create(Note), `writing.delete_post` for Delete. No visibility or consent rule is restated
here: a stored remote post is read through the same rule as a local one.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import Database
from agora.db.models import Account, FollowRequest, InboxActivity, Mention, Post, utcnow
from agora.db.upsert import insert_ignore, insert_ignore_one
from agora.federation import activities
from agora.federation.actors import actor_for, actor_uri, fetch_actor, is_local_uri
from agora.federation.client import FederationError
from agora.federation.outbox import deliver
from agora.federation.signatures import SignatureError, signing_key_id, verify_request
from agora.ids import new_id
from agora.jobs.job_kinds import InboxJob, JobKind
from agora.jobs.queue import enqueue
from agora.social.people import relationships
from agora.social.people.lookup import find_by_username
from agora.social.posts import writing
from agora.social.posts.text import sanitize_html
from agora.social.rules.errors import DomainError

log = logging.getLogger("agora.federation")
MAX_DEPTH = 8  # nesting of a received JSON document
LOCAL_ACTOR_RE = re.compile(r"^/users/([A-Za-z0-9_]{1,30})$")
LOCAL_FOLLOW_RE = re.compile(r"^/follows/(\d{1,20})$")
INBOX_ATTEMPTS = 3


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


def _id_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    found = value.get("id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


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
    if not all(isinstance(activity.get(k), str) for k in ("id", "type")) or not _id_of(
        activity.get("actor")
    ):
        raise Refused(422, "The activity lacks an id, a type or an actor")
    return activity


async def _signing_actor(db: Database, delivery: Delivery, key_id: str) -> Account:
    """The remote account whose key signed the delivery, checked against that key (fetched
    again once if the stored key fails: the actor may have changed keys)."""
    owner_uri = key_id.split("#", 1)[0]
    if is_local_uri(owner_uri):
        raise Refused(401, "The key is not a remote actor's")
    try:
        actor = await actor_for(db, owner_uri)
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


async def receive(db: Database, delivery: Delivery) -> bool:
    """Check and queue one delivery (see the module docstring). True when it was new, False
    for a redelivery; Refused for anything not accepted."""
    activity = parse_activity(delivery.body)
    key_id = signing_key_id(delivery.headers)
    if not key_id:
        raise Refused(401, "Request not signed")
    signer = await _signing_actor(db, delivery, key_id)
    if _id_of(activity["actor"]) != signer.uri:
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
        await session.commit()
    return new


# --- processing ---------------------------------------------------------------------------


async def _local_account(session: AsyncSession, uri: str | None) -> Account | None:
    if not uri or not is_local_uri(uri):
        return None
    found = LOCAL_ACTOR_RE.match(urlsplit(uri).path)
    return await find_by_username(session, found.group(1)) if found else None


async def process(session: AsyncSession, payload: InboxJob) -> None:
    """Apply one received activity (queued by `receive`) through the services."""
    actor = await session.get(Account, payload["actor_id"])
    if actor is None or actor.domain is None or actor.suspended_at is not None:
        return
    activity = payload["activity"]
    handler = HANDLERS.get(activity["type"])
    if handler is None:
        log.info("inbox: %s activities are not supported yet", activity["type"])
        return
    try:
        await handler(session, actor, activity)
    except DomainError as exc:  # refused by a rule (a block…): nothing happens
        log.info("inbox: %s %s refused: %s", activity["type"], activity["id"], exc)


async def _follow(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    target = await _local_account(session, _id_of(activity.get("object")))
    if target is None:
        return
    jobs = []
    if not target.locked:  # written before `follow` commits, so both or neither happen
        follow = {"id": activity["id"], "actor": actor_uri(actor)}
        accept = activities.accept_activity(target, follow)
        jobs = deliver(session, target, {actor.inbox_url or ""} - {""}, accept)
    try:
        await relationships.follow(session, actor, target.id)
    except DomainError:  # refused (a block): no Accept either
        for job in jobs:
            if job in session.new:
                session.expunge(job)
            else:
                await session.delete(job)
        raise


async def _our_follow(session: AsyncSession, actor: Account, follow: Any) -> int | None:
    """The local follower of the Follow that `actor` (its remote target) answers."""
    if isinstance(follow, dict):
        local = await _local_account(session, _id_of(follow.get("actor")))
        if local is not None:
            return local.id
    uri = _id_of(follow)
    found = LOCAL_FOLLOW_RE.match(urlsplit(uri).path) if uri and is_local_uri(uri) else None
    if found is None:
        return None
    request = await session.get(FollowRequest, int(found.group(1)))
    if request is None or request.target_account_id != actor.id:
        return None
    return request.account_id


async def _accept(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    follower = await _our_follow(session, actor, activity.get("object"))
    if follower is not None:
        await relationships.answer_follow_request(session, actor, follower, accept=True)


async def _reject(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    follower = await _our_follow(session, actor, activity.get("object"))
    if follower is not None:
        follower_account = await session.get(Account, follower)
        if follower_account is not None:
            await relationships.unfollow(session, follower_account, actor.id)


async def _undo(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    undone = activity.get("object")
    if isinstance(undone, dict) and undone.get("type") == "Follow":
        target = await _local_account(session, _id_of(undone.get("object")))
        if target is not None:
            await relationships.unfollow(session, actor, target.id)


async def _create(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    note = activity.get("object")
    if isinstance(note, dict) and note.get("type") == "Note":
        await store_remote_post(session, actor, note)


async def _delete(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    uri = _id_of(activity.get("object"))
    if not uri:
        return
    post_id = await session.scalar(
        select(Post.id).where(Post.uri == uri, Post.account_id == actor.id)
    )
    if post_id is not None:
        await writing.delete_post(session, actor, post_id)


HANDLERS = {
    "Follow": _follow,
    "Accept": _accept,
    "Reject": _reject,
    "Undo": _undo,
    "Create": _create,
    "Delete": _delete,
}


def _addresses(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [i for i in (_id_of(v) for v in items) if i]


def _published(note: dict[str, Any]) -> datetime:
    try:
        when = datetime.fromisoformat(str(note.get("published", "")).replace("Z", "+00:00"))
    except ValueError:
        return utcnow()
    return when if when.tzinfo is not None and when <= utcnow() else utcnow()


async def store_remote_post(
    session: AsyncSession, author: Account, note: dict[str, Any]
) -> Post | None:
    """Store a Note by a remote author (once per id) and hand it to the normal fan-out.
    Its HTML is sanitised as local HTML is; its visibility comes from its addressing; local
    accounts it addresses are its mentions. None when refused (another host, another author)
    or already stored. Does not commit."""
    uri, content = note.get("id"), note.get("content")
    if not isinstance(uri, str) or urlsplit(uri).netloc.lower() != author.domain:
        return None
    if _id_of(note.get("attributedTo")) != author.uri:
        return None
    if await session.scalar(select(Post.id).where(Post.uri == uri)):
        return None
    to, cc = _addresses(note.get("to")), _addresses(note.get("cc"))
    visibility = activities.visibility_of(to, cc, author.followers_url)
    html = sanitize_html(content if isinstance(content, str) else "")
    summary = note.get("summary")
    post = Post(
        id=new_id(),
        account_id=author.id,
        uri=uri,
        url=note.get("url") if isinstance(note.get("url"), str) else None,
        text=_plain(html),
        content_html=html,
        spoiler_text=summary[:500] if isinstance(summary, str) else "",
        sensitive=bool(note.get("sensitive")),
        visibility=int(visibility),
        created_at=_published(note),
        replies_count=0,
        reblogs_count=0,
        favourites_count=0,
    )
    session.add(post)
    await session.flush()
    mentioned = {
        a.id for a in [await _local_account(session, uri) for uri in {*to, *cc}] if a is not None
    }
    if mentioned:
        await session.execute(
            insert_ignore(session, Mention),
            [{"post_id": post.id, "account_id": a} for a in mentioned],
        )
    await session.execute(
        update(Account)
        .where(Account.id == author.id)
        .values(statuses_count=Account.statuses_count + 1, last_status_at=utcnow())
    )
    enqueue(session, JobKind.DISTRIBUTE_POST, {"post_id": post.id})
    return post


def _plain(html: str) -> str:
    """The text of sanitised HTML (for search and the assistant), paragraphs on new lines."""
    text = re.sub(r"<br\s*/?>|</p>\s*<p>", "\n", html)
    return html_lib.unescape(re.sub(r"<[^>]+>", "", text)).strip()
