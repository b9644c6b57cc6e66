"""Search in the browser (`/search?q=…&type=posts|people|hashtags`): the same service calls as
`GET /api/v2/search` (agora.social.search), so the same viewer finds the same posts both
ways. Without a type, a few results of each kind; with one, a page of that kind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from agora.data.signals import disclose_accounts
from agora.db.models import Account
from agora.http.deps import SessionDep
from agora.social import search
from agora.social.posts import tags
from agora.social.posts.hydrate import PostView, load_accounts
from agora.social.posts.tags import TagView
from agora.web.page_feeds import hydrate
from agora.web.render import render
from agora.web.route import web_router
from agora.web.session import Viewer

router = web_router()
TYPES = ("posts", "people", "hashtags")
API_KINDS = {"posts": "statuses", "people": "accounts", "hashtags": "hashtags"}
PAGE = 40  # results of one kind
PREVIEW = {"posts": 20, "people": 5, "hashtags": 5}  # results of each kind without a type


@dataclass(slots=True)
class Results:
    """What a search found, each kind in order (best first)."""

    posts: list[PostView] = field(default_factory=list)
    people: list[Account] = field(default_factory=list)
    hashtags: list[TagView] = field(default_factory=list)
    more: str | None = None  # the URL of the next page of one kind


def query_problem(q: str) -> str | None:
    """Why `q` cannot be searched (shown on the page), or None."""
    if not q.strip():
        return "Type something to search for."
    if len(q) > search.MAX_QUERY_CHARS:
        return f"That is too long to search for (at most {search.MAX_QUERY_CHARS} characters)."
    return None


async def find(
    session: AsyncSession, viewer_id: int | None, q: str, kind: str | None, offset: int
) -> Results:
    """Run the search: one kind (a page from `offset`) or every kind (a few of each)."""
    found: dict[str, list[Any]] = {}
    more = None
    wanted = search.kinds_for(q, viewer_id is not None)
    for name in [n for n in ([kind] if kind else TYPES) if API_KINDS[n] in wanted]:
        limit = PAGE if kind else PREVIEW[name]
        found[name] = await FINDERS[name](session, viewer_id, q, limit, offset)
        if kind and len(found[name]) >= limit:
            more = "/search?" + urlencode({"q": q, "type": kind, "offset": offset + limit})
    return Results(**found, more=more)


async def _posts(
    session: AsyncSession, viewer_id: int | None, q: str, limit: int, offset: int
) -> list[PostView]:
    assert viewer_id is not None  # kinds_for: no posts for anyone signed out
    ids = await search.search_posts(session, viewer_id, q, limit=limit, offset=offset)
    return await hydrate(session, viewer_id, ids)


async def _people(
    session: AsyncSession, viewer_id: int | None, q: str, limit: int, offset: int
) -> list[Account]:
    ids = await search.search_accounts(session, viewer_id, q, limit=limit, offset=offset)
    return disclose_accounts(await load_accounts(session, ids))


async def _hashtags(
    session: AsyncSession, viewer_id: int | None, q: str, limit: int, offset: int
) -> list[TagView]:
    found = await search.search_hashtags(session, viewer_id, q, limit=limit, offset=offset)
    return await tags.describe_tags(session, viewer_id, found)


Finder = Callable[[AsyncSession, int | None, str, int, int], Awaitable[list[Any]]]
FINDERS: dict[str, Finder] = {"posts": _posts, "people": _people, "hashtags": _hashtags}


def _offset(raw: str | None) -> int:
    return max(0, min(10_000, int(raw))) if raw and raw.isascii() and raw.isdigit() else 0


@router.get("/search")
async def search_page(request: Request, session: SessionDep, viewer: Viewer) -> Response:
    """The search form and, for a query, what it finds."""
    params = request.query_params
    q = params.get("q", "")
    kind = params.get("type") if params.get("type") in TYPES else None
    problem = query_problem(q) if "q" in params else None
    results = None
    if "q" in params and problem is None:
        viewer_id = viewer.account.id if viewer else None
        results = await find(session, viewer_id, q.strip(), kind, _offset(params.get("offset")))
    context: dict[str, Any] = {"nav": "search", "q": q, "kind": kind, "problem": problem}
    context["results"] = results
    context["max_q"] = search.MAX_QUERY_CHARS
    return render(request, "search.html", context)
