"""Timelines: home, public, hashtag, profile, thread context, bookmarks and favourites.

Each returns post ids in display order plus the cursors for the next and previous pages;
hydration (see hydrate.py) turns ids into full posts in a constant number of queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, exists, literal, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.engine import column_rows
from agora.db.models import (
    ID,
    Account,
    Bookmark,
    Favourite,
    Follow,
    HomeFeedEntry,
    Pin,
    Post,
    PostTag,
    PreviewCard,
    Tag,
    Visibility,
)
from agora.social.media.uploads import has_media
from agora.social.people.lookup import get_account
from agora.social.posts.writing import get_visible_post
from agora.social.reading.home_rule import home_rule
from agora.social.reading.lists import hidden_by_exclusive_lists
from agora.social.reading.public_rule import not_reply_to_others, public_timeline_rule
from agora.social.rules.paging import (
    Page,
    Slice,
    apply_page,
    bind_page,
    page_params,
    page_shape,
    slice_of,
)
from agora.social.rules.visibility import listed_to, plain_visible_to, timeline_filter, visible_to

MAX_CONTEXT = 4096


async def _post_page(session: AsyncSession, query: Select[int, int], page: Page) -> Slice[int]:
    rows = list((await session.execute(apply_page(query, Post.id, page))).all())
    return slice_of(rows, page)


VIEWER = bindparam("viewer_id", type_=ID)


async def home_timeline(session: AsyncSession, viewer_id: int, page: Page) -> Slice[int]:
    """The precomputed feed merged with posts of followed high-reach accounts that the home
    rule lets in (`home_rule.home_rule`, as fan-out does), in one query (built once per page
    shape, see `_home_statement`)."""
    params = {
        "viewer_id": viewer_id,
        "threshold": get_settings().fanout_follower_threshold,
        **page_params(page),
    }
    rows = await column_rows(session, _home_statement(page_shape(page)), params)
    return slice_of(rows, page)


@cache
def _home_statement(shape: tuple[bool, bool, bool]) -> Select[Any]:
    feed = bind_page(
        select(HomeFeedEntry.post_id.label("id"))
        .join(Post, Post.id == HomeFeedEntry.post_id)
        .where(
            HomeFeedEntry.account_id == VIEWER,
            timeline_filter(VIEWER, Post),
            ~hidden_by_exclusive_lists(VIEWER, Post.account_id),
        ),
        HomeFeedEntry.post_id,
        shape,
    ).subquery()
    high_reach = (
        select(Follow.target_account_id)
        .join(Account, Account.id == Follow.target_account_id)
        .where(Follow.account_id == VIEWER, Account.followers_count > bindparam("threshold"))
    )
    merged = bind_page(
        select(Post.id.label("id")).where(
            Post.account_id.in_(high_reach),
            home_rule(VIEWER, Post),
            timeline_filter(VIEWER, Post),
            ~hidden_by_exclusive_lists(VIEWER, Post.account_id),
        ),
        Post.id,
        shape,
    ).subquery()
    both = union(select(feed.c.id), select(merged.c.id)).subquery()
    return bind_page(select(both.c.id, both.c.id), both.c.id, shape)


async def public_timeline(
    session: AsyncSession,
    viewer_id: int | None,
    page: Page,
    *,
    only_media: bool = False,
    origin: str = "all",
) -> Slice[int]:
    """Public posts known here, newest first (`public_rule`: no boosts, no replies to
    others): `origin` "local" for this server's people's only, "remote" for those that came
    from other servers; only those with media attachments when `only_media`."""
    params = {**page_params(page), **_viewer_param(viewer_id)}
    statement = _public_statement(viewer_id is not None, only_media, origin, page_shape(page))
    rows = await column_rows(session, statement, params)
    return slice_of(rows, page)


def _viewer_param(viewer_id: int | None) -> dict[str, int]:
    return {} if viewer_id is None else {"viewer_id": viewer_id}


@cache
def _public_statement(
    signed_in: bool, only_media: bool, origin: str, shape: tuple[bool, bool, bool]
) -> Select[int, int]:
    """`public_timeline`'s statement, built once per shape (building and keying the
    visibility rule's tree cost more than running it)."""
    viewer = VIEWER if signed_in else None
    query: Select[int, int] = select(Post.id, Post.id).where(
        public_timeline_rule(Post), listed_to(viewer, Post)
    )
    if origin != "all":
        remote = exists().where(Account.id == Post.account_id, Account.domain.is_not(None))
        query = query.where(remote if origin == "remote" else ~remote)
    if only_media:
        query = query.where(has_media(Post))
    return bind_page(query, Post.id, shape)


