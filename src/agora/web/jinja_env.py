"""The one Jinja2 environment of the web app's pages and fragments: the templates, HTML
autoescaping, and the globals of formatting.py and the admin console (web/post_cards.py adds
its own when imported; web/render.py renders with it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from agora.web.admin_access import DONE, SECTIONS
from agora.web.formatting import TEMPLATE_GLOBALS

TEMPLATES = Path(__file__).parent / "templates"
environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.globals.update(TEMPLATE_GLOBALS)
environment.globals.update(admin_sections=SECTIONS, admin_done=DONE, zip=zip)


def template_module(template: str) -> Any:
    """A template's macros, callable from Python (web/post_cards.py)."""
    return environment.get_template(template).module
