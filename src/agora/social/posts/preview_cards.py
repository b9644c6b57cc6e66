"""Link preview cards (Mastodon's PreviewCard): the card of a post's first link, made from
the linked page's OpenGraph / Twitter card tags, `<title>` and meta description.

Invariants:
- A post's card is the card of its first link (`first_link`: the first http(s) `<a>` of its
  HTML that is not a mention or a hashtag, as Mastodon picks it); a boost, a post with media
  or a quote has none (Mastodon).
- Every post written or received, and every edit of one, passes `schedule_card` (from
  writing.py's one index writer): it enqueues the `fetch_preview_card` job when the post has
  a link or shows a card (an edit may remove it). The job (federation/card_fetch.py) fetches
  the page outside any transaction through federation's guarded client and hands
  `keep_card` what it found; no fetch when `preview_cards` is off.
- One card per URL; a URL fetched less than `REFETCH_AFTER` ago is not fetched again (its
  stored card is attached as it is). Its image is a small copy kept here
  (social/media/card_images.py), or none when it could not be fetched. A page that is
  refused (a private address, not text/html, too large, a 4xx) or has no title makes no
  card: the post is kept, without one.
- A post's card is `posts.preview_card_id`: setting it bumps the post's render version (the
  trigger of migration 0041), so cached renderings follow; a refetched card whose content
  changed bumps the version of every post showing it (`_bump_posts_showing`). When a post's
  card appears or changes, a `status.update` is streamed (as Mastodon does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup, Tag
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.models import MediaAttachment, Post, PreviewCard, utcnow
from agora.db.upsert import insert_ignore_one
from agora.events.event_kinds import EventName
from agora.jobs.job_kinds import JobKind
from agora.jobs.queue import enqueue
from agora.social.live.streams import announce_post
from agora.social.media.card_images import CardImage

REFETCH_AFTER = timedelta(days=1)
TITLE_CHARS, DESCRIPTION_CHARS, NAME_CHARS = 300, 1000, 200
SKIPPED_CLASSES = {"mention", "hashtag", "u-url", "h-card"}


_ANCHOR = re.compile(r"<a(?=[\s>/])([^>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([^\s=/>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?""")


def first_link(content_html: str) -> str | None:
    """The URL of the first http(s) link of a post's HTML that is not a mention, a hashtag
    (`rel="tag"`) or inside a quote's inline fallback; None when there is none. The HTML is
    parsed only when some `<a>` may be such a link (`_only_skipped_anchors`: most posts'
    anchors are mentions and hashtags, and parsing cost about half a millisecond a post)."""
    return None if _only_skipped_anchors(content_html) else _first_parsed_link(content_html)


def _first_parsed_link(content_html: str) -> str | None:
    """`first_link`, from the parsed HTML."""
    for a in BeautifulSoup(content_html, "html.parser").find_all("a", href=True):
        classes = set(a.get_attribute_list("class"))
        if classes & SKIPPED_CLASSES or "tag" in a.get_attribute_list("rel"):
            continue
        if a.find_parent(class_="quote-inline") is not None:
            continue
        href = str(a["href"]).strip()
        if urlsplit(href).scheme in ("http", "https") and urlsplit(href).hostname:
            return href
    return None


def _only_skipped_anchors(content_html: str) -> bool:
    """Whether every `<a>` start tag of the HTML has no `href`, a class `first_link` skips or
    `rel="tag"`: then `first_link` finds nothing (a quote's fallback only skips more). Read
    from the tags' attributes alone; anything it cannot read counts as a link, for the parser
    to decide (tests/test_preview_cards.py checks the two agree)."""
    for tag in _ANCHOR.finditer(content_html):
        attributes: dict[str, str] = {}
        for name, double, single, bare in _ATTRIBUTE.findall(tag.group(1)):
            attributes.setdefault(name.lower(), double or single or bare)
        if "href" not in attributes:
            continue
        if set(attributes.get("class", "").split()) & SKIPPED_CLASSES:
            continue
        if "tag" in attributes.get("rel", "").split():
            continue
        return False
    return True


def schedule_card(session: AsyncSession, post: Post, *, fresh: bool) -> None:
    """Enqueue the `fetch_preview_card` job of a post just written, received or edited (not
    `fresh`) when it has a link or shows a card (see the module docstring)."""
    if not get_settings().preview_cards or post.reblog_of_id is not None:
        return
    if first_link(post.content_html) is not None or (
        not fresh and post.preview_card_id is not None
    ):
        enqueue(session, JobKind.FETCH_PREVIEW_CARD, {"post_id": post.id}, max_attempts=3)


@dataclass(frozen=True, slots=True)
class CardData:
    """What a page says about itself (the columns of `preview_cards` but the URL)."""

    title: str
    description: str = ""
    type: str = "link"
    author_name: str = ""
    author_url: str = ""
    provider_name: str = ""
    provider_url: str = ""
    image: str | None = None
    image_description: str = ""
    embed_url: str = ""
    width: int = 0
    height: int = 0
    language: str | None = None
    published_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FoundCard:
    """What the job's fetch found for a post: the link it shows a card of (None: it shows
    none), and that page's card (None: no card, refused, or `reuse`: the stored one is
    fresh) with its image as stored here (None: none, or it could not be fetched)."""

    url: str | None
    card: CardData | None = None
    reuse: bool = False
    image: CardImage | None = None


