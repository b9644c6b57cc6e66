"""Mails from templates: a plain-text part and an HTML part, in the reader's language.

Each mail is two templates in `templates/<language>/`: `<name>.txt` (its first line is
`Subject: ...`, then a blank line, then the text) and `<name>.html` (the HTML body, extending
`_layout.html`). A language is looked up as given (`pt-BR`), then without its region (`pt`),
then English, so a translation is a new directory and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
FALLBACK = "en"
_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True, slots=True)
class Composed:
    """A mail's subject and its two bodies."""

    subject: str
    text: str
    html: str


def languages() -> list[str]:
    """The languages mails are written in."""
    return sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir())


def language_for(locale: str | None) -> str:
    """The template language for a person's locale (`pt-BR` → `pt-BR`, `pt`, then `en`)."""
    known = set(languages())
    wanted = (locale or "").replace("_", "-")
    for candidate in (wanted, wanted.split("-")[0].lower()):
        if candidate in known:
            return candidate
    return FALLBACK


def compose(name: str, locale: str | None, context: dict[str, Any]) -> Composed:
    """Render mail `name` in the language of `locale` with `context`."""
    language = language_for(locale)
    text = _env.get_template(f"{language}/{name}.txt").render(context)
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject: "):
        raise ValueError(f"{language}/{name}.txt must start with a Subject: line")
    html = _env.get_template(f"{language}/{name}.html").render(context)
    return Composed(head.removeprefix("Subject: ").strip(), body.lstrip("\n"), html)
