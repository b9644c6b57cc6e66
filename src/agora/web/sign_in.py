"""Sign up, sign in and sign out of the web app (`/auth/...`)."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from agora.auth import oauth
from agora.auth.web_sessions import end_session, start_session
from agora.config import get_settings
from agora.http.deps import SessionDep
from agora.http.params import flag
from agora.http.ratelimit import sign_in_throttle
from agora.social.people.accounts import create_account
from agora.social.rules.errors import Invalid
from agora.web.render import render
from agora.web.route import safe_next, web_router
from agora.web.session import (
    SESSION_COOKIE,
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
    throttle = sign_in_throttle(request)
    try:
        account = await oauth.sign_in(session, login, field(form, "password"), throttle)
    except oauth.OAuthError as exc:
        context = {"next": target, "login": login, "error": exc.message}
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
    """Create the account (as the API does, following AGORA_REGISTRATIONS) and sign in, or
    say it waits for approval."""
    mode = get_settings().registrations
    values = {name: field(form, name).strip() for name in ("username", "email")}
    if mode == "closed":
        return render(request, "sign_up.html", {"values": values}, status=403)
    try:
        if not flag(field(form, "agreement")):
            raise Invalid("You must accept the server rules")
        if field(form, "password") != field(form, "confirm"):
            raise Invalid("The two passwords differ")
        account = await create_account(
            session,
            username=values["username"],
            email=values["email"],
            password=field(form, "password"),
            approved=mode == "open",
        )
        await session.commit()
    except Invalid as exc:
        context = {"values": values, "error": exc.message}
        return render(request, "sign_up.html", context, status=422)
    if mode == "approval":
        return render(request, "sign_up.html", {"values": {}, "pending": True})
    token = await start_session(session, account, request.headers.get("user-agent", ""))
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
