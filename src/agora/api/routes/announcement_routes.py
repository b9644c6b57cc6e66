"""Announcements (Mastodon's `/api/v1/announcements`: list, dismiss, reactions) and their
writing by admins (`/api/v1/admin/announcements`, Agora's own: Mastodon writes them only in
its web admin). Every rule is in social/instance/announcements.py; every answer goes through
`announcements.views` and `announcement_json`."""

from __future__ import annotations

from fastapi import APIRouter

from agora.api.entities import announcement_json
from agora.db.models import Account, Announcement
from agora.http.deps import SessionDep, admin_caller, caller_id, id_param
from agora.http.json import JSON
from agora.http.params import Params, body, flag, openapi_body
from agora.social.instance import announcements
from agora.social.instance.announcements import AnnouncementInput, event_time

router = APIRouter(prefix="/api")


@router.get("/v1/announcements")
async def list_announcements(
    session: SessionDep, with_dismissed: str | None = None, me: int = caller_id("read")
) -> JSON:
    """The announcements shown now, oldest first (dismissed ones only with
    `with_dismissed`)."""
    found = await announcements.shown(session, me, with_dismissed=flag(with_dismissed))
    return JSON([announcement_json(v) for v in await announcements.views(session, found, me)])


@router.post("/v1/announcements/{announcement_id}/dismiss")
async def dismiss(
    session: SessionDep, announcement_id: str, me: int = caller_id("write:accounts")
) -> JSON:
    """Mark an announcement read (404 for an unknown or ended one)."""
    await announcements.dismiss(session, me, id_param(announcement_id))
    return JSON({})


@router.put("/v1/announcements/{announcement_id}/reactions/{name}")
async def add_reaction(
    session: SessionDep, announcement_id: str, name: str, me: int = caller_id("write:favourites")
) -> JSON:
    """React with an emoji (422 for a name that is not one)."""
    await announcements.react(session, me, id_param(announcement_id), name)
    return JSON({})


@router.delete("/v1/announcements/{announcement_id}/reactions/{name}")
async def remove_reaction(
    session: SessionDep, announcement_id: str, name: str, me: int = caller_id("write:favourites")
) -> JSON:
    """Take back a reaction (nothing when there was none)."""
    await announcements.unreact(session, me, id_param(announcement_id), name)
    return JSON({})


class AnnouncementForm(Params):
    text: str = ""
    starts_at: str | None = None
    ends_at: str | None = None
    all_day: bool = False


def _input(form: AnnouncementForm) -> AnnouncementInput:
    return AnnouncementInput(
        text=form.text,
        starts_at=event_time(form.starts_at, "starts_at"),
        ends_at=event_time(form.ends_at, "ends_at"),
        all_day=form.all_day,
    )


async def _one(session: SessionDep, found: Announcement, me: Account) -> JSON:
    views = await announcements.views(session, [found], me.id)
    return JSON(announcement_json(views[0]))


@router.get("/v1/admin/announcements")
async def admin_list(session: SessionDep, me: Account = admin_caller("admin:read")) -> JSON:
    """Every announcement, ended ones too, newest first."""
    found = await announcements.all_announcements(session)
    return JSON([announcement_json(v) for v in await announcements.views(session, found, me.id)])


@router.post("/v1/admin/announcements", openapi_extra=openapi_body(AnnouncementForm))
async def admin_create(
    session: SessionDep,
    me: Account = admin_caller("admin:write"),
    form: AnnouncementForm = body(AnnouncementForm),
) -> JSON:
    """Publish an announcement (422 for an empty text or bad times)."""
    return await _one(session, await announcements.create(session, _input(form), by=me), me)


@router.put(
    "/v1/admin/announcements/{announcement_id}", openapi_extra=openapi_body(AnnouncementForm)
)
async def admin_update(
    session: SessionDep,
    announcement_id: str,
    me: Account = admin_caller("admin:write"),
    form: AnnouncementForm = body(AnnouncementForm),
) -> JSON:
    """Change an announcement."""
    found = await announcements.update(session, id_param(announcement_id), _input(form), by=me)
    return await _one(session, found, me)


@router.delete("/v1/admin/announcements/{announcement_id}")
async def admin_delete(
    session: SessionDep, announcement_id: str, me: Account = admin_caller("admin:write")
) -> JSON:
    """Delete an announcement (streamed as `announcement.delete`)."""
    await announcements.delete_announcement(session, id_param(announcement_id), by=me)
    return JSON({})
