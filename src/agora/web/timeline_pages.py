"""Timelines in the browser: home, local, hashtag, bookmarks, likes (`/home`, `/local`,
`/tags/NAME`, `/bookmarks`, `/favourites`). Each is one service call plus hydration."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from agora.http.deps import SessionDep
from agora.http.replica_routing import replica_reads
from agora.social.posts import tags
from agora.social.reading import timelines
from agora.social.rules.errors import NotFound
from agora.web.announcement_pages import unread_for
from agora.web.explore_pages import trending
from agora.web.page_feeds import feed_of, feed_response, is_chunk, page_of
from agora.web.post_actions import back, fragment
from agora.web.render import render_fragment
from agora.web.route import web_router
from agora.web.session import Form, Me, Viewer, is_htmx

router = web_router()


@router.get("/")
async def start(request: Request, session: SessionDep, viewer: Viewer) -> Response:
    """Signed in: the home timeline; signed out: what this server is, its local timeline
    and what is trending here."""
    if viewer is not None:
        return RedirectResponse("/home", status_code=303)
    page = page_of(request)
    found = await timelines.public_timeline(session, None, page, origin="local")
    feed = await feed_of(session, None, found, page, "/local", context="public")
    context = {"trending": await trending(session, None, posts=False)}
    return feed_response(request, "index.html", context, feed)


@router.get("/home")
async def home(request: Request, session: SessionDep, me: Me) -> Response:
    """The signed-in person's home timeline, with the composer."""
    page = page_of(request)
    found = await timelines.home_timeline(session, me.account.id, page)
    feed = await feed_of(session, me.account.id, found, page, "/home", context="home")
    context: dict[str, Any] = {"nav": "home", "heading": "Home", "composer": True}
    context["live"] = "home"
    if not is_chunk(request):  # the announcements head the whole page only
        context["announcements"] = await unread_for(session, me.account.id)
    return feed_response(request, "timeline.html", context, feed)


@router.get("/local")
@replica_reads
async def local(request: Request, session: SessionDep, viewer: Viewer) -> Response:
    """Everyone's public posts on this server."""
    page = page_of(request)
    viewer_id = viewer.account.id if viewer else None
    found = await timelines.public_timeline(session, viewer_id, page, origin="local")
    feed = await feed_of(session, viewer_id, found, page, "/local", context="public")
    return feed_response(request, "timeline.html", {"nav": "local", "heading": "Local"}, feed)


@router.get("/tags/{tag}")
@replica_reads
async def tag(request: Request, session: SessionDep, viewer: Viewer, tag: str) -> Response:
    """Public posts with a hashtag."""
    page = page_of(request)
    viewer_id = viewer.account.id if viewer else None
    found = await timelines.tag_timeline(session, viewer_id, tag, page)
    feed = await feed_of(session, viewer_id, found, page, f"/tags/{quote(tag)}", context="public")
    context: dict[str, Any] = {"heading": f"#{tag}"}
    if viewer_id is not None:
        context["tag"] = await tags.describe(session, viewer_id, tag)
    return feed_response(request, "timeline.html", context, feed)


@router.post("/web/tags/{tag}/{action}")
async def follow_tag(
    request: Request, session: SessionDep, me: Me, form: Form, tag: str, action: str
) -> Response:
    """Follow or unfollow a hashtag (the service the API's /api/v1/tags/:name/follow uses);
    answers the button as it now is."""
    if action not in ("follow", "unfollow"):
        raise NotFound()
    run = tags.follow_tag if action == "follow" else tags.unfollow_tag
    view = await run(session, me.account.id, tag)
    if not is_htmx(request):
        return back(request)
    return fragment(render_fragment("_tag_follow.html", tag=view, csrf=request.state.csrf))


@router.get("/bookmarks")
async def bookmarks(request: Request, session: SessionDep, me: Me) -> Response:
    """Posts the person bookmarked, newest bookmark first."""
    page = page_of(request)
    found = await timelines.bookmarks(session, me.account.id, page)
    feed = await feed_of(session, me.account.id, found, page, "/bookmarks", context=None)
    context = {"nav": "bookmarks", "heading": "Bookmarks"}
    return feed_response(request, "timeline.html", context, feed)


@router.get("/favourites")
async def favourites(request: Request, session: SessionDep, me: Me) -> Response:
    """Posts the person liked, newest like first."""
    page = page_of(request)
    found = await timelines.favourites(session, me.account.id, page)
    feed = await feed_of(session, me.account.id, found, page, "/favourites", context=None)
    return feed_response(request, "timeline.html", {"nav": "favourites", "heading": "Likes"}, feed)
