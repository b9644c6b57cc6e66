"""The `fetch_thread` job (scheduled by social/reading/remote_threads.py when someone opens a
remote post's thread): the post's missing ancestors and its replies, fetched from their
servers and stored, so the thread is complete at the next look.

Two phases, as every fetch: `fetch_thread` reads everything outside any transaction, then
`store_thread` stores it in the job's own, ancestors oldest first and then replies in
breadth-first order, so a post's parent is stored before it is. Caps: at most
`MAX_ANCESTORS` ancestors (the `inReplyTo` chain, stopping at the first one stored here),
`MAX_REPLIES` replies at all depths and `MAX_PAGES` collection pages per run. Every post is
fetched from its own id and checked as any fetched post (post_fetch.fetch_post_document: its
id on the host it came from, its author on that host); a collection page is read only from
the host of the post whose replies it lists. A post or page that cannot be fetched is
skipped; the next look after 15 minutes tries again.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import Database
from agora.db.models import Post
from agora.federation.client import FederationError, fetch_json
from agora.federation.inbound_common import id_of
from agora.federation.post_fetch import FetchedPost, fetch_post_document, store_fetched
from agora.jobs.job_kinds import ThreadJob
from agora.social.posts.post_uris import is_local_uri

log = logging.getLogger("agora.federation")
MAX_ANCESTORS = 20
MAX_REPLIES = 1000
MAX_PAGES = 50


async def _document(db: Database, uri: str) -> FetchedPost | None:
    try:
        return await fetch_post_document(db, uri)
    except FederationError as exc:
        log.info("thread: %s not fetched: %s", uri, exc)
        return None


async def _stored(db: Database, uri: str) -> bool:
    if is_local_uri(uri):
        return True
    async with db.session() as session:
        return await session.scalar(select(Post.id).where(Post.uri == uri)) is not None


class _Pages:
    """Reads `replies` collections page by page, within `MAX_PAGES` for the whole job."""

    def __init__(self) -> None:
        self.read = 0

    async def _page(self, value: Any, host: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        if not isinstance(value, str) or urlsplit(value).netloc.lower() != host:
            return None
        if self.read >= MAX_PAGES:
            return None
        self.read += 1
        try:
            page = await fetch_json(value)
        except FederationError as exc:
            log.info("thread: page %s not fetched: %s", value, exc)
            return None
        return page if isinstance(page, dict) else None

    async def reply_ids(self, doc: dict[str, Any], limit: int) -> list[str]:
        """Up to `limit` ids of the replies a post's `replies` collection lists."""
        host = urlsplit(id_of(doc) or "").netloc.lower()
        collection = await self._page(doc.get("replies"), host)
        page = await self._page(collection.get("first"), host) if collection else None
        ids: list[str] = []
        if collection is not None and page is None:
            page = collection  # items given on the collection itself
        seen_pages: set[str] = set()
        while page is not None and len(ids) < limit:
            items = page.get("orderedItems", page.get("items"))
            for item in items if isinstance(items, list) else []:
                found = id_of(item)
                if found and found not in ids:
                    ids.append(found)
            following = page.get("next")
            key = id_of(following) or ""
            if not following or key in seen_pages:
                break
            seen_pages.add(key)
            page = await self._page(following, host)
        return ids[:limit]


async def fetch_thread(db: Database, payload: ThreadJob) -> list[FetchedPost]:
    """The first phase: the post's missing ancestors (oldest first) and replies (parents
    before children) as fetched documents."""
    async with db.session() as session:
        uri = await session.scalar(select(Post.uri).where(Post.id == payload["post_id"]))
    root = await _document(db, uri) if uri else None
    if root is None:
        return []
    ancestors: list[FetchedPost] = []
    parent = id_of(root.doc.get("inReplyTo"))
    while parent and len(ancestors) < MAX_ANCESTORS and not await _stored(db, parent):
        found = await _document(db, parent)
        if found is None:
            break
        ancestors.append(found)
        parent = id_of(found.doc.get("inReplyTo"))
    replies: list[FetchedPost] = []
    seen = {id_of(root.doc)}
    queue, pages = [root.doc], _Pages()
    while queue and len(replies) < MAX_REPLIES:
        for reply in await pages.reply_ids(queue.pop(0), MAX_REPLIES - len(replies)):
            if reply in seen or is_local_uri(reply):
                continue
            seen.add(reply)
            found = await _document(db, reply)
            if found is not None:
                replies.append(found)
                queue.append(found.doc)
    return [*reversed(ancestors), *replies]


async def store_thread(session: AsyncSession, payload: ThreadJob, posts: list[FetchedPost]) -> None:
    """The second phase: store what was fetched (what is here already is left as it is)."""
    for fetched in posts:
        await store_fetched(session, fetched)
