"""Public, read-only pages: a profile (`/@username`) and a post (`/@username/ID`), as a
signed-out visitor or a crawler sees them. Each carries its author's AI-use signals in HTTP
headers and meta tags. The web-app issue builds the signed-in pages on this."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from agora.data.signals import account_signals, post_signals
from agora.social.accounts import find_by_username
from agora.social.errors import NotFound
from agora.social.hydrate import load_posts
from agora.social.paging import Page
from agora.social.posts import get_visible_post
from agora.social.timelines import ProfileFilter, account_statuses
from agora.web.render import render

router = APIRouter(include_in_schema=False)
PROFILE_POSTS = 20


@router.get("/@{username}", response_class=HTMLResponse)
async def profile(request: Request, username: str) -> HTMLResponse:
    try:
        return await _profile(request, username)
    except NotFound:
        return not_found_page(request)


@router.get("/@{username}/{post_id}", response_class=HTMLResponse)
async def post(request: Request, username: str, post_id: str) -> HTMLResponse:
    try:
        return await _post(request, username, post_id)
    except NotFound:
        return not_found_page(request)


async def _profile(request: Request, username: str) -> HTMLResponse:
    async with request.app.state.db.session() as session:
        account = await find_by_username(session, username)
        if account is None or account.suspended_at is not None:
            raise NotFound()
        found = await account_statuses(
            session, None, account.id, Page(limit=PROFILE_POSTS), ProfileFilter()
        )
        views = await load_posts(session, None, found.ids)
        shown = [views[i] for i in found.ids if i in views]
        context = {"account": account, "views": shown, "signals": account_signals(account)}
        return _with_signals(request, "profile.html", context)


async def _post(request: Request, username: str, post_id: str) -> HTMLResponse:
    if not post_id.isdigit() or int(post_id) >= 2**63:
        raise NotFound()
    async with request.app.state.db.session() as session:
        found = await get_visible_post(session, None, int(post_id))
        views = await load_posts(session, None, [found.id])
        view = views.get(found.id)
        if view is None or view.account.username.lower() != username.lower():
            raise NotFound()
        context = {"view": view.reblog or view, "signals": await post_signals(session, found)}
        return _with_signals(request, "post.html", context)


def _with_signals(request: Request, template: str, context: dict[str, Any]) -> HTMLResponse:
    """Render `template`; its `signals` go into the HTTP headers (and, by the template, into
    meta tags)."""
    response = render(request, template, context)
    response.headers.update(context["signals"].headers)
    return response


def not_found_page(request: Request) -> HTMLResponse:
    """The HTML 404 for pages (the API answers JSON)."""
    return render(request, "not_found.html", {}, status=404)
