"""A local account's ActivityPub collections, paged: the outbox, followers, following and
featured (pinned posts).

Each collection is an `OrderedCollection` with its `totalItems` and a `first` page
(`?page=true`); a page (`OrderedCollectionPage`) holds up to `PAGE_SIZE` items, newest
first, and links the `next` one by keyset (`?page=true&max_id=ID`, ids below ID), so a page
costs the same however deep it is.

- outbox: Create activities of the account's public and unlisted posts (not boosts), read
  through the visibility rule as nobody (the same rule that serves one Note);
- followers / following: actor ids, suspended accounts left out; when the account hides its
  collections (`hide_collections`, Mastodon's setting) only `totalItems` is given;
- featured: the pinned public and unlisted posts as Notes (no paging: pins are few);
- featured tags: the hashtags the account features on its profile, as `Hashtag`s (no paging:
  they are few, `limits.FEATURED_TAGS`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, Follow, Mention, Pin, Post
from agora.federation import activities
from agora.federation.actors import CONTEXT, actor_uri, base_url
from agora.social.posts.featured_tags import featured_tags_of
from agora.social.rules.visibility import plain_visible_to

PAGE_SIZE = 20


def collection(uri: str, total: int, *, paged: bool = True) -> dict[str, Any]:
    """A collection's head: its count and, unless hidden, its first page."""
    head: dict[str, Any] = {
        "@context": CONTEXT,
        "id": uri,
        "type": "OrderedCollection",
        "totalItems": total,
    }
    if paged:
        head["first"] = f"{uri}?page=true"
    return head


def page(uri: str, items: list[Any], next_max_id: int | None, max_id: int | None) -> dict[str, Any]:
    """One page of a collection, linking the next when there may be one."""
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": f"{uri}?page=true" + (f"&max_id={max_id}" if max_id is not None else ""),
        "type": "OrderedCollectionPage",
        "partOf": uri,
        "orderedItems": items,
    }
    if next_max_id is not None:
        doc["next"] = f"{uri}?page=true&max_id={next_max_id}"
    return doc


async def mentions_of(session: AsyncSession, post_ids: list[int]) -> dict[int, list[Account]]:
    """The accounts each post mentions, in one query."""
    found: dict[int, list[Account]] = defaultdict(list)
    if post_ids:
        rows = await session.execute(
            select(Mention.post_id, Account)
            .join(Account, Account.id == Mention.account_id)
            .where(Mention.post_id.in_(post_ids))
            .order_by(Account.id)
        )
        for post_id, account in rows:
            found[post_id].append(account)
    return found


def _public_posts(account: Account) -> Select[Post]:
    return select(Post).where(
        Post.account_id == account.id,
        Post.reblog_of_id.is_(None),
        plain_visible_to(None, Post),  # as nobody: public and unlisted, alive
    )


async def outbox_page(
    session: AsyncSession, account: Account, max_id: int | None
) -> dict[str, Any]:
    """A page of the outbox: Create activities, newest first."""
    query = _public_posts(account).order_by(Post.id.desc()).limit(PAGE_SIZE)
    if max_id is not None:
        query = query.where(Post.id < max_id)
    posts = list((await session.scalars(query)).all())
    mentions = await mentions_of(session, [p.id for p in posts])
    items = []
    for post in posts:
        create = activities.create_activity(activities.note_json(post, account, mentions[post.id]))
        items.append({k: v for k, v in create.items() if k != "@context"})
    more = posts[-1].id if len(posts) == PAGE_SIZE else None
    return page(f"{actor_uri(account)}/outbox", items, more, max_id)


async def people_page(
    session: AsyncSession, account: Account, which: str, max_id: int | None
) -> dict[str, Any]:
    """A page of `followers` or `following`: actor ids, newest follow first."""
    mine, theirs = (
        (Follow.target_account_id, Follow.account_id)
        if which == "followers"
        else (Follow.account_id, Follow.target_account_id)
    )
    query = (
        select(Follow.id, Account)
        .join(Account, Account.id == theirs)
        .where(mine == account.id, Account.suspended_at.is_(None))
        .order_by(Follow.id.desc())
        .limit(PAGE_SIZE)
    )
    if max_id is not None:
        query = query.where(Follow.id < max_id)
    rows = (await session.execute(query)).all()
    items = [actor_uri(other) for _, other in rows]
    more = rows[-1][0] if len(rows) == PAGE_SIZE else None
    return page(f"{actor_uri(account)}/{which}", items, more, max_id)


async def featured(session: AsyncSession, account: Account) -> dict[str, Any]:
    """The featured collection: the pinned public and unlisted posts as Notes."""
    posts = list(
        (
            await session.scalars(
                _public_posts(account)
                .join(Pin, (Pin.post_id == Post.id) & (Pin.account_id == account.id))
                .order_by(Pin.id.desc())
            )
        ).all()
    )
    mentions = await mentions_of(session, [p.id for p in posts])
    notes = [activities.note_json(p, account, mentions[p.id]) for p in posts]
    return {
        **collection(f"{actor_uri(account)}/collections/featured", len(notes), paged=False),
        "orderedItems": notes,
    }


async def featured_tags(session: AsyncSession, account: Account) -> dict[str, Any]:
    """The featured tags collection (Mastodon's `featuredTags`): the hashtags the account
    features, as `Hashtag`s linking their pages here."""
    tags = await featured_tags_of(session, account.id)
    items = [
        {"type": "Hashtag", "href": f"{base_url()}/tags/{t.name.lower()}", "name": f"#{t.name}"}
        for t in tags
    ]
    return {
        **collection(f"{actor_uri(account)}/collections/tags", len(items), paged=False),
        "orderedItems": items,
    }
