"""Received Like, Announce (boosts) and their Undo, and Update(Person): reactions and
profiles across servers.

A Like or an Announce goes through the same services as a local like or boost
(`interactions.favourite`, `interactions.reblog`), with the remote actor as the one who
reacts: the visibility rule decides whether it may (a followers-only post only by a
follower, a direct one never boosted), a like or boost of a local post notifies its author as
a local one does, and a boost reaches the booster's local followers through the normal
fan-out. A boost keeps its Announce's id (`posts.uri`). An Announce of a remote post not
stored here has it fetched first (`PREPARE`, outside the job's transaction), stored with the
same checks as a delivered one (its id on its author's host, inbound_posts.store_remote_post).
An Undo finds what it undoes by the post it reacted to (as Mastodon sends it) or, for a boost,
by the Announce's id; it undoes only the sender's own reaction.

Update(Person) refreshes the sender's own stored account from the document it carries,
checked as a fetched one is (federation/actors.parse_actor: the id and inbox on the sender's
host, the key its own); an Update of anyone else is ignored.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import Database
from agora.db.models import Account, Post, Visibility
from agora.federation import activities, post_fetch
from agora.federation.actors import ACTOR_TYPES, parse_actor, store_actor
from agora.federation.client import FederationError
from agora.federation.inbound_common import Handler, Prepare, addresses, id_of, post_named
from agora.social.posts import interactions

log = logging.getLogger("agora.federation")


async def _like(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    post = await post_named(session, id_of(activity.get("object")))
    if post is not None:
        await interactions.favourite(session, actor, post.id)


async def _undo_like(session: AsyncSession, actor: Account, like: dict[str, Any]) -> None:
    post = await post_named(session, id_of(like.get("object")))
    if post is not None:
        await interactions.unfavourite(session, actor, post.id)


async def _announce(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    post = await post_named(session, id_of(activity.get("object")))
    if post is None:
        return
    to, cc = addresses(activity.get("to")), addresses(activity.get("cc"))
    # a boost is public, unlisted or for the booster's followers, never direct
    visibility = min(activities.visibility_of(to, cc, actor.followers_url), Visibility.PRIVATE)
    await interactions.reblog(
        session, actor, post.id, Visibility(visibility).api_name, uri=activity["id"]
    )


async def _undo_announce(session: AsyncSession, actor: Account, announce: dict[str, Any]) -> None:
    boosted = await session.scalar(
        select(Post.reblog_of_id).where(
            Post.uri == str(announce.get("id")), Post.account_id == actor.id
        )
    )
    if boosted is None:
        post = await post_named(session, id_of(announce.get("object")))
        boosted = post.id if post is not None else None
    if boosted is not None:
        await interactions.unreblog(session, actor, boosted)


async def _fetch_announced(db: Database, activity: dict[str, Any]) -> None:
    """Fetch and store the remote post an Announce boosts, when it is not stored here."""
    uri = id_of(activity.get("object"))
    if uri:
        await post_fetch.fetch_and_store(db, uri)


async def _update_person(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    doc = activity.get("object")
    if not isinstance(doc, dict) or doc.get("id") != actor.uri or actor.uri is None:
        return
    try:
        await store_actor(session, parse_actor(doc, actor.uri))
    except FederationError as exc:
        log.info("inbox: Update of %s refused: %s", actor.uri, exc)


HANDLERS: dict[str, Handler] = {"Like": _like, "Announce": _announce}
UNDO_HANDLERS: dict[str, Handler] = {"Like": _undo_like, "Announce": _undo_announce}
UPDATE_HANDLERS: dict[str, Handler] = {kind: _update_person for kind in ACTOR_TYPES}
PREPARE: dict[str, Prepare] = {"Announce": _fetch_announced}