async def link_timeline(
    session: AsyncSession, viewer_id: int | None, url: str, page: Page
) -> Slice[int]:
    """Public posts showing the preview card of `url`, newest first (Mastodon 4.3's link
    feed): the public timeline's rules (`public_rule`, `listed_to`) on the posts whose card is
    that URL's. Whether the link may be shown at all (it trends) is the caller's question
    (`trends.is_trending_link`)."""
    params = {**page_params(page), **_viewer_param(viewer_id), "card_url": url}
    statement = _link_statement(viewer_id is not None, page_shape(page))
    return slice_of(await column_rows(session, statement, params), page)


@cache
def _link_statement(signed_in: bool, shape: tuple[bool, bool, bool]) -> Select[int, int]:
    """`link_timeline`'s statement, built once per shape."""
    viewer = VIEWER if signed_in else None
    card = select(PreviewCard.id).where(PreviewCard.url == bindparam("card_url"))
    query: Select[int, int] = select(Post.id, Post.id).where(
        Post.preview_card_id == card.scalar_subquery(),
        public_timeline_rule(Post),
        listed_to(viewer, Post),
    )
    return bind_page(query, Post.id, shape)


@dataclass(frozen=True, slots=True)
class TagQuery:
    """Mastodon's hashtag timeline parameters beyond the tag: posts with the tag or `any` of
    these, with `all` of these, and with `none` of these (names as given, '#' and case
    ignored)."""

    any: tuple[str, ...] = ()
    all: tuple[str, ...] = ()
    none: tuple[str, ...] = ()


async def tag_timeline(
    session: AsyncSession,
    viewer_id: int | None,
    tag: str,
    page: Page,
    more: TagQuery | None = None,
) -> Slice[int]:
    """Public posts with a hashtag (and `more`'s conditions), newest first."""
    if more is not None and (more.any or more.all or more.none):
        return await _tag_query_timeline(session, viewer_id, tag, page, more)
    tag_id = await session.scalar(select(Tag.id).where(Tag.name == tag.lower().lstrip("#")))
    if tag_id is None:
        return Slice([], [])
    params = {"tag_id": tag_id, **page_params(page), **_viewer_param(viewer_id)}
    statement = _tag_statement(viewer_id is not None, page_shape(page))
    rows = await column_rows(session, statement, params)
    return slice_of(rows, page)


async def _tag_query_timeline(
    session: AsyncSession, viewer_id: int | None, tag: str, page: Page, more: TagQuery
) -> Slice[int]:
    """`tag_timeline` with any / all / none: one statement (built per request: rare)."""
    names = {_tag_name(n) for n in (tag, *more.any, *more.all, *more.none)}
    ids = dict((await session.execute(select(Tag.name, Tag.id).where(Tag.name.in_(names)))).all())
    wanted = [ids[n] for n in {_tag_name(n) for n in (tag, *more.any)} if n in ids]
    required = [ids.get(_tag_name(n)) for n in more.all]
    if not wanted or None in required:
        return Slice([], [])
    tagged = select(PostTag.post_id).where(PostTag.tag_id.in_(wanted))
    query: Select[int, int] = select(Post.id, Post.id).where(
        Post.id.in_(tagged),
        Post.visibility == int(Visibility.PUBLIC),
        listed_to(viewer_id, Post),
    )
    for tag_id in required:
        query = query.where(exists().where(PostTag.post_id == Post.id, PostTag.tag_id == tag_id))
    excluded = [ids[n] for n in {_tag_name(n) for n in more.none} if n in ids]
    if excluded:
        query = query.where(
            ~exists().where(PostTag.post_id == Post.id, PostTag.tag_id.in_(excluded))
        )
    return await _post_page(session, query, page)


def _tag_name(name: str) -> str:
    return name.lower().lstrip("#")


@cache
def _tag_statement(signed_in: bool, shape: tuple[bool, bool, bool]) -> Select[int, int]:
    viewer = VIEWER if signed_in else None
    query: Select[int, int] = (
        select(Post.id, Post.id)
        .join(PostTag, PostTag.post_id == Post.id)
        .where(
            PostTag.tag_id == bindparam("tag_id", type_=ID),
            Post.visibility == int(Visibility.PUBLIC),
            listed_to(viewer, Post),
        )
    )
    return bind_page(query, Post.id, shape)


@dataclass(frozen=True, slots=True)
class ProfileFilter:
    exclude_replies: bool = False
    exclude_reblogs: bool = False
    only_media: bool = False
    pinned: bool = False
    tagged: str | None = None


async def account_statuses(
    session: AsyncSession, viewer_id: int | None, account_id: int, page: Page, f: ProfileFilter
) -> Slice[int]:
    """A profile's posts the viewer may see, with Mastodon's filters."""
    await get_account(session, account_id)
    if f.pinned:
        query = (
            select(Pin.id, Pin.post_id)
            .join(Post, Post.id == Pin.post_id)
            .where(Pin.account_id == account_id, visible_to(viewer_id, Post))
        )
        rows = list((await session.execute(apply_page(query, Pin.id, page))).all())
        return slice_of(rows, page)
    params: dict[str, Any] = {"account_id": account_id, **page_params(page)}
    params.update(_viewer_param(viewer_id))
    if f.tagged:
        params["tag"] = f.tagged.lower().lstrip("#")
    shape = (f.exclude_replies, f.exclude_reblogs, f.only_media, bool(f.tagged))
    statement = _profile_statement(viewer_id is not None, shape, page_shape(page))
    return slice_of(await column_rows(session, statement, params), page)


