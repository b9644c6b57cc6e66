"""The web door's route class: every failure a page or an HTMX action can meet becomes an
HTML answer (a redirect to sign in, a 403 for a missing CSRF token, the error's status and
message), never JSON and never a 500 for something a browser can send."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from html import escape
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from agora.db.engine import LOCK_RETRY_AFTER, is_database_busy
from agora.http.cut_reads import mark_cut
from agora.http.error_responses import BUSY
from agora.http.ratelimit import RateLimited, refusal_headers
from agora.ids import parse_id
from agora.social.rules.errors import DomainError, NotFound
from agora.web.render import render
from agora.web.session import CsrfFailed, SignInRequired, is_htmx

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
CSRF_MESSAGE = "This form has expired. Reload the page and try again."


def id_or_404(raw: str | None) -> int:
    """An id from a URL or form (`ids.parse_id`, the API's rule); NotFound (a 404 page) when
    it is not one."""
    found = parse_id(raw)
    if found is None:
        raise NotFound()
    return found


def safe_next(target: str | None) -> str:
    """A local path to go back to after signing in (anything else becomes '/')."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def sign_in_redirect(request: Request) -> Response:
    """Where a signed-out browser is sent: the sign-in page, then back here."""
    if is_htmx(request):  # an action: sign in, then start again from home
        headers = {"HX-Redirect": "/auth/sign_in"}
        return HTMLResponse("Sign in first", status_code=401, headers=headers)
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = "/auth/sign_in" + (f"?next={quote(safe_next(back))}" if back != "/" else "")
    return RedirectResponse(target, status_code=303)


def error_page(request: Request, status: int, message: str) -> Response:
    """The error as a full page, or as a short fragment for HTMX (shown by app.js)."""
    if is_htmx(request):
        return HTMLResponse(escape(message), status_code=status)
    return render(request, "error.html", {"status": status, "message": message}, status=status)


class WebRoute(APIRoute):
    """An APIRoute whose errors are answered as HTML."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return sign_in_redirect(request)
            except CsrfFailed:
                return error_page(request, 403, CSRF_MESSAGE)
            except RateLimited as exc:
                page = error_page(request, 429, "Too many attempts. Wait a few minutes.")
                page.headers.update(refusal_headers(exc.verdict))
                return page
            except RequestValidationError:
                return error_page(request, 400, "This request is not valid.")
            except DomainError as exc:
                return error_page(request, exc.status, exc.message)
            except (DBAPIError, PoolTimeout, ConnectionRefusedError) as exc:
                if not is_database_busy(exc):
                    raise
                mark_cut(request.scope, exc)  # a read is run again (http/cut_reads.py)
                page = error_page(request, 503, BUSY)
                page.headers["Retry-After"] = str(LOCK_RETRY_AFTER)
                return page

        return route


def web_router() -> APIRouter:
    """A router for pages and HTMX actions (not in the OpenAPI schema)."""
    return APIRouter(route_class=WebRoute, include_in_schema=False)
