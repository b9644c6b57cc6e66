"""Our linkifier: plain text in, safe HTML out, with links, @mentions and #hashtags.

A mention is local (`@name`, or `@name@` this server's domain) or remote (`@name@host`); a
remote one links to the remote account only when it is known here (stored by federation), as
Mastodon renders it (an `h-card` span around `@<span>name</span>`), and stays text otherwise.

Length rules follow Mastodon: a URL counts as `url_chars` characters whatever its length, and a
mention counts only its local part (`@alice@example.org` counts as `@alice`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

import nh3

from agora.config import get_settings

URL_RE = re.compile(r"https?://[^\s<>\"'\u00a0]+", re.IGNORECASE)
# @name, or @name@host where host is a domain or an address, with an optional port: any host
# makes it a remote mention (never a local one), unless it is this server's own domain
MENTION_RE = re.compile(
    r"(?<![\w@/.])@([A-Za-z0-9_]{1,30})(?:@([A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?))?"
)
TAG_RE = re.compile(r"(?<![\w&/#])#(\w{1,100})")
_TRAILING = ".,;:!?'\""

ALLOWED_TAGS = {"p", "br", "a", "span"}
ALLOWED_ATTRS = {"a": {"href", "class", "target", "translate"}, "span": {"class", "translate"}}


@dataclass(frozen=True, slots=True)
class MentionTarget:
    """An account a mention resolves to (its profile URL: here, or on its own server)."""

    id: int
    username: str
    url: str


def _trim_url(url: str) -> str:
    while url and url[-1] in _TRAILING:
        url = url[:-1]
    while url.endswith(")") and url.count(")") > url.count("("):
        url = url[:-1]
    return url


def _tokens(text: str) -> Iterator[tuple[str, str, re.Match[str] | None]]:
    """Split text into ("text" | "url" | "mention" | "tag", raw, match) pieces."""
    pos = 0
    while pos < len(text):
        found = [m for m in (rx.search(text, pos) for rx in (URL_RE, MENTION_RE, TAG_RE)) if m]
        if not found:
            break
        m = min(found, key=lambda x: (x.start(), -len(x.group(0))))
        if m.re is URL_RE:
            raw = _trim_url(m.group(0))
            yield "text", text[pos : m.start()], None
            yield "url", raw, m
            pos = m.start() + len(raw)
            continue
        if m.re is TAG_RE and m.group(1).isdigit():
            yield "text", text[pos : m.end()], None
            pos = m.end()
            continue
        yield "text", text[pos : m.start()], None
        yield ("mention" if m.re is MENTION_RE else "tag"), m.group(0), m
        pos = m.end()
    if pos < len(text):
        yield "text", text[pos:], None


def _local_mention(m: re.Match[str]) -> bool:
    """`@name`, or `@name@` this server's own domain."""
    host = m.group(2)
    return host is None or host.lower() == get_settings().domain.lower()


def _mention_key(m: re.Match[str]) -> str:
    """How a mention is looked up: the local name, or `name@host` (lower-cased)."""
    name = m.group(1).lower()
    return name if _local_mention(m) else f"{name}@{m.group(2).lower()}"


def extract_remote_mentions(text: str) -> list[str]:
    """Lower-cased `name@host` handles of remote accounts mentioned in `text`."""
    seen: dict[str, None] = {}
    for kind, _raw, m in _tokens(text):
        if kind == "mention" and m is not None and not _local_mention(m):
            seen.setdefault(_mention_key(m), None)
    return list(seen)


def extract_mentions(text: str) -> list[str]:
    """Lower-cased local usernames mentioned in `text` (remote mentions are skipped)."""
    seen: dict[str, None] = {}
    for kind, _raw, m in _tokens(text):
        if kind == "mention" and m is not None and _local_mention(m):
            seen.setdefault(m.group(1).lower(), None)
    return list(seen)


def extract_tags(text: str) -> list[str]:
    """Lower-cased hashtags in `text`, in order of first appearance."""
    seen: dict[str, None] = {}
    for kind, _raw, m in _tokens(text):
        if kind == "tag" and m is not None:
            seen.setdefault(m.group(1).lower(), None)
    return list(seen)


def extract_urls(text: str) -> list[str]:
    """The http(s) URLs in `text`, as the linkifier links them, in order of first
    appearance."""
    seen: dict[str, None] = {}
    for kind, raw, _m in _tokens(text):
        if kind == "url":
            seen.setdefault(raw, None)
    return list(seen)


def status_length(text: str, url_chars: int = 23) -> int:
    """Length of a status as Mastodon counts it."""
    total = 0
    for kind, raw, m in _tokens(text):
        if kind == "url":
            total += url_chars
        elif kind == "mention" and m is not None:
            total += len(m.group(1)) + 1
        else:
            total += len(raw)
    return total


def _render_piece(
    kind: str, raw: str, m: re.Match[str] | None, mentions: dict[str, MentionTarget], base: str
) -> str:
    if kind == "url":
        href = html.escape(raw, quote=True)
        return f'<a href="{href}" target="_blank">{html.escape(raw)}</a>'
    if kind == "mention" and m is not None:
        target = mentions.get(_mention_key(m))
        if target is not None:
            url = html.escape(target.url, quote=True)
            return (
                f'<span class="h-card" translate="no"><a href="{url}" class="u-url mention">'
                f"@<span>{html.escape(target.username)}</span></a></span>"
            )
    if kind == "tag" and m is not None:
        name = m.group(1)
        href = html.escape(f"{base}/tags/{name.lower()}", quote=True)
        return f'<a href="{href}" class="mention hashtag">#<span>{html.escape(name)}</span></a>'
    return html.escape(raw).replace("\n", "<br />")


def render_html(text: str, mentions: dict[str, MentionTarget], base_url: str) -> str:
    """Plain text to sanitised HTML: paragraphs, line breaks, links, mentions, hashtags."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip().replace("\r\n", "\n")) if p]
    out = []
    for para in paragraphs:
        body = "".join(_render_piece(k, r, m, mentions, base_url) for k, r, m in _tokens(para))
        out.append(f"<p>{body}</p>")
    return sanitize_html("".join(out))


def sanitize_html(markup: str) -> str:
    """Keep only the tags and attributes our renderer emits."""
    return nh3.clean(
        markup,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRS,
        url_schemes={"http", "https"},
        link_rel="nofollow noopener noreferrer",
    )
