"""The OAuth authorization page (/oauth/authorize): where a person signs in and lets an app
(a Mastodon client) act for them. Each step is one call into auth/oauth.py; the token
endpoint is the API's (api/routes/oauth_routes.py)."""

from __future__ import annotations

import math
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from agora.auth import oauth, two_factor
from agora.auth.oauth import OAuthError
from agora.http.deps import SessionDep
from agora.http.params import Params, read_params, validate
from agora.http.ratelimit import Verdict, refusal_headers, sign_in_throttle
from agora.web.render import render

router = APIRouter()


class AuthorizeQuery(Params):
    client_id: str = ""
    redirect_uri: str | None = None
    response_type: str = "code"
    scope: str | None = None
    state: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    force_login: str | None = None
    lang: str | None = None


async def _authorize_context(session: SessionDep, q: AuthorizeQuery) -> dict[str, Any]:
    app = await oauth.find_app(session, q.client_id)
    redirect = oauth.check_redirect(app, q.redirect_uri)
    scopes = oauth.requested_scopes(app, q.scope)
    if q.response_type != "code":
        raise OAuthError("unsupported_response_type", "Only response_type=code is supported")
    oauth.check_code_challenge(q.code_challenge, q.code_challenge_method)
    return {"app": app, "redirect_uri": redirect, "scopes": scopes, "query": q}


@router.get("/oauth/authorize", response_class=HTMLResponse)
@router.get("/oauth/authorize/", response_class=HTMLResponse, include_in_schema=False)
async def authorize_page(request: Request, session: SessionDep) -> Response:
    q = validate(AuthorizeQuery, await read_params(request))
    try:
        ctx = await _authorize_context(session, q)
    except OAuthError as exc:
        return render(request, "oauth_error.html", {"error": exc.message}, status=400)
    return render(request, "authorize.html", ctx)


@router.post("/oauth/authorize", response_class=HTMLResponse)
@router.post("/oauth/authorize/", response_class=HTMLResponse, include_in_schema=False)
async def authorize_submit(request: Request, session: SessionDep) -> Response:
    params = await read_params(request)
    q = validate(AuthorizeQuery, params)
    try:
        ctx = await _authorize_context(session, q)
    except OAuthError as exc:
        return render(request, "oauth_error.html", {"error": exc.message}, status=400)
    if params.get("decision") == "deny":
        return _redirect(ctx["redirect_uri"], {"error": "access_denied", "state": q.state})
    login = str(params.get("username", ""))
    code = str(params.get("otp_attempt", "")) or None
    try:
        account = await oauth.sign_in(
            session, login, str(params.get("password", "")), sign_in_throttle(request), code=code
        )
    except OAuthError as exc:
        asked = {"error": exc.message, "login": login, "need_code": needs_code(exc, code)}
        return render(request, "authorize.html", {**ctx, **asked}, status=401)
    code = await oauth.create_code(
        session,
        ctx["app"],
        account,
        ctx["scopes"],
        ctx["redirect_uri"],
        q.code_challenge,
        q.code_challenge_method,
    )
    if ctx["redirect_uri"] == oauth.OOB:
        return render(request, "oauth_code.html", {"code": code})
    return _redirect(ctx["redirect_uri"], {"code": code, "state": q.state})


def needs_code(exc: OAuthError, sent: str | None) -> bool:
    """Whether the form asks for the two-factor code again (it was asked for, or was
    wrong)."""
    return isinstance(exc, oauth.SecondFactorRequired) or (
        sent is not None and exc.message == two_factor.WRONG_CODE
    )


def _redirect(uri: str, params: dict[str, str | None]) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    sep = "&" if "?" in uri else "?"
    return RedirectResponse(f"{uri}{sep}{query}", status_code=302)


def too_many_sign_ins(request: Request, verdict: Verdict) -> Response:
    """The sign-in form's answer past a limit: a page saying when to try again."""
    wait = max(1, math.ceil((verdict.reset - time.time()) / 60))
    message = f"Too many sign-in attempts. Please try again in {wait} minute(s)."
    page = render(request, "oauth_error.html", {"error": message}, status=429)
    page.headers.update(refusal_headers(verdict))
    return page
