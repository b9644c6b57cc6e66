"""A local post's images as ActivityPub attachments: one `Document` per image (in the post's
order) with `url`, `mediaType`, `name` (the alt text), `blurhash`, `width`, `height` and
`focalPoint`. Only public and unlisted posts carry them: their files have plain URLs anyone
may fetch (social/media/files.py); the files of followers-only and direct posts are served
only with a per-viewer signature, which another server cannot hold, so those posts go out
without attachments.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import MediaAttachment, Post
from agora.social.media.files import MediaInfo, media_urls
from agora.social.media.images import CONTENT_TYPES
from agora.social.rules.visibility import is_public_or_unlisted


async def attachments_json(session: AsyncSession, post: Post) -> list[dict[str, Any]]:
    """The `attachment` list of a local post's Note (empty unless public or unlisted)."""
    if not is_public_or_unlisted(post.visibility):
        return []
    rows = await session.scalars(
        select(MediaAttachment)
        .where(MediaAttachment.post_id == post.id)
        .order_by(MediaAttachment.position)
    )
    documents = []
    for row in rows:
        original, _ = media_urls(MediaInfo.of(row), post.visibility, None)
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
