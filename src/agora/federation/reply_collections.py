"""The `replies` collection of a local Note, so other servers can complete its thread (as
this one does for theirs, federation/thread_fetch.py): a `Collection` whose first page is
embedded in the Note, further pages at `…/statuses/ID/replies?page=true&min_id=X`, oldest
first, `PAGE_SIZE` ids a page.

What it lists is what anybody may see: direct replies to the post that the visibility rule
shows to nobody in particular (`plain_visible_to(None)`: public or unlisted, not deleted, the
author not suspended), local ones by their local id and remote ones by theirs. A post that
is not public or unlisted publishes no collection.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from agora.db.models import Account, Post
from agora.federation.activities import note_uri
from agora.social.rules.visibility import is_public_or_unlisted, plain_visible_to

PAGE_SIZE = 20


def collection_uri(note_id: str) -> str:
    """The id of a Note's replies collection."""
    return f"{note_id}/replies"


def _replies(min_id: int = 0) -> Select[Post, Account]:
    """Direct replies anybody may see (module docstring), oldest first, with their authors."""
    author = aliased(Account)  # not the Account the visibility rule correlates
    return (
        select(Post, author)
        .join(author, author.id == Post.account_id)
        .where(Post.id > min_id, Post.reblog_of_id.is_(None), plain_visible_to(None, Post))
        .order_by(Post.id)
    )


def _page(note_id: str, min_id: int, rows: list[tuple[Post, Account]]) -> dict[str, Any]:
    base = collection_uri(note_id)
    page: dict[str, Any] = {
        "id": f"{base}?page=true" + (f"&min_id={min_id}" if min_id else ""),
        "type": "CollectionPage",
        "partOf": base,
        "items": [note_uri(by, reply) for reply, by in rows[:PAGE_SIZE]],
    }
    if len(rows) >= PAGE_SIZE:
        page["next"] = f"{base}?page=true&min_id={rows[PAGE_SIZE - 1][0].id}"
    return page


async def replies_page(
    session: AsyncSession, post: Post, note_id: str, min_id: int = 0
) -> dict[str, Any]:
    """One page of a local post's replies (ids after `min_id`), with the next page's link
    when it is full."""
    query = _replies(min_id).where(Post.in_reply_to_id == post.id).limit(PAGE_SIZE)
    rows = [(reply, by) for reply, by in (await session.execute(query)).all()]
    return _page(note_id, min_id, rows)


async def first_replies_of(
    session: AsyncSession, post_ids: list[int]
) -> dict[int, list[tuple[Post, Account]]]:
    """The first page of replies of each of these posts, in one query (a post with more
    replies than a page reads them all: the archive of a person's own posts)."""
    found: dict[int, list[tuple[Post, Account]]] = {p: [] for p in post_ids}
    if post_ids:
        query = _replies().where(Post.in_reply_to_id.in_(post_ids))
        for reply, by in (await session.execute(query)).all():
            found[reply.in_reply_to_id or 0].append((reply, by))
    return found


async def replies_collection(
    session: AsyncSession,
    post: Post,
    note_id: str,
    first_rows: list[tuple[Post, Account]] | None = None,
) -> dict[str, Any] | None:
    """The `replies` of a local post's Note (its first page embedded), or None when the post
    is not public or unlisted; `first_rows` are its first replies when the caller loaded
    them already (`first_replies_of`)."""
    if not is_public_or_unlisted(post.visibility):
        return None
    if first_rows is None:
        first = await replies_page(session, post, note_id)
    else:
        first = _page(note_id, 0, first_rows)
    return {"id": collection_uri(note_id), "type": "Collection", "first": first}
