"""The list timeline, read at request time in windows.

A list's posts are not fanned out into a feed of their own: a page is read from the members'
posts. Checking every rule on every post of every member would cost as much as the members
ever posted, so a page is read in two steps: a window of the newest ids of members' posts
(from the `(account_id, id)` index alone, no table rows), then the rules on that window only
(replies policy, boosts, visibility, blocks, mutes: `lists.list_posts` and
`timeline_filter`). When the rules leave the page short, the next window is read, twice as
large each time (up to `MAX_WINDOW`), until the page is full, the members' posts run out, or
the request has examined `MAX_EXAMINED` posts (a muted member with a long history, members who
post only DMs): then the page comes back short, even empty, marked `partial`, with cursors
spanning what was examined, so the next page (and the previous one) continue exactly where the
examination stopped and no post is ever skipped. The windows follow the page's direction, so
`max_id`, `since_id` and `min_id` page exactly as in the other timelines.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import ID, ListMember, Post
from agora.social.reading.lists import get_own_list, list_posts
from agora.social.rules.paging import Page, Slice, bind_page, finish, page_params, page_shape
from agora.social.rules.visibility import timeline_filter

WINDOW = 80  # candidate posts in the first window: twice the largest page
MAX_WINDOW = 2560
MAX_EXAMINED = 4000  # candidate posts one request may examine, at most
LIST_ID = bindparam("list_id", type_=ID)
VIEWER = bindparam("viewer_id", type_=ID)


async def list_timeline(
    session: AsyncSession, owner_id: int, list_id: int, page: Page
) -> Slice[int]:
    """Posts of the members of one of the owner's lists, newest first (see the module's
    docstring); NotFound for someone else's list."""
    found = await get_own_list(session, owner_id, list_id)
    kept: list[int] = []
    examined: list[int] = []
    window_page = replace(page, limit=min(WINDOW, MAX_EXAMINED))
    while True:
        window = await _window(session, found.id, window_page)
        shown = await _shown(session, owner_id, found.id, window)
        for post_id in window:
            examined.append(post_id)
            if post_id in shown:
                kept.append(post_id)
                if len(kept) == page.limit:
                    break
        if len(kept) == page.limit or len(window) < window_page.limit:
            return _page_slice(kept, examined, page)
        if len(examined) >= MAX_EXAMINED:
            return _page_slice(kept, examined, page, partial=True)
        window_page = _after(window_page, window[-1], MAX_EXAMINED - len(examined))


async def _window(session: AsyncSession, list_id: int, page: Page) -> list[int]:
    """The next ids of members' posts in the page's direction (newest first, or oldest
    first for `min_id` pages)."""
    params = {"list_id": list_id, **page_params(page)}
    lateral = session.get_bind().dialect.name == "postgresql"
    statement = _window_statement(page_shape(page), lateral)
    return list((await session.scalars(statement, params)).all())


async def _shown(session: AsyncSession, owner_id: int, list_id: int, window: list[int]) -> set[int]:
    """Which of the window's posts the list shows its owner."""
    if not window:
        return set()
    params = {"list_id": list_id, "viewer_id": owner_id, "ids": window}
    return set((await session.scalars(_rules_statement(), params)).all())


def _after(page: Page, last: int, budget: int) -> Page:
    """The next, larger window (at most `budget` posts): the same request moved past `last`
    (the window's last id)."""
    limit = min(page.limit * 2, MAX_WINDOW, budget)
    if page.ascending:
        return replace(page, min_id=last, limit=limit)
    return replace(page, max_id=last, limit=limit)


def _page_slice(
    kept: list[int], examined: list[int], page: Page, partial: bool = False
) -> Slice[int]:
    """Ids newest first, with cursors spanning what was examined; a `partial` page (cut short
    by MAX_EXAMINED) has them even when nothing was kept, so that paging goes on from there."""
    if not kept and not partial:
        return Slice([], [])
    ends = [examined[-1], examined[0]] if page.ascending else [examined[0], examined[-1]]
    return Slice(finish(kept, page), ends, partial=partial)


@cache
def _window_statement(shape: tuple[bool, bool, bool], lateral: bool) -> Select[Any]:
    """Members' post ids in the page's direction. On PostgreSQL, per member (LATERAL, each
    an index range of at most `limit`), as its planner may otherwise walk the whole posts
    index looking for the members of a small list; SQLite plans the IN per member already."""
    if not lateral:
        members = select(ListMember.account_id).where(ListMember.list_id == LIST_ID)
        return bind_page(select(Post.id).where(Post.account_id.in_(members)), Post.id, shape)
    per_member = bind_page(
        select(Post.id).where(Post.account_id == ListMember.account_id), Post.id, shape
    ).lateral()
    query = (
        select(per_member.c.id)
        .select_from(ListMember)
        .join(per_member, true())
        .where(ListMember.list_id == LIST_ID)
    )
    return bind_page(query, per_member.c.id, shape)


@cache
def _rules_statement() -> Select[int, int]:
    ids: BindParameter[int] = bindparam("ids", expanding=True)
    return list_posts(LIST_ID).where(Post.id.in_(ids), timeline_filter(VIEWER, Post))
