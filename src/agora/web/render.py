"""Jinja2 rendering shared by every page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from agora.config import get_settings
from agora.data.signals import response_signals
from agora.social.instance.instance_settings import last_known
from agora.web import post_cards  # noqa: F401 (its template globals: cards on every page)
from agora.web.jinja_env import environment

STATIC = Path(__file__).parent / "static"
_env = environment

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    """Render a page with the instance settings (as `current_viewer` read them for this
    request: an admin's changes apply at once), the signed-in viewer (if any) and its CSRF
    token in scope, strict security headers, and the AI-use signals of what the page shows
    (meta tags; the signal hook writes the same into the headers)."""
    state = request.state._state
    html = _env.get_template(template).render(
        request=request,
        settings=state.get("site_settings") or last_known(),
        viewer=state.get("viewer"),
        viewer_is_admin=state.get("viewer_is_admin", False),
        csrf=state.get("csrf", ""),
        signals=response_signals(),
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if state.get("viewer") is not None:
        response.headers["Cache-Control"] = "private, no-store"
    if state.get("new_presession"):
        from agora.web.session import PRESESSION_COOKIE, set_cookie

        set_cookie(response, PRESESSION_COOKIE, state["new_presession"])
    return response


def render_fragment(template: str, **context: Any) -> str:
    """A template as a string (fragments answered to HTMX, or used by the live stream)."""
    return _env.get_template(template).render(settings=get_settings(), **context)
