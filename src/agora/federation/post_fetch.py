"""Fetching one remote post by its ActivityPub id and storing it, the one way every caller
does it: as a two-phase job (`fetch_remote_post`, for quotes and threads): the request runs
outside any transaction (`fetch_post`), the store in the job's own (`store_fetched_post`), so
a slow server never holds the database; or inline before an activity's transaction
(`fetch_and_store`, for the post an Announce boosts).

A fetched document is stored only when it is a Note or Question whose id is the one asked
for (or on the same host) and whose author is on that host too (`store_remote_post` checks
the author's host and attribution, as for a delivered post). When a stored post was waiting
to quote it, the quote is linked through the quote rule (quote_objects.link_quote). A post
that cannot be fetched is retried a few times (`quote_objects.FETCH_ATTEMPTS`), then given
up: the quoting post stays, without its quote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import Database
from agora.db.models import Account, Post
from agora.federation import inbound_posts, quote_objects
from agora.federation.actors import actor_for
from agora.federation.client import FederationError, fetch_json
from agora.federation.inbound_common import id_of, post_named
from agora.jobs.job_kinds import FetchPostJob
from agora.social.posts.post_uris import is_local_uri

POST_TYPES = {"Note", "Question"}


@dataclass(frozen=True, slots=True)
class FetchedPost:
    """A fetched post's document and its (stored) author."""

    author_id: int
    doc: dict[str, Any]


async def fetch_post_document(db: Database, uri: str) -> FetchedPost | None:
    """Fetch a remote post and its author (stored, or fetched now). None when it is not a
    post this server may store; FederationError when its server cannot be reached."""
    if is_local_uri(uri):
        return None
    doc = await fetch_json(uri)
    if not isinstance(doc, dict) or doc.get("type") not in POST_TYPES:
        return None
    doc_id, author_uri = id_of(doc), id_of(doc.get("attributedTo"))
    host = urlsplit(uri).netloc.lower()
    if not doc_id or not author_uri or urlsplit(doc_id).netloc.lower() != host:
        return None
    author = await actor_for(db, author_uri)
    return FetchedPost(author.id, doc)


async def fetch_and_store(db: Database, uri: str) -> None:
    """Fetch a remote post by its id and store it, unless it is here already (an Announce's
    post, fetched before the boost is applied: inbound_interactions' `PREPARE`);
    FederationError when its server cannot be reached."""
    async with db.session() as session:
        if await post_named(session, uri):
            return
    fetched = await fetch_post_document(db, uri)
    if fetched is None:
        return
    async with db.session(write=True) as session:
        await store_fetched(session, fetched)
        await session.commit()


async def fetch_post(db: Database, payload: FetchPostJob) -> FetchedPost | None:
    """The first phase of `fetch_remote_post`: the post, or None when it is gone or refused
    (retrying will not help); FederationError (retried) when its server cannot be reached."""
    try:
        return await fetch_post_document(db, payload["uri"])
    except FederationError as exc:
        if exc.permanent or exc.status in (401, 403, 404, 410):
            return None
        raise


async def store_fetched(session: AsyncSession, fetched: FetchedPost) -> Post | None:
    """Store a fetched post unless it is here already (by then); the stored post, or None
    when its author is gone or the post is refused (`store_remote_post`'s checks)."""
    author = await session.get(Account, fetched.author_id)
    if author is None or author.suspended_at is not None:
        return None
    found = await post_named(session, id_of(fetched.doc))
    return found or await inbound_posts.store_remote_post(session, author, fetched.doc)


async def store_fetched_post(
    session: AsyncSession, payload: FetchPostJob, fetched: FetchedPost | None
) -> None:
    """Store the fetched post (unless it is here already) and link the quote waiting for it."""
    if fetched is None:
        return
    found = await store_fetched(session, fetched)
    quoting = payload.get("quoted_by")
    quoting_post = await session.get(Post, quoting) if quoting is not None else None
    if found is not None and quoting_post is not None and quoting_post.quote_of_id is None:
        await quote_objects.link_quote(session, quoting_post, found.id)
