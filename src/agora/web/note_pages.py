"""Community Notes in the browser: a post's notes (`/@username/ID/notes`: read them, rate
them, write one, ask the assistant for a draft) and "Rate notes" (`/notes/rate`: notes that
need ratings, each under its post). Each action is one call to
agora.social.community_notes (or ai/note_drafts.py for a draft); refusals are shown on the
page with their reason (422 / 403), never a half-done change."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from agora.ai.note_drafts import LABEL, draft_note
from agora.ai.usage import AssistantUnavailable, QuotaExceeded
from agora.auth.web_sessions import SignedIn
from agora.http.deps import SessionDep
from agora.http.params import flag
from agora.social.community_notes import note_reading, note_writing
from agora.social.rules.errors import DomainError, NotFound
from agora.web.page_feeds import hydrate
from agora.web.render import render
from agora.web.route import id_or_404, web_router
from agora.web.session import Form, Me, Viewer, field

router = web_router()


async def _recover(session: AsyncSession, me: SignedIn) -> None:
    """After a refused change: nothing of it stays, and the viewer's row is usable again."""
    await session.rollback()
    await session.refresh(me.account)


CLASSIFICATIONS = [
    ("missing_context", "Missing important context"),
    ("misleading", "Misleading"),
    ("not_misleading", "Not misleading"),
]
HELPFULNESS = [
    ("helpful", "Helpful"),
    ("somewhat_helpful", "Somewhat helpful"),
    ("not_helpful", "Not helpful"),
]


async def _notes_page(
    request: Request,
    session: AsyncSession,
    viewer_id: int | None,
    username: str,
    post_id: int,
    *,
    draft: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    found = await hydrate(session, viewer_id, [post_id])
    if not found or found[0].account.username.lower() != username.lower():
        raise NotFound()
    notes = await note_reading.notes_on_post(session, viewer_id, post_id)
    context = {
        "view": found[0],
        "notes": notes,
        "draft": draft or {},
        "error": error,
        "classifications": CLASSIFICATIONS,
        "helpfulness": HELPFULNESS,
        "reasons": note_writing.REASONS,
        "back": f"/@{found[0].account.username}/{post_id}/notes",
        "draft_label": LABEL,
    }
    return render(request, "notes.html", context, status=status)


@router.get("/@{username}/{post_id}/notes")
async def post_notes(
    request: Request, session: SessionDep, viewer: Viewer, username: str, post_id: str
) -> Response:
    """A post's Community Notes, and (signed in) the forms to rate and write."""
    viewer_id = viewer.account.id if viewer else None
    return await _notes_page(request, session, viewer_id, username, id_or_404(post_id))


@router.post("/@{username}/{post_id}/notes")
async def write(
    request: Request, session: SessionDep, me: Me, form: Form, username: str, post_id: str
) -> Response:
    """Write a note (the text may start from the assistant's draft, marked so)."""
    pid, me_id = id_or_404(post_id), me.account.id
    text, classification = field(form, "text"), field(form, "classification")
    assisted = flag(field(form, "drafted_with_assistant"))
    try:
        await note_writing.write_note(
            session, me.account, pid, text, classification, drafted_with_assistant=assisted
        )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        await _recover(session, me)
        draft = {"text": text, "classification": classification, "drafted_with_assistant": assisted}
        return await _notes_page(
            request,
            session,
            me_id,
            username,
            pid,
            draft=draft,
            error=exc.message,
            status=exc.status,
        )
    return RedirectResponse(f"/@{username}/{pid}/notes", status_code=303)


@router.post("/@{username}/{post_id}/notes/draft")
async def draft(
    request: Request, session: SessionDep, me: Me, form: Form, username: str, post_id: str
) -> Response:
    """The assistant's draft, put in the form for the person to edit and submit."""
    pid, me_id = id_or_404(post_id), me.account.id
    await session.commit()  # the model is called outside the request's transaction
    try:
        drafted = await draft_note(request.app.state.db, me_id, pid)
    except (QuotaExceeded, AssistantUnavailable) as exc:
        return await _notes_page(
            request, session, me_id, username, pid, error=exc.message, status=exc.status
        )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return await _notes_page(
            request, session, me_id, username, pid, error=exc.message, status=exc.status
        )
    text = {"text": drafted.text, "classification": drafted.classification}
    return await _notes_page(
        request, session, me_id, username, pid, draft={**text, "drafted_with_assistant": True}
    )


@router.post("/web/notes/{note_id}/rate")
async def rate(request: Request, session: SessionDep, me: Me, form: Form, note_id: str) -> Response:
    """Rate a note, then back to the page it was rated on."""
    reasons = [r for r in form.getlist("reasons") if isinstance(r, str)]
    back = field(form, "back")
    if not back.startswith("/") or back.startswith("//"):
        back = "/notes/rate"
    try:
        await note_writing.rate_note(
            session, me.account, id_or_404(note_id), field(form, "helpfulness"), reasons
        )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        await _recover(session, me)
        return render(
            request,
            "error.html",
            {"message": exc.message, "status": exc.status},
            status=exc.status,
        )
    return RedirectResponse(back, status_code=303)


@router.get("/notes/rate")
async def rate_notes(request: Request, session: SessionDep, me: Me) -> Response:
    """Notes that need ratings, each under its post (not one's own, not rated yet)."""
    views = await note_reading.recent_notes(session, me.account.id, to_rate=True)
    posts = await hydrate(session, me.account.id, sorted({v.note.post_id for v in views}))
    by_post = {p.post.id: p for p in posts}
    items = [(v, by_post[v.note.post_id]) for v in views if v.note.post_id in by_post]
    context = {
        "nav": "notes",
        "items": items,
        "helpfulness": HELPFULNESS,
        "reasons": note_writing.REASONS,
        "back": "/notes/rate",
    }
    return render(request, "rate_notes.html", context)
