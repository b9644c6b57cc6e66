"""The `fetch_preview_card` job: the card of a post's first link, in two phases so no
transaction is open during the request. `fetch_card` (no transaction) finds the link
(social/posts/preview_cards.py), and, unless its card was fetched less than a day ago,
fetches the page through the federation client (`fetch_html`: the SSRF guard, no private or
loopback address, also after redirects; the timeout; at most `preview_card_max_bytes`; only
text/html) and parses it, and fetches the page's image through the same guards into a small
copy kept here (social/media/card_images.py; without it the card has no image); `keep_card`
(the job's transaction) stores the card and shows it on the post. A refused page (private
address, not HTML, too large, a 4xx) or a failed request (a name that does not resolve, a
timeout, a 5xx) makes no card and the post is kept as it is; nothing is retried, as
Mastodon's link crawl is not (nothing is stored either, so the next post of that link tries
again).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.engine import Database
from agora.federation.client import FederationError, fetch_file, fetch_html
from agora.jobs.job_kinds import PostJob
from agora.social.media import card_images
from agora.social.media.card_images import CardImage
from agora.social.posts import preview_cards
from agora.social.posts.preview_cards import FoundCard
from agora.social.rules.errors import Invalid


async def fetch_card(db: Database, payload: PostJob) -> FoundCard | None:
    """Find the post's link and fetch its page (see the module docstring); None when the
    post is gone or cards are off."""
    settings = get_settings()
    if not settings.preview_cards:
        return None
    async with db.session() as session:
        wanted = await preview_cards.card_to_fetch(session, payload["post_id"])
    if wanted is None:
        return None
    url, fresh = wanted
    if url is None or fresh:
        return FoundCard(url, reuse=fresh)
    try:
        answer = await fetch_html(url, settings.preview_card_max_bytes)
    except FederationError:  # refused, or failed: not retried (Mastodon's link crawl neither)
        return FoundCard(url)
    charset = _charset(answer.headers.get("content-type", ""))
    card = preview_cards.parse_page(answer.body, answer.url, charset)
    image = await _fetch_image(card.image) if card is not None and card.image else None
    return FoundCard(url, card, image=image)


async def _fetch_image(url: str) -> CardImage | None:
    """The card's image fetched and stored as a small copy; None when it cannot be (the card
    is kept without it: an image is not worth retrying the card for)."""
    try:
        data = await fetch_file(url, get_settings().media_max_bytes)
        return await card_images.store_card_image(data)
    except (FederationError, Invalid):
        return None


def _charset(content_type: str) -> str | None:
    """The `charset` parameter of a Content-Type, if any (else the page's own meta says)."""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "charset":
            return value.strip("\"' ") or None
    return None


async def keep_card(session: AsyncSession, payload: PostJob, found: FoundCard | None) -> None:
    """Store the card found and show it on the post (nothing when the fetch found nothing
    to do)."""
    if found is not None:
        await preview_cards.keep_card(session, payload["post_id"], found)
