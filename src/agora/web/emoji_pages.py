"""The admins' page of custom emoji: `/admin/emoji` lists the local emoji (disabled ones
too), uploads one, disables, enables or removes one. A page of the admin console: admins only
(`Admin`: a 404 for anyone else); every form carries the session's CSRF token (`Form`); each
action is one call to social/media/custom_emojis.py (as the CLI's), which logs it."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from agora.http.deps import SessionDep
from agora.social.media import custom_emojis
from agora.social.rules.errors import Invalid, NotFound
from agora.web.admin_access import Admin
from agora.web.media_forms import uploaded_file
from agora.web.render import render
from agora.web.route import id_or_404, web_router
from agora.web.session import Form, field

router = web_router()
PAGE = "/admin/emoji"


async def _page(request: Request, session: AsyncSession, error: str | None = None) -> Response:
    context = {
        "section": "emoji",
        "emojis": [
            (e, custom_emojis.emoji_json(custom_emojis.snapshot(e)))
            for e in await custom_emojis.local_emojis(session)
        ],
        "error": error,
    }
    return render(request, "admin_emoji.html", context, status=422 if error else 200)


@router.get(PAGE)
async def emoji_page(request: Request, session: SessionDep, me: Admin) -> Response:
    """The local custom emoji and the upload form."""
    return await _page(request, session)


@router.post(PAGE)
async def add_emoji(request: Request, session: SessionDep, me: Admin, form: Form) -> Response:
    """Upload an emoji (a refused one is shown on the page, nothing stored)."""
    upload = uploaded_file(form, "image")
    try:
        if upload is None:
            raise Invalid("Validation failed: Choose an image")
        data = await upload.read(custom_emojis.MAX_BYTES + 1)
        await custom_emojis.add_emoji(
            session,
            field(form, "shortcode").strip().strip(":"),
            data,
            category=field(form, "category"),
            by=me.account,
        )
    except Invalid as exc:
        await session.rollback()
        await session.refresh(me.account)
        return await _page(request, session, exc.message)
    return RedirectResponse(PAGE + "?done=emoji_added", status_code=303)


async def _shortcode(session: AsyncSession, emoji_id: str) -> str:
    found = {e.id: e.shortcode for e in await custom_emojis.local_emojis(session)}
    shortcode = found.get(id_or_404(emoji_id))
    if shortcode is None:
        raise NotFound()
    return shortcode


@router.post(PAGE + "/{emoji_id}/disable")
async def disable_emoji(session: SessionDep, me: Admin, form: Form, emoji_id: str) -> Response:
    """Disable an emoji: gone from the list, posts and profiles."""
    shortcode = await _shortcode(session, emoji_id)
    await custom_emojis.set_disabled(session, shortcode, True, by=me.account)
    return RedirectResponse(PAGE + "?done=emoji_disabled", status_code=303)


@router.post(PAGE + "/{emoji_id}/enable")
async def enable_emoji(session: SessionDep, me: Admin, form: Form, emoji_id: str) -> Response:
    """Enable a disabled emoji again."""
    shortcode = await _shortcode(session, emoji_id)
    await custom_emojis.set_disabled(session, shortcode, False, by=me.account)
    return RedirectResponse(PAGE + "?done=emoji_enabled", status_code=303)


@router.post(PAGE + "/{emoji_id}/delete")
async def remove_emoji(session: SessionDep, me: Admin, form: Form, emoji_id: str) -> Response:
    """Remove an emoji and its files."""
    shortcode = await _shortcode(session, emoji_id)
    await custom_emojis.remove_emoji(session, shortcode, by=me.account)
    return RedirectResponse(PAGE + "?done=emoji_removed", status_code=303)
