"""Deleting one's account from the settings (`/settings/delete`): one call into
social/people/account_deletion.py, then the browser is signed out."""

from __future__ import annotations

from fastapi import Request, Response

from agora.auth import two_factor
from agora.http.deps import SessionDep
from agora.social.people.account_deletion import delete_own_account
from agora.social.rules.errors import Invalid
from agora.web.render import render
from agora.web.route import web_router
from agora.web.session import Form, Me, clear_session_cookie, field

router = web_router()


@router.get("/settings/delete")
async def delete_page(request: Request, session: SessionDep, me: Me) -> Response:
    """What deleting means, and the form (password, and a code when 2FA is on)."""
    context = {
        "nav": "settings",
        "section": "delete",
        "needs_code": await two_factor.is_on(session, me.account.id),
    }
    return render(request, "settings_delete.html", context)


@router.post("/settings/delete")
async def delete_account(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Delete the account (suspended now, erased by a job) and sign this browser out."""
    try:
        await delete_own_account(
            session, me.account, field(form, "password"), field(form, "code") or None
        )
    except Invalid as exc:
        context = {
            "nav": "settings",
            "section": "delete",
            "needs_code": await two_factor.is_on(session, me.account.id),
            "error": exc.message,
        }
        return render(request, "settings_delete.html", context, status=422)
    request.state.viewer = None
    message = "Your account is deleted. Its posts and data are being erased."
    page = render(request, "auth_message.html", {"title": "Account deleted", "message": message})
    clear_session_cookie(page)
    return page
