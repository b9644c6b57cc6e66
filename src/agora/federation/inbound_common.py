"""What every handler of received activities shares: reading ids and addresses out of
ActivityStreams JSON, and finding the local account or the post (local, or remote and stored
here) a URI names. Handlers live in
`inbound_<area>.py` modules, each exporting `HANDLERS` (activity type -> handler) and
`UNDO_HANDLERS` (undone object's type -> handler), and optionally `UPDATE_HANDLERS` (updated
object's type -> handler) and `PREPARE` (activity type -> what to fetch first);
federation/inbox.py dispatches to them.
A handler calls the services (never restates a rule) and does not commit."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import Database
from agora.db.models import Account, Post
from agora.social.people.lookup import find_by_username
from agora.social.posts.post_uris import is_local_uri, local_post_ref

LOCAL_ACTOR_RE = re.compile(r"^/users/([A-Za-z0-9_]{1,30})$")

Handler = Callable[[AsyncSession, Account, dict[str, Any]], Awaitable[None]]
# fetches, before the job's transaction, what an activity refers to and is not stored here
Prepare = Callable[[Database, dict[str, Any]], Awaitable[None]]


def id_of(value: Any) -> str | None:
    """The id of an ActivityStreams value: the string itself, or an object's `id`."""
    if isinstance(value, str):
        return value
    found = value.get("id") if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


def addresses(value: Any) -> list[str]:
    """The ids in an addressing field (`to`, `cc`): one value or a list."""
    items = value if isinstance(value, list) else [value]
    return [i for i in (id_of(v) for v in items) if i]


async def local_account(session: AsyncSession, uri: str | None) -> Account | None:
    """The local account an actor URI of this server names, or None."""
    if not uri or not is_local_uri(uri):
        return None
    found = LOCAL_ACTOR_RE.match(urlsplit(uri).path)
    return await find_by_username(session, found.group(1)) if found else None


async def post_named(session: AsyncSession, uri: str | None) -> Post | None:
    """The post an ActivityPub id names: a local post (`/users/NAME/statuses/ID`, or its
    `/@NAME/ID` page), or a remote post stored here; None when unknown. Whether anyone may
    see it is left to the services the handlers call."""
    if not uri:
        return None
    if not is_local_uri(uri):
        return await session.scalar(select(Post).where(Post.uri == uri))
    found = local_post_ref(uri)
    if found is None:
        return None
    author = await find_by_username(session, found[0])
    post = await session.get(Post, found[1])
    if author is None or post is None or post.account_id != author.id or post.uri is not None:
        return None
    return post
