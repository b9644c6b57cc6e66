"""Who is using the web app: the session cookie, the viewer dependencies and CSRF checks.

- `agora_session`: the session token (HttpOnly, SameSite=Lax, Secure over https).
- `agora_presession`: a random secret for signed-out forms (sign in, sign up), so that they
  carry a CSRF token too (double submit, bound to this cookie).

Every form and HTMX request sends the CSRF token, as the `csrf` field or the `X-CSRF-Token`
header (base.html puts it in `hx-headers` on <body>, so every HTMX request carries it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response
from starlette.datastructures import FormData

from agora.auth.credentials import new_token
from agora.auth.web_sessions import (
    SESSION_COOKIE,
    SignedIn,
    csrf_for,
    csrf_matches,
    find_session,
)
from agora.config import get_settings
from agora.http.deps import SessionDep
from agora.http.ratelimit import web_write_attempt
from agora.social.instance.instance_settings import effective
from agora.social.people.moderation import is_admin

PRESESSION_COOKIE = "agora_presession"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):
    """The page needs a signed-in person (answered with a redirect to the sign-in page)."""


class CsrfFailed(Exception):
    """A form or HTMX request without the CSRF token of its session (answered with 403)."""


def _secure() -> bool:
    return get_settings().base_url.lower().startswith("https://")


def set_cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
    """Set one of our cookies: HttpOnly, SameSite=Lax, Secure when served over https."""
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="lax", secure=_secure(), path="/"
    )


def set_session_cookie(response: Response, token: str) -> None:
    """The signed-in browser's cookie, for as long as the session lasts."""
    set_cookie(response, SESSION_COOKIE, token, get_settings().web_session_days * 86400)
    response.delete_cookie(PRESESSION_COOKIE, path="/")


def clear_session_cookie(response: Response) -> None:
    """Forget the session in the browser."""
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")


async def current_viewer(request: Request, session: SessionDep) -> SignedIn | None:
    """The signed-in person of this request, or None (kept in `request.state.viewer`, where
    the templates find it)."""
    if "viewer" in request.state._state:
        known: SignedIn | None = request.state.viewer
        return known
    found = await find_session(session, request.cookies.get(SESSION_COOKIE))
    request.state.site_settings = await effective(session)  # what the page shows of them
    request.state.viewer = found
    request.state.viewer_is_admin = found is not None and await is_admin(session, found.account.id)
    request.state.csrf = found.csrf if found else presession_csrf(request)
    return found


def presession_csrf(request: Request) -> str:
    """The CSRF token of a signed-out browser; makes its secret (set on the response by
    `remember_presession`) when it has none yet."""
    secret = request.cookies.get(PRESESSION_COOKIE) or request.state._state.get("new_presession")
    if not secret:
        secret = new_token()
        request.state.new_presession = secret
    return csrf_for(secret)


async def signed_in(
    viewer: Annotated[SignedIn | None, Depends(current_viewer)],
) -> SignedIn:
    """The signed-in person; SignInRequired otherwise."""
    if viewer is None:
        raise SignInRequired()
    return viewer


async def checked_form(
    request: Request, viewer: Annotated[SignedIn | None, Depends(current_viewer)]
) -> FormData:
    """The submitted form, once its CSRF token matches the session (or, signed out, the
    pre-session cookie), counted against the write rate limit as the API's writes are
    (`ratelimit.web_write_attempt`); CsrfFailed or RateLimited otherwise. Every web POST
    takes its form from here."""
    form = await request.form()
    sent = request.headers.get(CSRF_HEADER) or _text(form.get(CSRF_FIELD))
    secret = viewer.token if viewer else request.cookies.get(PRESESSION_COOKIE)
    if not csrf_matches(secret, sent):
        raise CsrfFailed()
    await web_write_attempt(request, viewer.account.id if viewer else None)
    return form


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


Viewer = Annotated[SignedIn | None, Depends(current_viewer)]
Me = Annotated[SignedIn, Depends(signed_in)]
Form = Annotated[FormData, Depends(checked_form)]


def field(form: FormData, name: str, default: str = "") -> str:
    """A text field of a form ('' or `default` when missing or a file)."""
    value = form.get(name)
    return value if isinstance(value, str) else default


def is_htmx(request: Request) -> bool:
    """Whether HTMX made this request (it then wants a fragment, not a page)."""
    return request.headers.get("hx-request") == "true"
