"""Scheduled posts in the browser: `/scheduled` lists the person's scheduled posts (text,
time, media count) with a cancel button; the composer's "Schedule" field (post_actions.write)
makes them. Each action is one call of social/posts/scheduled_posts.py; someone else's
scheduled post is NotFound there, so a 404 page here."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from agora.http.deps import SessionDep
from agora.social.posts import scheduled_posts
from agora.social.rules.errors import Invalid
from agora.social.rules.paging import Page
from agora.web.render import render
from agora.web.route import id_or_404, web_router
from agora.web.session import Form, Me

router = web_router()
SHOWN = 300  # every scheduled post an account may have


def local_time(value: str, utc_offset: str) -> datetime:
    """A `datetime-local` field's value (no zone) in the browser's time, whose offset from UTC
    in minutes the composer sends along (`utc_offset`); Invalid for one that is not a time."""
    try:
        offset = timedelta(minutes=int(utc_offset or "0"))
    except ValueError:
        raise Invalid("Validation failed: Scheduled at is invalid") from None
    if abs(offset) > timedelta(hours=14):
        raise Invalid("Validation failed: Scheduled at is invalid")
    naive = scheduled_posts.parse_time(value).replace(tzinfo=None)
    return scheduled_posts.parse_time((naive - offset).isoformat())


@router.get("/scheduled")
async def scheduled(request: Request, session: SessionDep, me: Me) -> Response:
    """The person's scheduled posts, soonest first."""
    found = await scheduled_posts.list_scheduled(session, me.account.id, Page(limit=SHOWN))
    items = sorted(found.items, key=lambda row: row.scheduled_at)
    media = await scheduled_posts.attachments(session, items)
    context = {"items": items, "media": media, "nav": "scheduled"}
    return render(request, "scheduled.html", context)


@router.post("/scheduled/{scheduled_id}/cancel")
async def cancel(session: SessionDep, me: Me, form: Form, scheduled_id: str) -> Response:
    """Cancel a scheduled post (its images become unattached uploads again)."""
    await scheduled_posts.cancel(session, me.account.id, id_or_404(scheduled_id))
    return RedirectResponse("/scheduled", status_code=303)
