"""Sign up, sign in and sign out of the web app (`/auth/...`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from agora.auth import oauth
from agora.auth.standing import UNCONFIRMED
from agora.auth.web_sessions import SESSION_COOKIE, end_session, start_session
from agora.http.deps import SessionDep
from agora.http.params import flag
from agora.http.ratelimit import sign_in_throttle
from agora.social.people import registration
from agora.social.rules.errors import Forbidden, Invalid
from agora.web.oauth_pages import needs_code
from agora.web.render import render
from agora.web.route import safe_next, web_router
from agora.web.session import (
    Form,
    Viewer,
    clear_session_cookie,
    field,
    set_session_cookie,
)

router = web_router()


@router.get("/auth/sign_in")
async def sign_in_page(request: Request, viewer: Viewer, next: str | None = None) -> Response:
    """The sign-in form (signed-in people go straight on)."""
    if viewer is not None:
        return RedirectResponse(safe_next(next) if next else "/home", status_code=303)
    return render(request, "sign_in.html", {"next": safe_next(next), "login": ""})


@router.post("/auth/sign_in")
async def sign_in(request: Request, session: SessionDep, form: Form) -> Response:
    """Check the password (rate limited as every door's: `oauth.sign_in`), open a session
    and go where the person was going."""
    login, target = field(form, "username").strip(), safe_next(field(form, "next"))
    throttle, code = sign_in_throttle(request), field(form, "otp_attempt") or None
    try:
        account = await oauth.sign_in(session, login, field(form, "password"), throttle, code=code)
    except oauth.OAuthError as exc:
        context = {
            "next": target,
            "login": login,
            "error": exc.message,
            "unconfirmed": exc.message == UNCONFIRMED,
            "need_code": needs_code(exc, code),
        }
        return render(
            request, "sign_in.html", context, status=exc.status if exc.status != 400 else 401
        )
    token = await start_session(session, account, request.headers.get("user-agent", ""))
    response = RedirectResponse(target if target != "/" else "/home", status_code=303)
    set_session_cookie(response, token)
    return response


@router.get("/auth/sign_up")
async def sign_up_page(request: Request, viewer: Viewer) -> Response:
    """The sign-up form (or why there is none)."""
    if viewer is not None:
        return RedirectResponse("/home", status_code=303)
    return render(request, "sign_up.html", {"values": {}})


@router.post("/auth/sign_up")
async def sign_up(request: Request, session: SessionDep, form: Form) -> Response:
    """Create the account (as the API does: `registration.register`) and sign in, or say
    that a confirmation link was mailed or that a moderator approves it first."""
    values = {name: field(form, name).strip() for name in ("username", "email")}
    try:
        if field(form, "password") != field(form, "confirm"):
            raise Invalid("The two passwords differ")
        registered = await registration.register(
            session,
            username=values["username"],
            email=values["email"],
            password=field(form, "password"),
            agreement=flag(field(form, "agreement")),
        )
    except (Invalid, Forbidden) as exc:
        failed = {"values": values, "error": exc.message}
        return render(request, "sign_up.html", failed, status=exc.status)
    if registered.confirming or registered.pending:
        mailed_to = values["email"] if registered.confirming else None
        waiting: dict[str, Any] = {
            "values": {},
            "confirming": mailed_to,
            "pending": registered.pending,
        }
        return render(request, "sign_up.html", waiting)
    token = await start_session(session, registered.account, request.headers.get("user-agent", ""))
    response = RedirectResponse("/home", status_code=303)
    set_session_cookie(response, token)
    return response


@router.post("/auth/sign_out")
async def sign_out(request: Request, session: SessionDep, form: Form) -> Response:
    """End this browser's session."""
    await end_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/", status_code=303)
    clear_session_cookie(response)
    return response
