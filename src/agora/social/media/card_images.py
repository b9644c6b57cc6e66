"""The images of link preview cards (social/posts/preview_cards.py): a linked page's image,
fetched by the `fetch_preview_card` job, checked and cleaned as an upload is
(`images.process_image`: content sniffing, the pixel limit before decoding, no metadata) and
kept only as a small preview (`CARD_IMAGE_SIDE`) with its blurhash, in the media store under
`cards/…`.

A card image is public, as the card is: `/media/cards/<card id>/<file>` is served to anyone
while the card names that file. The file is named by its content's hash, so fetching the same
image again (a job run twice, the daily refetch) writes the same file and changes nothing; a
page whose image changed gets a new file (the old one is left in the store).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.models import PreviewCard
from agora.social.media.files import MediaFile, public_file
from agora.social.media.images import CONTENT_TYPES, EXTENSIONS, process_image
from agora.social.media.storage import media_storage
from agora.social.rules.errors import Invalid, NotFound

CARD_IMAGE_SIDE = 400
FORMATS = {ext: fmt for fmt, ext in EXTENSIONS.items()}


@dataclass(frozen=True, slots=True)
class CardImage:
    """A card's stored image: its file name ("<32 hex>.<ext>"), size and blurhash."""

    file: str
    width: int
    height: int
    blurhash: str


def storage_key(file: str) -> str:
    """Where a card image is kept in the media store."""
    return f"cards/{file[:2]}/{file}"


def card_image_url(card_id: int, file: str) -> str:
    """The URL this server serves a card's image at."""
    return f"{get_settings().base_url}/media/cards/{card_id}/{file}"


async def store_card_image(data: bytes) -> CardImage:
    """Check, shrink and store a fetched card image (in threads, no transaction open).
    Invalid when it is refused (too large, not a supported image)."""
    settings = get_settings()
    if len(data) > settings.media_max_bytes:
        raise Invalid("Validation failed: File is too large")
    processed = await asyncio.to_thread(
        process_image, data, max_pixels=settings.media_max_pixels, preview_side=CARD_IMAGE_SIDE
    )
    small = processed.preview
    file = f"{hashlib.sha256(small.data).hexdigest()[:32]}.{small.extension}"
    await asyncio.to_thread(media_storage().put, storage_key(file), small.data)
    return CardImage(file, small.width, small.height, processed.blurhash)


async def find_card_file(session: AsyncSession, card_id: int, file: str) -> MediaFile:
    """The image `file` of a card; NotFound otherwise (an old file, another card's, a made-up
    name)."""
    card = await session.get(PreviewCard, card_id)
    if card is None or not card.image_file or card.image_file != file:
        raise NotFound()
    content_type = CONTENT_TYPES[FORMATS[file.rsplit(".", 1)[1]]]
    return await public_file(storage_key(file), content_type, f'"{file}"')