@cache
def _profile_statement(
    signed_in: bool, filters: tuple[bool, bool, bool, bool], shape: tuple[bool, bool, bool]
) -> Select[int, int]:
    """`account_statuses`' statement (not pinned), built once per viewer kind, filters
    (exclude_replies, exclude_reblogs, only_media, tagged) and page shape."""
    exclude_replies, exclude_reblogs, only_media, tagged = filters
    viewer = VIEWER if signed_in else None
    query: Select[int, int] = select(Post.id, Post.id).where(
        Post.account_id == bindparam("account_id", type_=ID), visible_to(viewer, Post)
    )
    if exclude_replies:
        query = query.where(not_reply_to_others(Post))
    if exclude_reblogs:
        query = query.where(Post.reblog_of_id.is_(None))
    if only_media:
        query = query.where(has_media(Post))
    if tagged:
        query = query.join(PostTag, PostTag.post_id == Post.id).join(Tag, Tag.id == PostTag.tag_id)
        query = query.where(Tag.name == bindparam("tag", type_=Tag.name.type))
    return bind_page(query, Post.id, shape)


async def _marked(session: AsyncSession, model: Any, viewer_id: int, page: Page) -> Slice[int]:
    query = (
        select(model.id, model.post_id)
        .join(Post, Post.id == model.post_id)
        .where(model.account_id == viewer_id, plain_visible_to(viewer_id, Post))
    )
    rows = list((await session.execute(apply_page(query, model.id, page))).all())
    return slice_of(rows, page)


async def bookmarks(session: AsyncSession, viewer_id: int, page: Page) -> Slice[int]:
    """The viewer's bookmarks, most recent first (paged by bookmark)."""
    return await _marked(session, Bookmark, viewer_id, page)


async def favourites(session: AsyncSession, viewer_id: int, page: Page) -> Slice[int]:
    """The viewer's likes, most recent first (paged by like)."""
    return await _marked(session, Favourite, viewer_id, page)


async def favourited_by(
    session: AsyncSession, viewer_id: int | None, post_id: int, page: Page
) -> Slice[int]:
    """Accounts that liked a visible post (ids are account ids; cursors are like ids)."""
    post = await get_visible_post(session, viewer_id, post_id)
    query = (
        select(Favourite.id, Favourite.account_id)
        .join(Account, Account.id == Favourite.account_id)
        .where(Favourite.post_id == post.id, Account.suspended_at.is_(None))
    )
    rows = list((await session.execute(apply_page(query, Favourite.id, page))).all())
    return slice_of(rows, page)


async def reblogged_by(
    session: AsyncSession, viewer_id: int | None, post_id: int, page: Page
) -> Slice[int]:
    """Accounts that boosted a visible post (ids are account ids; cursors are boost ids)."""
    post = await get_visible_post(session, viewer_id, post_id)
    query = select(Post.id, Post.account_id).where(
        Post.reblog_of_id == post.id, plain_visible_to(viewer_id, Post)
    )
    return await _post_page(session, query, page)


async def context(
    session: AsyncSession, viewer_id: int | None, post_id: int
) -> tuple[list[int], list[int]]:
    """Ancestors (oldest first) and descendants (depth first) of a visible post."""
    post = await get_visible_post(session, viewer_id, post_id)
    if post.reblog_of_id is not None:
        post = await get_visible_post(session, viewer_id, post.reblog_of_id)
    root = post.thread_root_id or post.id
    rows = (
        await session.execute(
            select(Post.id, Post.in_reply_to_id)
            .where(
                or_(Post.thread_root_id == root, Post.id == root),
                Post.reblog_of_id.is_(None),
                plain_visible_to(viewer_id, Post),
                literal(True)
                if viewer_id is None
                else timeline_filter(viewer_id, Post) | (Post.account_id == viewer_id),
            )
            .limit(MAX_CONTEXT)
        )
    ).all()
    parent_of = {pid: parent for pid, parent in rows}
    ancestors = []
    cursor = post.in_reply_to_id
    while cursor is not None and cursor in parent_of:
        ancestors.append(cursor)
        cursor = parent_of[cursor]
    children: dict[int, list[int]] = {}
    for pid, parent in sorted(rows):
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    descendants: list[int] = []
    stack = list(reversed(children.get(post.id, [])))
    while stack:
        current = stack.pop()
        descendants.append(current)
        stack.extend(reversed(children.get(current, [])))
    return list(reversed(ancestors)), descendants
