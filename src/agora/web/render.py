"""Jinja2 rendering shared by every page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from agora.config import get_settings
from agora.data.signals import response_signals
from agora.social.instance.instance_settings import last_known
from agora.web.admin_access import DONE, SECTIONS
from agora.web.formatting import TEMPLATE_GLOBALS
from agora.web.post_cards import cards_html, hole, post_card

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(TEMPLATE_GLOBALS)
_env.globals.update(admin_sections=SECTIONS, admin_done=DONE, zip=zip)
_env.globals.update(hole=hole, post_card=post_card, cards_html=cards_html)

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


def template_module(template: str) -> Any:
    """A template's macros, callable from Python (web/post_cards.py)."""
    return _env.get_template(template).module