async def card_to_fetch(session: AsyncSession, post_id: int) -> tuple[str | None, bool] | None:
    """The link a post should show a card of (None: none, as the module docstring says) and
    whether its stored card is fresh (fetched less than `REFETCH_AFTER` ago); None when the
    post is gone."""
    post = await session.get(Post, post_id)
    if post is None or post.deleted_at is not None:
        return None
    url = await _wanted_link(session, post)
    if url is None:
        return None, False
    fetched_at = await session.scalar(select(PreviewCard.fetched_at).where(PreviewCard.url == url))
    return url, fetched_at is not None and fetched_at > utcnow() - REFETCH_AFTER


async def _wanted_link(session: AsyncSession, post: Post) -> str | None:
    if post.reblog_of_id is not None or post.quote_of_id is not None:
        return None
    url = first_link(post.content_html)
    if url is None or len(url) > 2048:
        return None
    media = await session.scalar(
        select(MediaAttachment.id).where(MediaAttachment.post_id == post.id).limit(1)
    )
    return None if media is not None else url


def parse_page(body: bytes, page_url: str, charset: str | None = None) -> CardData | None:
    """The card a page describes: OpenGraph, then Twitter card tags, then `<title>` and the
    meta description; None when it has no title at all (Mastodon makes no card then).
    Relative image URLs are read against `page_url` (the final URL after redirects)."""
    soup = BeautifulSoup(body, "html.parser", from_encoding=charset)
    meta: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        key = tag.get("property") or tag.get("name")
        content = tag.get("content")
        if isinstance(key, str) and isinstance(content, str):
            meta.setdefault(key.strip().lower(), " ".join(content.split()))
    title_tag = soup.find("title")
    title = (
        meta.get("og:title")
        or meta.get("twitter:title")
        or (" ".join(title_tag.get_text().split()) if title_tag else "")
    )
    if not title:
        return None
    image = _absolute(page_url, meta.get("og:image") or meta.get("og:image:url"))
    image = image or _absolute(page_url, meta.get("twitter:image"))
    video = _absolute(page_url, meta.get("og:video:secure_url") or meta.get("og:video:url"))
    video = video or _absolute(page_url, meta.get("og:video"))
    is_video = video is not None and meta.get("og:type", "").startswith("video")
    parts = urlsplit(page_url)
    html_tag = soup.find("html")
    language = html_tag.get("lang") if isinstance(html_tag, Tag) else None
    return CardData(
        title=title[:TITLE_CHARS],
        description=(
            meta.get("og:description")
            or meta.get("twitter:description")
            or meta.get("description")
            or ""
        )[:DESCRIPTION_CHARS],
        type="video" if is_video else "link",
        author_name=(meta.get("author") or meta.get("twitter:creator") or "")[:NAME_CHARS],
        provider_name=(meta.get("og:site_name") or "")[:NAME_CHARS],
        provider_url=f"{parts.scheme}://{parts.netloc}",
        image=image,
        image_description=(meta.get("og:image:alt") or meta.get("twitter:image:alt") or "")[
            :DESCRIPTION_CHARS
        ],
        embed_url=video if is_video and video else "",
        width=_size(meta.get("og:image:width")),
        height=_size(meta.get("og:image:height")),
        language=language[:10] if isinstance(language, str) and language else None,
        published_at=_when(meta.get("article:published_time")),
    )


def _absolute(page_url: str, value: str | None) -> str | None:
    if not value:
        return None
    url = urljoin(page_url, value)
    ok = urlsplit(url).scheme in ("http", "https") and len(url) <= 2048
    return url if ok else None


def _size(value: str | None) -> int:
    try:
        return max(0, min(int(value or 0), 100_000))
    except ValueError:
        return 0


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


async def keep_card(session: AsyncSession, post_id: int, found: FoundCard) -> None:
    """Store what the job found and show it on the post (the job's transaction): the card
    upserted by URL, `posts.preview_card_id` set (or cleared when there is no card), a
    `status.update` streamed when the post's card changed. Nothing when the post is gone or
    its link changed since the fetch (a later job, queued by that edit, decides)."""
    post = await session.get(Post, post_id)
    if post is None or post.deleted_at is not None:
        return
    if await _wanted_link(session, post) != found.url:
        return
    card_id = None
    changed = False
    if found.url is not None and found.reuse:
        card_id = await session.scalar(select(PreviewCard.id).where(PreviewCard.url == found.url))
    elif found.url is not None and found.card is not None:
        card_id, changed = await _store(session, found.url, found.card, found.image)
    if card_id == post.preview_card_id and not changed:
        return
    if card_id != post.preview_card_id:
        await session.execute(
            update(Post).where(Post.id == post.id).values(preview_card_id=card_id)
        )
    announce_post(session, post, EventName.STATUS_UPDATE)


async def _store(
    session: AsyncSession, url: str, data: CardData, image: CardImage | None
) -> tuple[int, bool]:
    """Upsert the card of `url`; its id and whether an existing card's content changed
    (the posts showing it then get new render versions)."""
    values: dict[str, object] = {f: getattr(data, f) for f in CardData.__dataclass_fields__}
    values["image_file"] = image.file if image else None
    values["blurhash"] = image.blurhash if image else None
    if image is not None:  # the size of the image served
        values["width"], values["height"] = image.width, image.height
    now = utcnow()
    await insert_ignore_one(session, PreviewCard, url=url, fetched_at=now, **values)
    card = await session.scalar(select(PreviewCard).where(PreviewCard.url == url))
    assert card is not None
    changed = any(getattr(card, field) != value for field, value in values.items())
    card.fetched_at = now
    if changed:
        for field, value in values.items():
            setattr(card, field, value)
        await session.flush()
        await _bump_posts_showing(session, card.id)
    return card.id, changed


async def _bump_posts_showing(session: AsyncSession, card_id: int) -> None:
    await session.execute(
        update(Post)
        .where(Post.preview_card_id == card_id)
        .values(render_version=Post.render_version + 1)
    )
