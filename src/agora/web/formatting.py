"""Template helpers of the web app: times, visibility names and icons, media URLs, pages,
custom emoji in names and texts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape

from agora.db.models import Visibility, utcnow
from agora.social.media.card_images import card_image_url
from agora.social.media.custom_emojis import IN_TEXT
from agora.social.media.profile_images import image_url
from agora.social.posts.hydrate import PostView
from agora.social.reading.for_you_scoring import WEIGHTS

VISIBILITY = {
    Visibility.PUBLIC: ("public", "Public", "🌐"),
    Visibility.UNLISTED: ("unlisted", "Unlisted", "🔓"),
    Visibility.PRIVATE: ("private", "Followers only", "🔒"),
    Visibility.DIRECT: ("direct", "Mentioned people only", "✉"),
}


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """A short relative time: 'now', '5m', '3h', '2d', then the date ('12 Mar 2026')."""
    if when is None:
        return ""
    seconds = int(((now or utcnow()) - when).total_seconds())
    if seconds < 45:
        return "now"
    if seconds < 3600:
        return f"{max(1, round(seconds / 60))}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    if seconds < 7 * 86400:
        return f"{seconds // 86400}d"
    return when.strftime("%d %b %Y").lstrip("0")


def exact(when: datetime | None) -> str:
    """The exact time, shown on hover."""
    return when.strftime("%Y-%m-%d %H:%M UTC") if when else ""


def visibility(value: int) -> tuple[str, str, str]:
    """(api name, label, icon) of a post's visibility."""
    return VISIBILITY[Visibility(value)]


def media_links(view: PostView, viewer_id: int | None) -> list[tuple[Any, str | None, str | None]]:
    """Each attachment with its (original, preview) URLs for this viewer."""
    from agora.social.media.files import media_urls  # media are optional in a PostView

    return [(m, *media_urls(m, view.post.visibility, viewer_id)) for m in view.media]


@dataclass(frozen=True, slots=True)
class Feed:
    """One page of a timeline: its post cards (web/post_cards.py: `ShownCard`s by post id,
    joined for the request by `_feed_page.html`), for whom, and where the next (older) page
    is."""

    cards: list[tuple[int, Any]]
    viewer_id: int | None
    next_url: str | None
    # the For You feed's ranking of each post (score, contributions, reasons), by post id
    ranking: dict[int, Any] = field(default_factory=dict)


def next_url(path: str, cursor: int | None, full: bool, **params: Any) -> str | None:
    """The URL of the next page (None when this page was not full)."""
    if cursor is None or not full:
        return None
    query = {k: v for k, v in params.items() if v is not None}
    return f"{path}?{urlencode({**query, 'max_id': cursor})}"


def avatar_url(account: Any) -> str:
    """The URL of an account's avatar (the default picture until one is uploaded)."""
    return image_url(account, "avatar")


def header_url(account: Any) -> str:
    """The URL of an account's header image (the default until one is uploaded)."""
    return image_url(account, "header")


POLL_DURATIONS = [  # (seconds, label) offered by the composer
    (300, "5 minutes"),
    (3600, "1 hour"),
    (86400, "1 day"),
    (259200, "3 days"),
    (604800, "7 days"),
]

TAG = re.compile(r"(<[^>]*>)")


def emojified(text: str, emojis: list[dict[str, Any]] | None, *, html: bool = False) -> Markup:
    """`text` (plain, escaped here; or `html`, already sanitised) with each `:shortcode:` of
    a local emoji the row uses as `<img class="emoji">` whose alt is the text it replaces
    (remote emoji stay text: the pages' CSP loads images from this server only). In HTML,
    only text between tags changes, never an attribute."""
    source = str(text) if html else str(escape(text))
    local = {e["shortcode"]: e for e in emojis or () if e["url"].startswith("/")}
    if not local:
        return Markup(source)

    def image(found: re.Match[str]) -> str:
        emoji = local.get(found.group(1))
        if emoji is None:
            return found.group(0)
        code = escape(found.group(0))
        return (
            f'<img class="emoji" src="{escape(emoji["url"])}" alt="{code}" title="{code}" '
            'width="20" height="20" draggable="false">'
        )

    parts = TAG.split(source)
    return Markup("".join(p if i % 2 else IN_TEXT.sub(image, p) for i, p in enumerate(parts)))


TEMPLATE_GLOBALS: dict[str, Any] = {
    "emojified": emojified,
    "ago": ago,
    "avatar_url": avatar_url,
    "exact": exact,
    "visibility": visibility,
}
TEMPLATE_GLOBALS["media_links"] = media_links
TEMPLATE_GLOBALS["card_image_url"] = card_image_url


TEMPLATE_GLOBALS["quote_policies"] = [
    ("", "Your default"),
    ("public", "Anyone"),
    ("followers", "Your followers"),
    ("nobody", "Just you"),
]
TEMPLATE_GLOBALS["poll_durations"] = POLL_DURATIONS
TEMPLATE_GLOBALS["header_url"] = header_url
TEMPLATE_GLOBALS["weight_labels"] = {name: spec.label for name, spec in WEIGHTS.items()}
