"""Cleaning a post's text before it enters a dataset: mentions of people who did not consent
become a placeholder; e-mail addresses and phone numbers are removed; links to this
instance's own pages (which name a post id or a username, and would look a post or a person
up) become `[link]`."""

from __future__ import annotations

import re
from collections.abc import Container
from urllib.parse import urlparse

from agora.social.posts.text import MENTION_RE, URL_RE

MENTION_PLACEHOLDER = "@[user]"
EMAIL_PLACEHOLDER = "[email]"
PHONE_PLACEHOLDER = "[phone]"
LINK_PLACEHOLDER = "[link]"

EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Digits in groups, optionally with a leading + and brackets: "+1 (415) 555-0100",
# "020 7946 0958", "4155550100". `_phone` decides from the digit count.
PHONE_RE = re.compile(
    r"(?<![\w+])\+?(?:\(\d{1,4}\)|\d{1,4})(?:[\s.-]?(?:\(\d{1,4}\)|\d{1,5})){1,5}(?!\w)"
)


# Cheap pre-checks: most posts hold no "@" and no long run of digits, and skip the full scans.
MAYBE_PHONE_RE = re.compile(r"[0-9][0-9 ().+-]{5,}[0-9]")
DATE_RE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}")


def _phone(match: re.Match[str]) -> str:
    raw = match.group(0)
    if DATE_RE.fullmatch(raw):
        return raw
    digits = sum(ch.isdigit() for ch in raw)
    separated = raw.startswith("+") or any(ch in raw for ch in " .-()")
    if (separated and 7 <= digits <= 15) or 10 <= digits <= 15:
        return PHONE_PLACEHOLDER
    return raw


def _maybe_email(text: str) -> bool:
    """Whether some "@" follows a character an address can end its local part with."""
    at = text.find("@", 1)
    while at != -1:
        before = text[at - 1]
        if before.isalnum() or before in "._+-":
            return True
        at = text.find("@", at + 1)
    return False


def _without_local_links(text: str, local_host: str) -> str:
    host = local_host.lower()

    def link(match: re.Match[str]) -> str:
        try:
            found = urlparse(match.group(0)).netloc.lower()
        except ValueError:  # a malformed URL cannot be told apart: drop it
            return LINK_PLACEHOLDER
        return LINK_PLACEHOLDER if found == host else match.group(0)

    return URL_RE.sub(link, text)


def scrub(text: str, consenting_usernames: Container[str], local_host: str = "") -> str:
    """`text` with non-consenting (or remote) mentions, e-mail addresses, phone numbers and
    links to this instance (`local_host`, as in its base URL) replaced.
    `consenting_usernames` holds lower-cased local usernames."""
    if local_host and local_host.lower() in text.lower():
        text = _without_local_links(text, local_host)

    def mention(match: re.Match[str]) -> str:
        if match.group(2) is None and match.group(1).lower() in consenting_usernames:
            return match.group(0)
        return MENTION_PLACEHOLDER

    if "@" not in text:
        pass
    elif _maybe_email(text):
        text = EMAIL_RE.sub(EMAIL_PLACEHOLDER, MENTION_RE.sub(mention, text))
    else:
        text = MENTION_RE.sub(mention, text)
    if MAYBE_PHONE_RE.search(text):
        text = PHONE_RE.sub(_phone, text)
    return text
