"""The one Jinja2 environment of the web app's pages and fragments: the templates, HTML
autoescaping, the globals of formatting.py and the admin console (web/card_html.py and
web/post_cards.py add their own when imported; web/render.py renders with it), and holes.

**Holes.** A rendering kept for many requests (a post card, a card's footer) marks what each
request fills in with `hole(name)`: a NUL, a random per-process mark and the name, which no
text can forge (the mark is never sent), cut out once (`cut_at_holes`: literal, hole name,
literal...) and filled per request (`filled`)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

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
    """A template's macros, callable from Python (web/card_html.py, web/card_footers.py)."""
    return environment.get_template(template).module


_MARK = secrets.token_hex(8)
_HOLE = re.compile(f"\x00{_MARK}(\\w+)\x00")


def hole(name: str) -> Markup:
    """Where a request fills in `name` (a template global)."""
    return Markup(f"\x00{_MARK}{name}\x00")


def cut_at_holes(html: str) -> tuple[str, ...]:
    """A rendering cut at its holes: literal HTML at even positions, hole names at odd."""
    return tuple(_HOLE.split(html))


def filled(parts: tuple[str, ...], values: Mapping[str, str]) -> str:
    """A rendering cut at its holes with each hole's value (escaped HTML) put back."""
    return "".join([values[p] if i % 2 else p for i, p in enumerate(parts)])


environment.globals["hole"] = hole
