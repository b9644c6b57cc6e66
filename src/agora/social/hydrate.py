"""Turn post ids into everything needed to show them, in a constant number of queries
whatever the page holds: posts, boosted and quoted posts, authors, mentions, tags and the
viewer's own flags (liked, boosted, bookmarked, pinned)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, Bookmark, Favourite, Mention, Pin, Post, PostTag, Tag
from agora.social.visibility import plain_visible_to


@dataclass(slots=True)
class PostView:
    """A post with what a client shows around it."""

    post: Post
    account: Account
    mentions: list[tuple[int, str]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    favourited: bool = False
    reblogged: bool = False
    bookmarked: bool = False
    pinned: bool = False
    reblog: PostView | None = None
    quote: PostView | None = None


async def load_posts(
    session: AsyncSession, viewer_id: int | None, ids: list[int]
) -> dict[int, PostView]:
    """PostViews by id. Boosted/quoted posts the viewer may not see are left out (a boost of
    an invisible post is dropped; an invisible quote shows as no quote)."""
    if not ids:
        return {}
    posts = {p.id: p for p in (await session.scalars(select(Post).where(Post.id.in_(ids)))).all()}
    linked = await _linked_posts(session, viewer_id, posts)
    everything = {**linked, **posts}
    accounts = await _accounts(session, {p.account_id for p in everything.values()})
    mentions, tags = await _mentions_and_tags(session, list(everything))
    flags = await _viewer_flags(session, viewer_id, list(everything))
    views = {
        pid: PostView(
            post=p,
            account=accounts[p.account_id],
            mentions=mentions.get(pid, []),
            tags=tags.get(pid, []),
            favourited=(pid, "f") in flags,
            reblogged=(pid, "r") in flags,
            bookmarked=(pid, "b") in flags,
            pinned=(pid, "p") in flags,
        )
        for pid, p in everything.items()
        if p.account_id in accounts
    }
    for view in views.values():
        if view.post.quote_of_id is not None:
            view.quote = (
                views.get(view.post.quote_of_id) if view.post.quote_of_id in linked else None
            )
    result = {}
    for pid in ids:
        view = views.get(pid)
        if view is None:
            continue
        if view.post.reblog_of_id is not None:
            view.reblog = (
                views.get(view.post.reblog_of_id) if view.post.reblog_of_id in linked else None
            )
            if view.reblog is None:
                continue
        result[pid] = view
    return result


async def _linked_posts(
    session: AsyncSession, viewer_id: int | None, posts: dict[int, Post]
) -> dict[int, Post]:
    """Boosted and quoted posts (two levels: a boost of a quote post), visible ones only."""
    linked: dict[int, Post] = {}
    frontier = list(posts.values())
    for _ in range(2):
        wanted = {i for p in frontier for i in (p.reblog_of_id, p.quote_of_id) if i is not None}
        wanted -= set(linked)
        if not wanted:
            break
        found = (
            await session.scalars(
                select(Post).where(Post.id.in_(wanted), plain_visible_to(viewer_id, Post))
            )
        ).all()
        linked.update({p.id: p for p in found})
        frontier = list(found)
    return linked


async def _accounts(session: AsyncSession, ids: set[int]) -> dict[int, Account]:
    rows = await session.scalars(
        select(Account).where(Account.id.in_(ids), Account.suspended_at.is_(None))
    )
    return {a.id: a for a in rows}


async def _mentions_and_tags(
    session: AsyncSession, post_ids: list[int]
) -> tuple[dict[int, list[tuple[int, str]]], dict[int, list[str]]]:
    mentions: dict[int, list[tuple[int, str]]] = {}
    rows = await session.execute(
        select(Mention.post_id, Account.id, Account.username)
        .join(Account, Account.id == Mention.account_id)
        .where(Mention.post_id.in_(post_ids))
    )
    for pid, aid, username in rows:
        mentions.setdefault(pid, []).append((aid, username))
    tags: dict[int, list[str]] = {}
    rows = await session.execute(
        select(PostTag.post_id, Tag.name)
        .join(Tag, Tag.id == PostTag.tag_id)
        .where(PostTag.post_id.in_(post_ids))
    )
    for pid, name in rows:
        tags.setdefault(pid, []).append(name)
    return mentions, tags


async def _viewer_flags(
    session: AsyncSession, viewer_id: int | None, post_ids: list[int]
) -> set[tuple[int, str]]:
    if viewer_id is None or not post_ids:
        return set()
    query = union_all(
        select(Favourite.post_id, literal("f")).where(
            Favourite.account_id == viewer_id, Favourite.post_id.in_(post_ids)
        ),
        select(Bookmark.post_id, literal("b")).where(
            Bookmark.account_id == viewer_id, Bookmark.post_id.in_(post_ids)
        ),
        select(Pin.post_id, literal("p")).where(
            Pin.account_id == viewer_id, Pin.post_id.in_(post_ids)
        ),
        select(Post.reblog_of_id, literal("r")).where(
            Post.account_id == viewer_id, Post.reblog_of_id.in_(post_ids)
        ),
    )
    return {(pid, kind) for pid, kind in await session.execute(query)}


async def load_accounts(session: AsyncSession, ids: list[int]) -> list[Account]:
    """Accounts by id, in the given order, suspended ones left out."""
    found = await _accounts(session, set(ids))
    return [found[i] for i in ids if i in found]
