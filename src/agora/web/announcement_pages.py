"""Announcements in the web app: shown above the home timeline with a dismiss button
(`POST /announcements/{id}/dismiss`), and written by admins in the console
(`/admin/announcements`: list, publish, delete). Each action is one call of
social/instance/announcements.py, as the API's; console pages are admins only (`Admin`: a
404 for anyone else); every form is CSRF-checked (`Form`)."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from agora.http.deps import SessionDep
from agora.http.params import flag
from agora.social.instance import announcements
from agora.social.instance.announcements import AnnouncementInput, AnnouncementView
from agora.social.rules.errors import Invalid
from agora.web.admin_access import Admin
from agora.web.render import render
from agora.web.route import id_or_404, web_router
from agora.web.session import Form, Me, field

router = web_router()
CONSOLE = "/admin/announcements"


async def unread_for(session: AsyncSession, viewer_id: int) -> list[AnnouncementView]:
    """The announcements the home page shows the viewer: shown now, not dismissed."""
    found = await announcements.shown(session, viewer_id)
    return await announcements.views(session, found, viewer_id)


@router.post("/announcements/{announcement_id}/dismiss")
async def dismiss(session: SessionDep, me: Me, form: Form, announcement_id: str) -> Response:
    """Mark an announcement read; back to the home page (404 for an unknown one)."""
    await announcements.dismiss(session, me.account.id, id_or_404(announcement_id))
    return RedirectResponse("/home", status_code=303)


async def _console(request: Request, session: AsyncSession, error: str | None = None) -> Response:
    found = await announcements.all_announcements(session)
    context = {
        "section": "announcements",
        "announcements": await announcements.views(session, found, None),
        "error": error,
    }
    return render(request, "admin_announcements.html", context, status=422 if error else 200)


@router.get(CONSOLE)
async def console(request: Request, session: SessionDep, me: Admin) -> Response:
    """Every announcement, and the form to publish one."""
    return await _console(request, session)


@router.post(CONSOLE)
async def publish(request: Request, session: SessionDep, me: Admin, form: Form) -> Response:
    """Publish an announcement (the page again with the error for a bad one)."""
    try:
        given = AnnouncementInput(
            text=field(form, "text"),
            starts_at=announcements.event_time(field(form, "starts_at"), "starts_at"),
            ends_at=announcements.event_time(field(form, "ends_at"), "ends_at"),
            all_day=flag(field(form, "all_day")),
        )
        await announcements.create(session, given, by=me.account)
    except Invalid as exc:
        await session.rollback()
        await session.refresh(me.account)  # the page shows the signed-in admin
        return await _console(request, session, exc.message)
    return RedirectResponse(f"{CONSOLE}?done=announced", status_code=303)


@router.post(CONSOLE + "/{announcement_id}/delete")
async def delete(session: SessionDep, me: Admin, form: Form, announcement_id: str) -> Response:
    """Delete an announcement."""
    await announcements.delete_announcement(session, id_or_404(announcement_id), by=me.account)
    return RedirectResponse(f"{CONSOLE}?done=announcement_deleted", status_code=303)
