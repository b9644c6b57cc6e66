"""The footer of a post card (its actions for a signed-in viewer, its counters for everyone
else), rendered once per process for each `FooterShape` with holes for the ids, counters,
username and CSRF token (`_post_viewer.html`'s `footer`), and filled per request: a page of
cards renders no Jinja for its footers. The shape holds no viewer's identity, only what
they did and may do; a test renders every shape both ways (tests/test_web_post_cards.py)."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from agora.web.jinja_env import cut_at_holes, filled, hole, template_module


class FooterShape(NamedTuple):
    """What a card's footer shows besides ids, counters and the CSRF token: whether the
    viewer is signed in, what they did and may do. A page's cards have a handful of shapes;
    each is rendered once per process (`_footer_parts`)."""

    signed_in: bool
    mine: bool
    is_boost: bool
    reblogged: bool
    favourited: bool
    bookmarked: bool
    muted: bool
    may_quote: bool
    revoke: bool  # the viewer may remove their post from this quote
    thread_focus: bool
    boostable: bool  # public or unlisted
    public: bool
    no_ai_reuse: bool


class FooterText(NamedTuple):
    """The values a footer's holes take (escaped HTML)."""

    outer_id: str
    id: str
    username: str
    replies: str
    reblogs: str
    favourites: str
    quote_id: str
    csrf: str


_FOOTER_HOLES = FooterText(*(hole(name) for name in FooterText._fields))


@lru_cache(maxsize=1024)
def _footer_parts(shape: FooterShape) -> tuple[str, ...]:
    return cut_at_holes(str(template_module("_post_viewer.html").footer(shape, _FOOTER_HOLES)))


def footer_html(shape: FooterShape, text: FooterText) -> str:
    """A card's footer: its shape's kept rendering with this request's values."""
    return filled(_footer_parts(shape), dict(zip(FooterText._fields, text, strict=True)))
