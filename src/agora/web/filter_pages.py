"""Filters in the browser (`/settings/filters`): list, create and delete, through the same
service as `/api/v2/filters` (social/reading/filters.py). What they do to the pages is
hydration's (the web's timelines pass their context like the API's)."""

from __future__ import annotations

import re

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from agora.http.deps import SessionDep
from agora.social.reading import filters
from agora.social.reading.filters import FilterDraft, KeywordChange
from agora.social.rules.errors import Invalid
from agora.social.rules.filtering import ACTIONS, CONTEXTS
from agora.web.render import render
from agora.web.route import id_or_404, web_router
from agora.web.session import Form, Me, field

router = web_router()
CONTEXT_TEXT = {
    "home": "Home and lists",
    "notifications": "Notifications",
    "public": "Public timelines",
    "thread": "Conversations",
    "account": "Profiles",
}
ACTION_TEXT = {
    "warn": "Hide behind a warning",
    "blur": "Hide media behind a warning",
    "hide": "Hide completely",
}
EXPIRY = {"": "Never", "1800": "30 minutes", "3600": "1 hour", "86400": "1 day", "604800": "1 week"}
_SPLIT = re.compile(r"[,\n]")


async def _page(
    request: Request, session: SessionDep, me: Me, error: str | None = None
) -> Response:
    context = {
        "nav": "settings",
        "section": "filters",
        "filters": await filters.owned_filters(session, me.account.id),
        "contexts": [(c, CONTEXT_TEXT[c]) for c in CONTEXTS],
        "actions": [(a, ACTION_TEXT[a]) for a in ACTIONS],
        "expiry": EXPIRY,
        "context_text": CONTEXT_TEXT,
        "action_text": ACTION_TEXT,
        "error": error,
    }
    return render(request, "settings_filters.html", context, status=422 if error else 200)


@router.get("/settings/filters")
async def filters_page(request: Request, session: SessionDep, me: Me) -> Response:
    """The person's filters and a form for a new one."""
    return await _page(request, session, me)


@router.post("/settings/filters")
async def create(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """A new filter: a title, keywords (one per line or comma), where, what, how long."""
    words = [w.strip() for w in _SPLIT.split(field(form, "keywords")) if w.strip()]
    expires = field(form, "expires_in")
    draft = FilterDraft(
        title=field(form, "title"),
        contexts=[c for c in form.getlist("context") if isinstance(c, str)],
        action=field(form, "filter_action", "warn"),
        expires_in=int(expires) if expires.isdigit() else None,
        keywords=[
            KeywordChange(keyword=w, whole_word=bool(field(form, "whole_word"))) for w in words
        ],
    )
    try:
        await filters.create_filter(session, me.account.id, draft)
    except Invalid as exc:  # refused before anything is written
        return await _page(request, session, me, exc.message)
    return RedirectResponse("/settings/filters?saved=1", status_code=303)


@router.post("/settings/filters/{filter_id}/delete")
async def delete(
    request: Request, session: SessionDep, me: Me, form: Form, filter_id: str
) -> Response:
    """Delete one of the person's filters (someone else's: 404)."""
    await filters.delete_filter(session, me.account.id, id_or_404(filter_id))
    return RedirectResponse("/settings/filters?saved=1", status_code=303)
