"""Images of posts received from other servers: recorded with their remote URL when the post
is stored, then fetched into the media store by a job (federation/media_fetch.py), or never
fetched when `AGORA_FEDERATION_CACHE_MEDIA=false` (then clients load the remote URL).

Invariants:
- A fetched image goes through the same checks and cleaning as an upload
  (`images.process_image` in a thread: a supported format detected by content, the pixel
  limit before decoding, no metadata kept) and the same size limit (`media_max_bytes`);
  anything refused is dropped: its row is deleted, nothing is stored, the post stays without
  it.
- Files are written before the row says they exist (`keep_fetched_image`), and deleted again
  when the row is gone meanwhile (the post deleted), so no row points at a missing file.
- A remote image is as visible as its post, as every attachment is (media_files).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.models import MediaAttachment, utcnow
from agora.ids import new_id
from agora.jobs.job_kinds import JobKind
from agora.jobs.queue import enqueue
from agora.social.media.files import storage_key
from agora.social.media.images import process_image
from agora.social.media.storage import media_storage
from agora.social.rules.errors import Invalid

CACHE_ATTEMPTS = 4


@dataclass(frozen=True, slots=True)
class RemoteImage:
    """An image (or video, audio file) as a received post describes it."""

    url: str
    media_type: str  # image, video or audio; only images are fetched into the media store
    description: str | None
    blurhash: str
    width: int
    height: int
    focus: tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class StoredFiles:
    """A fetched image, checked and written to the media store (not yet recorded)."""

    file_format: str
    width: int
    height: int
    file_size: int
    preview_format: str
    preview_width: int
    preview_height: int
    preview_size: int
    blurhash: str
    keys: tuple[str, str]


async def record_remote_images(
    session: AsyncSession, post_id: int, author_id: int, images: list[RemoteImage]
) -> list[int]:
    """Record a just stored remote post's images (at most `media_max_attachments`, in order)
    by their remote URL, and schedule fetching each unless caching is off. Does not commit."""
    settings = get_settings()
    ids = []
    for position, image in enumerate(images[: settings.media_max_attachments]):
        row = MediaAttachment(
            id=new_id(),
            account_id=author_id,
            post_id=post_id,
            position=position,
            key=secrets.token_hex(16),
            access_secret=secrets.token_hex(16),
            file_format="",
            width=image.width,
            height=image.height,
            file_size=0,
            preview_format="",
            preview_width=image.width,
            preview_height=image.height,
            preview_size=0,
            blurhash=image.blurhash,
            description=image.description,
            focus_x=image.focus[0] if image.focus else None,
            focus_y=image.focus[1] if image.focus else None,
            created_at=utcnow(),
            unattached_since=None,
            remote_url=image.url,
            media_type=image.media_type,
            processing=0,
        )
        session.add(row)
        ids.append(row.id)
        if settings.federation_cache_media and image.media_type == "image":
            enqueue(
                session,
                JobKind.CACHE_REMOTE_MEDIA,
                {"media_id": row.id},
                max_attempts=CACHE_ATTEMPTS,
            )
    return ids


async def image_to_fetch(session: AsyncSession, media_id: int) -> tuple[str, str] | None:
    """(remote URL, key) of a remote image still to be fetched, or None."""
    row = await session.scalar(
        select(MediaAttachment).where(
            MediaAttachment.id == media_id,
            MediaAttachment.remote_url.is_not(None),
            MediaAttachment.file_format == "",
            MediaAttachment.post_id.is_not(None),
        )
    )
    return (row.remote_url or "", row.key) if row is not None else None


async def store_fetched_image(key: str, data: bytes) -> StoredFiles:
    """Check and clean a fetched image as an upload is, and write its files (in threads, with
    no transaction open). Invalid when it is refused (too large, not a supported image)."""
    settings = get_settings()
    if len(data) > settings.media_max_bytes:
        raise Invalid("Validation failed: File is too large")
    processed = await asyncio.to_thread(
        process_image,
        data,
        max_pixels=settings.media_max_pixels,
        preview_side=settings.media_preview_side,
    )
    original, preview = processed.original, processed.preview
    keys = (
        storage_key(key, "original", original.format),
        storage_key(key, "small", preview.format),
    )
    store = media_storage()

    def write() -> None:
        store.put(keys[0], original.data)
        store.put(keys[1], preview.data)

    await asyncio.to_thread(write)
    return StoredFiles(
        file_format=original.format,
        width=original.width,
        height=original.height,
        file_size=len(original.data),
        preview_format=preview.format,
        preview_width=preview.width,
        preview_height=preview.height,
        preview_size=len(preview.data),
        blurhash=processed.blurhash,
        keys=keys,
    )


async def keep_fetched_image(session: AsyncSession, media_id: int, files: StoredFiles) -> bool:
    """Record a fetched image's files on its row (which keeps its remote URL); when the row
    is gone or was fetched meanwhile, delete the files instead. Does not commit."""
    row = await session.get(MediaAttachment, media_id)
    if row is None or row.file_format or row.post_id is None:
        await asyncio.to_thread(_delete_files, files.keys)
        return False
    row.file_format, row.width, row.height = files.file_format, files.width, files.height
    row.file_size, row.preview_format = files.file_size, files.preview_format
    row.preview_width, row.preview_height = files.preview_width, files.preview_height
    row.preview_size = files.preview_size
    row.blurhash = files.blurhash  # computed here, not the one the remote post claimed
    return True


async def drop_remote_image(session: AsyncSession, media_id: int) -> None:
    """Forget a remote image that was refused or could not be fetched (the post stays,
    without it). Does not commit."""
    await session.execute(
        delete(MediaAttachment).where(
            MediaAttachment.id == media_id,
            MediaAttachment.remote_url.is_not(None),
            MediaAttachment.file_format == "",
        )
    )


def _delete_files(keys: tuple[str, ...]) -> None:
    store = media_storage()
    for key in keys:
        store.delete(key)
