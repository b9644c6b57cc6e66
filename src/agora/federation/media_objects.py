"""Images as ActivityPub attachments, both ways.

Sent: one `Document` per image of a local post (in the post's order) with `url`,
`mediaType`, `name` (the alt text), `blurhash`, `width`, `height` and `focalPoint`. Only
public and unlisted posts carry them: their files have plain URLs anyone may fetch
(social/media/files.py); the files of followers-only and direct posts are served only with a
per-viewer signature, which another server cannot hold, so those posts go out without
attachments.

Received: `read_images` reads a Note's image attachments (what is read is bounded: sizes,
alt text, blurhash); social/media/remote_files.py records them by their remote URL and
federation/media_fetch.py fetches them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import MediaAttachment, Post
from agora.social.media.files import CONTENT_TYPES, MediaInfo, media_urls
from agora.social.media.remote_files import RemoteImage
from agora.social.rules.visibility import is_public_or_unlisted


async def attachments_json(
    session: AsyncSession, post: Post, rows: list[MediaAttachment] | None = None
) -> list[dict[str, Any]]:
    """The `attachment` list of a local post's Note (empty unless public or unlisted); `rows`
    are its images when the caller loaded them already (`attachments_of`)."""
    if not is_public_or_unlisted(post.visibility):
        return []
    if rows is None:
        rows = (await attachments_of(session, [post.id])).get(post.id, [])
    documents = []
    for row in rows:
        original, _ = media_urls(MediaInfo.of(row), post.visibility, None)
        if not original or row.processing:
            continue
        document: dict[str, Any] = {
            "type": "Document",
            "mediaType": CONTENT_TYPES[row.file_format],
            "url": original,
            "name": row.description,
            "blurhash": row.blurhash,
            "width": row.width,
            "height": row.height,
        }
        if row.focus_x is not None and row.focus_y is not None:
            document["focalPoint"] = [row.focus_x, row.focus_y]
        documents.append(document)
    return documents


async def attachments_of(
    session: AsyncSession, post_ids: list[int]
) -> dict[int, list[MediaAttachment]]:
    """The images of each of these posts, in their order, in one query."""
    found: dict[int, list[MediaAttachment]] = {}
    if post_ids:
        rows = await session.scalars(
            select(MediaAttachment)
            .where(MediaAttachment.post_id.in_(post_ids))
            .order_by(MediaAttachment.post_id, MediaAttachment.position)
        )
        for row in rows:
            found.setdefault(row.post_id or 0, []).append(row)
    return found


def _url(value: Any) -> str | None:
    """An attachment's URL: a string, a Link's `href`, or the first of a list of them."""
    if isinstance(value, list):
        return next((u for u in (_url(v) for v in value) if u), None)
    if isinstance(value, dict):
        value = value.get("href")
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None


def _size(value: Any) -> int:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 100_000
    return value if ok else 0


def _focus(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, list) or len(value) != 2:
        return None
    if not all(isinstance(v, int | float) and -1 <= v <= 1 for v in value):
        return None
    return float(value[0]), float(value[1])


def _kind(object_type: Any, media_type: Any) -> str | None:
    """An attachment's Mastodon type from its ActivityPub `type` and `mediaType`: image,
    video or audio (a video/audio mediaType wins over the object type), None for others."""
    mime = media_type if isinstance(media_type, str) else ""
    if object_type not in ("Document", "Image", "Video", "Audio"):
        return None
    if mime.startswith(("video/", "audio/")):
        return mime.split("/")[0]
    if object_type in ("Video", "Audio") and not mime:
        return str(object_type).lower()
    if mime and not mime.startswith("image/"):
        return None
    return "image" if object_type in ("Document", "Image") else None


def read_images(note: dict[str, Any]) -> list[RemoteImage]:
    """The media a received Note carries: `Document`, `Image`, `Video` or `Audio` attachments
    with an http(s) URL and an image, video or audio media type (an image with none given: the
    fetch checks the content); others (links, PDFs) are left out. Video and audio are kept by
    their remote URL (clients play them from their server)."""
    raw = note.get("attachment")
    images = []
    for item in raw if isinstance(raw, list) else [raw]:
        if not isinstance(item, dict):
            continue
        url, kind = _url(item.get("url")), _kind(item.get("type"), item.get("mediaType"))
        if url is None or kind is None:
            continue
        name, blurhash = item.get("name"), item.get("blurhash")
        images.append(
            RemoteImage(
                url=url,
                media_type=kind,
                description=name[:1500] if isinstance(name, str) and name.strip() else None,
                blurhash=blurhash if isinstance(blurhash, str) and len(blurhash) <= 100 else "",
                width=_size(item.get("width")),
                height=_size(item.get("height")),
                focus=_focus(item.get("focalPoint")),
            )
        )
    return images
