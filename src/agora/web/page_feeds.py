"""Showing a timeline page: a `Slice`'s post cards for the viewer (web/post_cards.py) and the
page, or only the next chunk when HTMX asks for it (infinite scroll); `hydrate` for the pages
that show hydrated posts."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from agora.data.signals import disclose_views
from agora.ids import parse_id
from agora.social.posts.hydrate import PostView, load_posts
from agora.social.rules.paging import Page, Slice
from agora.web.formatting import Feed, next_url
from agora.web.post_cards import shown_cards
from agora.web.render import SECURITY_HEADERS, render, render_fragment
from agora.web.session import is_htmx

PAGE_SIZE = 40


def page_of(request: Request) -> Page:
    """The page asked for by `?max_id=` (bad cursors mean the first page)."""
    raw = request.query_params.get("max_id")
    return Page(limit=PAGE_SIZE, max_id=parse_id(raw))


async def hydrate(
    session: AsyncSession, viewer_id: int | None, ids: list[int], *, context: str | None = None
) -> list[PostView]:
    """PostViews of `ids` in order (those the viewer may not see, or that the viewer's
    filters hide in `context`, are left out), disclosed to the page's AI-use signals."""
    views = await load_posts(session, viewer_id, ids, context=context)
    shown = [views[i] for i in ids if i in views]
    disclose_views(shown)
    return shown


async def feed_of(
    session: AsyncSession,
    viewer_id: int | None,
    found: Slice[int],
    page: Page,
    path: str,
    *,
    context: str | None,
    **params: Any,
) -> Feed:
    """A page's post cards (joined from the render cache: web/post_cards.py) and the URL
    of the next page (after a full page, or a page cut short by the work one request may
    do). `context`: where the posts are shown, for the viewer's filters (home, public,
    account; None for bookmarks and likes)."""
    full = len(found.items) >= page.limit or found.partial
    cards = await shown_cards(session, viewer_id, found.items, context=context)
    return Feed(cards, viewer_id, next_url(path, found.next_max_id, full, **params))


def is_chunk(request: Request) -> bool:
    """Whether HTMX asks for the next chunk of a feed (not the whole page)."""
    return is_htmx(request) and bool(request.query_params.get("max_id"))


def feed_response(request: Request, template: str, context: dict[str, Any], feed: Feed) -> Response:
    """The whole page, or, for HTMX's request of the next chunk, just that chunk."""
    if is_chunk(request):
        html = render_fragment(
            "_feed_page.html",
            feed=feed,
            viewer=request.state._state.get("viewer"),
            csrf=request.state._state.get("csrf", ""),
        )
        return HTMLResponse(html, headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})
    return render(request, template, {**context, "feed": feed})
