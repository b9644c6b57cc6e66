"""Media files on the web: their storage keys, their URLs, and who may fetch them.

Clients fetch images without an Authorization header, so a URL has to carry whatever
authorises it:

- media of a public or unlisted post has a plain URL, `/media/<key>/original.jpg`: `key` is
  128 random bits, so URLs cannot be guessed, and the file is served while the post is
  visible to anyone (not deleted, author not suspended);
- media of a followers-only or direct post, and media not attached to a post yet (only its
  uploader may see it), has a URL made for one viewer: `?viewer=<account id>&sig=<HMAC>`,
  signed with the attachment's own secret. At every fetch the signature is checked and then
  the visibility rule is asked again for that viewer, so an unfollow, a block, a deletion or
  a suspension takes effect at once, and a URL copied from someone's client is worth no more
  than that person's own access.

See docs/ARCHITECTURE.md ("Media").
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.data.signals import account_signals, post_signals
from agora.db.models import Account, MediaAttachment, Post
from agora.social.media import images, transcoding
from agora.social.media.storage import media_storage
from agora.social.rules.errors import NotFound
from agora.social.rules.visibility import is_public_or_unlisted, plain_visible_to

CONTENT_TYPES = {**images.CONTENT_TYPES, **transcoding.CONTENT_TYPES}
EXTENSIONS = {**images.EXTENSIONS, **transcoding.EXTENSIONS}
VARIANTS = ("original", "small")
_KEY = re.compile(r"^[0-9a-f]{32}$")
PUBLIC_CACHE = "public, max-age=86400, immutable"
PRIVATE_CACHE = "private, max-age=3600"


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What is needed to show one attachment (from a row, or from the hydration query)."""

    id: int
    key: str
    access_secret: str
    file_format: str
    width: int
    height: int
    preview_format: str
    preview_width: int
    preview_height: int
    blurhash: str
    description: str | None = None
    focus_x: float | None = None
    focus_y: float | None = None
    position: int = 0
    remote_url: str | None = None  # a remote post's image: its URL on its server
    media_type: str = "image"  # image, video, gifv or audio
    processing: int = 0  # av_uploads: DONE (0), PENDING, FAILED
    duration: float | None = None
    fps: float | None = None

    @classmethod
    def of(cls, row: MediaAttachment) -> MediaInfo:
        """From a MediaAttachment row."""
        return cls(**{name: getattr(row, name) for name in cls.__slots__})

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> MediaInfo:
        """From one object of `hydrate`'s media column (names are the row's)."""
        values: dict[str, Any] = {name: item.get(name) for name in cls.__slots__}
        return cls(**values)


def storage_key(key: str, variant: str, file_format: str) -> str:
    """Where a variant ("original" or "small") of an attachment is stored:
    `ab/cd/<key>/<variant>.<ext>` (two levels of fan-out keep directories small)."""
    return f"{key[:2]}/{key[2:4]}/{key}/{variant}.{EXTENSIONS[file_format]}"


def source_key(key: str) -> str:
    """Where a video, audio or GIF upload waits for its transcoding (av_uploads)."""
    return f"{key[:2]}/{key[2:4]}/{key}/source.upload"


def _signature(access_secret: str, key: str, viewer_id: int) -> str:
    message = f"{key}:{viewer_id}".encode()
    return hmac.new(bytes.fromhex(access_secret), message, hashlib.sha256).hexdigest()[:32]


