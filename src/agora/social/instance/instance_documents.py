"""The server's published texts: the extended description ("about"), the privacy policy and
the terms of service, as Mastodon's `/api/v1/instance/extended_description`,
`/privacy_policy` and `/terms_of_service` answer them and /about, /privacy-policy and /terms
show them.

Admins write them as plain text in the console (instance_settings.py: the only writer); this
module turns the text into HTML (escaped, blank lines make paragraphs, line breaks kept), so
no markup an admin types reaches a page or a client unescaped. A text's date is when an admin
last changed it, else `BUILT_IN_DATE` (the date of the environment's text).

Invariant: an empty privacy policy answers `DEFAULT_PRIVACY_POLICY` (every server has one);
an empty terms of service answers NotFound (Mastodon's 404: the server publishes none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from html import escape

from sqlalchemy.ext.asyncio import AsyncSession

from agora.social.instance.instance_settings import changed_at, effective
from agora.social.rules.errors import NotFound

BUILT_IN_DATE = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_PRIVACY_POLICY = (
    "This server stores what you post, your profile and who you follow, to show them to the "
    "people you choose. Posts you make public are sent to the servers of the people who "
    "follow you.\n\n"
    "Your email address and password are used only to sign you in. You can download your "
    "data and delete your account at any time from your settings.\n\n"
    "Whether AI may be trained on your posts is your choice, in your settings."
)


@dataclass(frozen=True, slots=True)
class Document:
    """A published text: its HTML and when it last changed."""

    content: str
    updated_at: datetime

    @property
    def effective_date(self) -> date:
        """The (UTC) day the text took effect (the terms of service's `effective_date`)."""
        return self.updated_at.astimezone(UTC).date()


def paragraphs(text: str) -> str:
    """Plain text as HTML: escaped, a paragraph per block separated by blank lines, line
    breaks kept inside one."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if b.strip()]
    return "".join(f"<p>{escape(b).replace(chr(10), '<br>')}</p>" for b in blocks)


async def _document(session: AsyncSession, name: str, text: str) -> Document:
    return Document(paragraphs(text), await changed_at(session, name) or BUILT_IN_DATE)


async def extended_description(session: AsyncSession) -> Document:
    """The longer "about" text (the short description when none was written)."""
    s = await effective(session)
    text = s.instance_extended_description or s.instance_description
    return await _document(session, "instance_extended_description", text)


async def privacy_policy(session: AsyncSession) -> Document:
    """The privacy policy (`DEFAULT_PRIVACY_POLICY` when the admins wrote none)."""
    s = await effective(session)
    text = s.instance_privacy_policy or DEFAULT_PRIVACY_POLICY
    return await _document(session, "instance_privacy_policy", text)


async def terms_of_service(session: AsyncSession, on: date | None = None) -> Document:
    """The terms of service in effect (Agora keeps one version): NotFound when the admins
    published none, or when `on` is given and is not the day the current terms took
    effect."""
    s = await effective(session)
    if not s.instance_terms_of_service:
        raise NotFound()
    found = await _document(session, "instance_terms_of_service", s.instance_terms_of_service)
    if on is not None and on != found.effective_date:
        raise NotFound()
    return found
