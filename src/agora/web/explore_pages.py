"""Explore (`/explore`): what is trending here (hashtags, posts, links), people to follow
(signed in) and the profile directory; the same services as `/api/v1/trends/*`,
`/api/v2/suggestions` and `/api/v1/directory`, so the same rules (discoverability, review,
visibility, blocks and mutes) hold. The signed-out front page (`/`) shows the trends too
(`front_page_trends`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from agora.http.deps import SessionDep
from agora.social.people import people_discovery
from agora.social.posts import tags
from agora.social.posts.hydrate import PostView, load_accounts
from agora.social.reading import trends
from agora.web.page_feeds import hydrate
from agora.web.render import render
from agora.web.route import web_router
from agora.web.session import Viewer

router = web_router()
SHOWN = 10


@dataclass(slots=True)
class Trending:
    """What the trends sections show."""

    tags: list[tags.TagView] = field(default_factory=list)
    posts: list[PostView] = field(default_factory=list)
    links: list[trends.TrendingLink] = field(default_factory=list)


async def trending(session: AsyncSession, viewer_id: int | None, *, posts: bool) -> Trending:
    """The approved trends, as the API lists them (posts hydrated for the viewer)."""
    found = Trending()
    found.tags = await tags.describe_tags(
        session, None, await trends.trending_tags(session, 0, SHOWN)
    )
    found.links = await trends.trending_links(session, 0, SHOWN)
    if posts:
        ids = await trends.trending_status_ids(session, viewer_id, 0, SHOWN)
        found.posts = await hydrate(session, viewer_id, ids, context="public")
    return found


@router.get("/explore")
async def explore(request: Request, session: SessionDep, viewer: Viewer) -> Response:
    """Trending hashtags, posts and links; people to follow; the directory."""
    viewer_id = viewer.account.id if viewer else None
    context: dict[str, Any] = {
        "nav": "explore",
        "trending": await trending(session, viewer_id, posts=True),
    }
    if viewer_id is not None:
        suggested = await people_discovery.suggestions(session, viewer_id, SHOWN)
        context["suggestions"] = await load_accounts(session, [s.account_id for s in suggested])
    listed = await people_discovery.directory(
        session, viewer_id, order="active", local=False, offset=0, limit=20
    )
    context["directory"] = await load_accounts(session, listed)
    return render(request, "explore.html", context)