def media_urls(
    media: MediaInfo, visibility: int | None, viewer_id: int | None
) -> tuple[str | None, str | None]:
    """The (original, preview) URLs of an attachment as `viewer_id` is shown it.
    `visibility` is that of its post, None while it is not attached to one. A remote file
    not fetched here (no `file_format`) is shown by its remote URL (a remote video or audio
    file has no preview); an upload still processing has none yet, nor has audio a preview."""
    if not media.file_format:
        if media.processing or not media.remote_url:
            return None, None
        return media.remote_url, media.remote_url if media.media_type == "image" else None
    base = f"{get_settings().base_url}/media/{media.key}"
    original = f"{base}/original.{EXTENSIONS[media.file_format]}"
    small = f"{base}/small.{EXTENSIONS[media.preview_format]}" if media.preview_format else None
    public = visibility is not None and is_public_or_unlisted(visibility)
    if public or viewer_id is None:
        return original, small
    query = f"?viewer={viewer_id}&sig={_signature(media.access_secret, media.key, viewer_id)}"
    return original + query, small + query if small else None


@dataclass(frozen=True, slots=True)
class MediaFile:
    """A file the requester may fetch, and how to answer with it."""

    storage_key: str
    content_type: str
    size: int
    etag: str
    cache_control: str
    headers: dict[str, str]  # the author's AI-use signals


async def public_file(
    key: str, content_type: str, etag: str, headers: dict[str, str] | None = None
) -> MediaFile:
    """A public stored file (an avatar, a custom emoji, a card's image) as an answer, its size
    read from the store; NotFound when the store does not hold it."""
    return MediaFile(
        storage_key=key,
        content_type=content_type,
        size=await asyncio.to_thread(_stored_size, key),
        etag=etag,
        cache_control=PUBLIC_CACHE,
        headers=headers or {},
    )


def _stored_size(key: str) -> int:
    try:
        with media_storage().open(key) as handle:
            return int(handle.seek(0, 2))
    except FileNotFoundError:
        raise NotFound() from None


async def find_media_file(
    session: AsyncSession, key: str, name: str, viewer: str | None, sig: str | None
) -> MediaFile:
    """The file `/media/<key>/<name>` if this request may fetch it, else NotFound (whether
    it exists or not)."""
    variant, _, extension = name.partition(".")
    if not _KEY.match(key) or variant not in VARIANTS:
        raise NotFound()
    row = await session.scalar(select(MediaAttachment).where(MediaAttachment.key == key))
    if row is None:
        raise NotFound()
    file_format = row.file_format if variant == "original" else row.preview_format
    if file_format not in EXTENSIONS or extension != EXTENSIONS[file_format]:
        raise NotFound()
    viewer_id = _verified_viewer(row, viewer, sig)
    cache, headers = await _authorise(session, row, viewer_id)
    size = row.file_size if variant == "original" else row.preview_size
    return MediaFile(
        storage_key=storage_key(key, variant, file_format),
        content_type=CONTENT_TYPES[file_format],
        size=size,
        etag=f'"{key}-{variant}"',
        cache_control=cache,
        headers=headers,
    )


def _verified_viewer(row: MediaAttachment, viewer: str | None, sig: str | None) -> int | None:
    """The viewer a signed URL was made for; None (anonymous) when unsigned or forged."""
    if not viewer or not sig or not viewer.isdigit() or len(viewer) > 19:
        return None
    expected = _signature(row.access_secret, row.key, int(viewer))
    return int(viewer) if hmac.compare_digest(expected, sig) else None


async def _authorise(
    session: AsyncSession, row: MediaAttachment, viewer_id: int | None
) -> tuple[str, dict[str, str]]:
    """(Cache-Control, signal headers) when `viewer_id` may see this attachment's post (or,
    unattached, is its uploader); NotFound otherwise."""
    if row.post_id is None:
        owner = await session.get(Account, row.account_id)
        if viewer_id != row.account_id or owner is None or owner.suspended_at is not None:
            raise NotFound()
        return PRIVATE_CACHE, account_signals(owner).headers
    post = await session.scalar(
        select(Post).where(Post.id == row.post_id, plain_visible_to(viewer_id, Post))
    )
    if post is None:
        raise NotFound()
    public = is_public_or_unlisted(post.visibility)
    return (PUBLIC_CACHE if public else PRIVATE_CACHE), (await post_signals(session, post)).headers
