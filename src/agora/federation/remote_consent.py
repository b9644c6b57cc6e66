"""Remote authors' consent: what an actor document, its profile and its profile page say about
reusing the author's content, turned into Agora's categories (docs/FEDERATION.md, "Reading
remote authors' intents").

Signals read, and what each one states:
- Agora's `dataReuse` on the actor: each category it names, as named (allow or deny).
- Bluesky-shaped intents: an actor property holding a declaration object
  (`"$type": "org.user-intents.declaration"`, categories bare or prefixed
  `org.user-intents.`, each `{"allow": bool}`): each Bluesky category it names.
- `#noai` in the profile (summary, profile fields or `tag`): every AI category denied
  (training on text and images, bulk datasets, the assistant); `#nobot`: the assistant denied
  and `no_bot` (it never answers or mentions the account); `#nobridge`: bridging denied.
- The profile page's `X-Robots-Tag` header or `<meta name="robots">`: `noai` denies text and
  image training and bulk datasets, `noimageai` image training. Read only when the actor
  publishes no intents of its own (`dataReuse` or Bluesky-shaped): those say more, and the
  page's robots signal is derived from them anyway.

Combining: **a refusal from any signal wins**; an allow counts only when no signal refuses
that category. Nothing here decides what Agora does with the result: data/consent.py (the
rule) does, with remote content limited to the assistant whatever the author allows.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from agora.data.consent import Category, RemoteChoice
from agora.federation.client import FederationError, fetch_page_head

BLUESKY_DECLARATION = ("org.user-intents.declaration", "org.user-intents.demo.declaration")
BLUESKY_PREFIX = "org.user-intents."
BLUESKY_CATEGORIES = (
    Category.GENAI_TEXT,
    Category.ARCHIVE,
    Category.BULK_DATASET,
    Category.BRIDGING,
)
AI_CATEGORIES = (
    Category.GENAI_TEXT,
    Category.GENAI_IMAGES,
    Category.BULK_DATASET,
    Category.ASSISTANT,
)
TAG_DENIES: dict[str, tuple[Category, ...]] = {
    "noai": AI_CATEGORIES,
    "nobot": (Category.ASSISTANT,),
    "nobridge": (Category.BRIDGING,),
}
ROBOTS_DENIES: dict[str, tuple[Category, ...]] = {
    "noai": (Category.GENAI_TEXT, Category.GENAI_IMAGES, Category.BULK_DATASET),
    "noimageai": (Category.GENAI_IMAGES,),
}
TAG_RE = re.compile(r"(?<![\w#])#(noai|nobot|nobridge)\b", re.IGNORECASE)
BLOCK_TAG_RE = re.compile(r"</?(?:p|br|div|li|ul|ol|h\d|blockquote)\b[^>]*>", re.IGNORECASE)
META_RE = re.compile(r"<meta\b[^>]*>", re.IGNORECASE)
ATTR_RE = re.compile(r"""([a-z-]+)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""", re.IGNORECASE)
PAGE_BYTES = 64 * 1024  # the head of a profile page is enough for its meta tags
PAGE_TIMEOUT = 3.0


@dataclass
class RemoteConsent:
    """A remote author's stated choices, per category, and whether they asked bots to leave
    them alone."""

    choices: dict[Category, RemoteChoice] = field(default_factory=dict)
    no_bot: bool = False
    publishes_intents: bool = False  # the actor carries machine-readable intents

    def state(self, category: Category, allow: bool, source: str) -> None:
        """Record one signal: a refusal replaces an allow; an allow never replaces anything."""
        found = self.choices.get(category)
        if found is None or (found.allow and not allow):
            self.choices[category] = RemoteChoice(allow, source)

    def deny(self, categories: Iterable[Category], source: str) -> None:
        """Record a refusal of each category."""
        for category in categories:
            self.state(category, False, source)


def _allow_of(entry: Any) -> bool | None:
    if isinstance(entry, bool):
        return entry
    value = entry.get("allow") if isinstance(entry, dict) else None
    return value if isinstance(value, bool) else None


def _read_agora(found: RemoteConsent, doc: dict[str, Any]) -> None:
    intents = doc.get("dataReuse")
    if not isinstance(intents, dict):
        return
    found.publishes_intents = True
    for category in Category:
        allow = _allow_of(intents.get(category.value))
        if allow is not None:
            found.state(category, allow, "dataReuse")


def _bluesky_declarations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    values = [v for v in doc.values() if isinstance(v, dict)]
    values += [v for v in doc.get("attachment") or [] if isinstance(v, dict)]
    return [v for v in values if v.get("$type") in BLUESKY_DECLARATION]


def _read_bluesky(found: RemoteConsent, doc: dict[str, Any]) -> None:
    for declaration in _bluesky_declarations(doc):
        found.publishes_intents = True
        for category in BLUESKY_CATEGORIES:
            entry = declaration.get(category.value, declaration.get(BLUESKY_PREFIX + category))
            allow = _allow_of(entry)
            if allow is not None:
                found.state(category, allow, "userIntents")


def _profile_texts(doc: dict[str, Any]) -> list[str]:
    texts = [doc.get("summary"), doc.get("name")]
    for item in doc.get("attachment") or []:
        if isinstance(item, dict) and item.get("type") == "PropertyValue":
            texts.append(item.get("value"))
    for tag in doc.get("tag") or []:
        if isinstance(tag, dict) and tag.get("type") == "Hashtag":
            texts.append(tag.get("name"))
    return [_plain(t) for t in texts if isinstance(t, str)]


def _plain(fragment: str) -> str:
    """The text of an HTML fragment: block tags become spaces, inline ones vanish (Mastodon
    writes a hashtag as `#<span>tag</span>`)."""
    spaced = BLOCK_TAG_RE.sub(" ", fragment)
    return html.unescape(re.sub(r"<[^>]*>", "", spaced))


def profile_tags(texts: Iterable[str]) -> set[str]:
    """The consent hashtags (`noai`, `nobot`, `nobridge`, lower-case) in some profile text."""
    return {m.group(1).lower() for text in texts for m in TAG_RE.finditer(text)}


def read_actor(doc: dict[str, Any]) -> RemoteConsent:
    """What an actor document says (its intents and the hashtags of its profile)."""
    found = RemoteConsent()
    _read_agora(found, doc)
    _read_bluesky(found, doc)
    tags = profile_tags(_profile_texts(doc))
    for tag in sorted(tags):
        found.deny(TAG_DENIES[tag], f"#{tag}")
    found.no_bot = "nobot" in tags
    return found


def robots_directives(headers: Iterable[tuple[str, str]], page_head: str) -> set[str]:
    """The robots directives (lower-case) of a page: its `X-Robots-Tag` headers (those for
    every user agent) and its `<meta name="robots">` tags."""
    values = [v for k, v in headers if k.lower() == "x-robots-tag"]
    for tag in META_RE.findall(page_head):
        attrs = {k.lower(): v.strip("\"'") for k, v in ATTR_RE.findall(tag)}
        if attrs.get("name", "").lower() == "robots":
            values.append(html.unescape(attrs.get("content", "")))
    directives = set()
    for value in values:
        if ":" in value.split(",")[0]:  # "botname: noindex" speaks to one crawler only
            continue
        directives |= {d.strip().lower() for d in value.split(",") if d.strip()}
    return directives


def note_opts_out(note: dict[str, Any]) -> bool:
    """Whether a received Note asks not to be reused by AI: Agora's per-post
    `dataReuse.noAiReuse`, or a `#noai` / `#nobot` hashtag on the post."""
    override = note.get("dataReuse")
    if isinstance(override, dict) and override.get("noAiReuse") is True:
        return True
    names = [
        t.get("name")
        for t in note.get("tag") or []
        if isinstance(t, dict) and t.get("type") == "Hashtag"
    ]
    return bool(profile_tags(n for n in names if isinstance(n, str)) & {"noai", "nobot"})


async def read_profile_page(found: RemoteConsent, actor_uri: str, page_url: str | None) -> None:
    """Add the robots signal of the author's profile page, when it is worth a request: the
    actor publishes no intents and the page is on the actor's own host. A page that cannot be
    read adds nothing."""
    if found.publishes_intents or not page_url:
        return
    if urlsplit(page_url).netloc.lower() != urlsplit(actor_uri).netloc.lower():
        return
    try:
        page = await fetch_page_head(page_url, PAGE_BYTES, PAGE_TIMEOUT)
    except FederationError:
        return
    head = page.body.decode("utf-8", errors="replace").split("</head>", 1)[0]
    directives = robots_directives(page.headers.multi_items(), head)
    for directive, categories in ROBOTS_DENIES.items():
        if directive in directives:
            found.deny(categories, "robots")
