"""Received Follow, Accept, Reject and Undo(Follow): the follow graph across servers.

A Follow of a local account goes through `relationships.follow` (blocks, locked accounts and
limits are its rules); an open account answers with Accept in the same transaction, so both
or neither happen. A Follow of a local account that moved (`moved_to_account_id`) is answered
with Reject and records nothing, as on Mastodon: its followers belong to the new account.
A locked account keeps the request with the Follow's id, and answers it (Accept or Reject)
when the person does (relationships.answer_follow_request). Accept /
Reject name our Follow by its id (`/follows/ID`, the request's id) or by its actor; only the
Follow's remote target may answer it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, FollowRequest
from agora.federation import activities
from agora.federation.actors import actor_uri
from agora.federation.inbound_common import Handler, id_of, local_account
from agora.federation.outbox import deliver
from agora.social.people import relationships
from agora.social.posts.post_uris import is_local_uri
from agora.social.rules.errors import DomainError

LOCAL_FOLLOW_RE = re.compile(r"^/follows/(\d{1,20})$")


async def _follow(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    target = await local_account(session, id_of(activity.get("object")))
    if target is None:
        return
    follow = {"id": activity["id"], "actor": actor_uri(actor)}
    if target.moved_to_account_id is not None:
        reject = activities.accept_activity(target, follow, "Reject")
        deliver(session, target, {actor.inbox_url or ""} - {""}, reject)
        return
    jobs = []
    if not target.locked:  # written before `follow` commits, so both or neither happen
        accept = activities.accept_activity(target, follow)
        jobs = deliver(session, target, {actor.inbox_url or ""} - {""}, accept)
    try:
        await relationships.follow(session, actor, target.id, uri=activity["id"])
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
        local = await local_account(session, id_of(follow.get("actor")))
        if local is not None:
            return local.id
    uri = id_of(follow)
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


async def _undo_follow(session: AsyncSession, actor: Account, undone: dict[str, Any]) -> None:
    target = await local_account(session, id_of(undone.get("object")))
    if target is not None:
        await relationships.unfollow(session, actor, target.id)


HANDLERS: dict[str, Handler] = {"Follow": _follow, "Accept": _accept, "Reject": _reject}
UNDO_HANDLERS: dict[str, Handler] = {"Follow": _undo_follow}
