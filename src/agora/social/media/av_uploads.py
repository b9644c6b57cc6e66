"""Video, audio and animated-GIF uploads: checked at once, transcoded by a job.

The upload request only probes the file (ffprobe, in a thread, no transaction open): a
corrupt file, an unsupported one or one over a limit is refused (Invalid, a 422) with nothing
stored. An accepted file is written to the media store as the attachment's `source`, its row
is committed with `processing = PENDING` and a `transcode_media` job is queued; the API
answers 202 with `url: null` (Mastodon's behaviour).

The job (`transcode` then `keep_transcoded`, a slow job: no transaction is open while ffmpeg
runs) transcodes the source in a temporary directory (social/media/transcoding.py), writes
the finished file and its poster's preview to the store (each written atomically: a crash
leaves no half file, and a retry writes them again from the source), then records them on
the row (`processing = DONE`) and deletes the source. A file ffmpeg cannot transcode marks
the row FAILED, as do spent retries. Until DONE, the attachment cannot be attached to a post.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import Settings, get_settings
from agora.db.engine import Database
from agora.db.models import MediaAttachment, utcnow
from agora.ids import new_id
from agora.jobs.job_kinds import JobKind, TranscodeMediaJob
from agora.jobs.queue import enqueue
from agora.social.media.files import source_key, storage_key
from agora.social.media.images import process_image
from agora.social.media.storage import media_storage
from agora.social.media.transcoding import Probe, probe, transcode
from agora.social.rules.errors import Invalid

log = logging.getLogger("agora.media")

DONE, PENDING, FAILED = 0, 1, 2
TRANSCODE_ATTEMPTS = 3
NOT_PROCESSED = (
    "Validation failed: Cannot attach files that have not finished processing. Try again in"
    " a moment!"
)


def is_still_image(data: bytes) -> bool:
    """Whether an upload goes to the image path (JPEG, PNG, WebP, a one-frame GIF; an empty
    file, which it refuses), by its first bytes; everything else (animated GIFs included)
    is probed as video or audio."""
    if not data or data.startswith((b"\xff\xd8\xff", b"\x89PNG")) or data[8:12] == b"WEBP":
        return True
    if data.startswith((b"GIF87a", b"GIF89a")):
        return not _animated_gif(data)
    return False


def _animated_gif(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return bool(getattr(image, "is_animated", False))
    except Exception:  # a broken GIF: the image path refuses it with its own message
        return False


async def upload_av(
    session: AsyncSession,
    owner_id: int,
    data: bytes,
    *,
    description: str | None,
    focus: tuple[float, float] | None,
    queue: bool = True,
) -> MediaAttachment:
    """Check and store a video, audio or animated-GIF upload and queue its transcoding
    (see the module docstring), unless the caller transcodes it itself (`queue` false:
    `transcode_now`; if that request dies, the upload stays pending and unattached, and is
    swept a day later). Commits. Invalid (nothing stored) when refused."""
    settings = get_settings()
    if len(data) > settings.media_av_max_bytes:
        limit_mb = settings.media_av_max_bytes / 1_000_000
        raise Invalid(f"Validation failed: File is larger than {limit_mb:g} MB")
    await session.commit()
    found = await asyncio.to_thread(_probe_bytes, data, settings)
    now = utcnow()
    row = MediaAttachment(
        id=new_id(),
        account_id=owner_id,
        post_id=None,
        position=0,
        key=secrets.token_hex(16),
        access_secret=secrets.token_hex(16),
        file_format="",
        width=found.width,
        height=found.height,
        file_size=0,
        preview_format="",
        preview_width=0,
        preview_height=0,
        preview_size=0,
        blurhash="",
        description=description,
        focus_x=focus[0] if focus else None,
        focus_y=focus[1] if focus else None,
        created_at=now,
        unattached_since=now,
        media_type=found.media_type,
        processing=PENDING,
        duration=found.duration,
        fps=found.fps,
    )
    store = media_storage()
    await asyncio.to_thread(store.put, source_key(row.key), data)
    try:
        session.add(row)
        if queue:
            enqueue(
                session,
                JobKind.TRANSCODE_MEDIA,
                {"media_id": row.id},
                max_attempts=TRANSCODE_ATTEMPTS,
            )
        await session.commit()
    except BaseException:
        await asyncio.to_thread(store.delete, source_key(row.key))
        raise
    return row


def _probe_bytes(data: bytes, settings: Settings) -> Probe:
    with tempfile.TemporaryDirectory(prefix="agora-probe-") as work:
        path = Path(work) / "upload"
        path.write_bytes(data)
        return probe(
            path,
            max_duration=settings.media_max_duration,
            max_pixels=settings.media_max_pixels,
            ffprobe=settings.media_ffprobe,
        )


@dataclass(frozen=True, slots=True)
class TranscodedFiles:
    """What the job wrote to the media store (`failed`: ffmpeg refused the file)."""

    failed: bool = False
    file_format: str = ""
    width: int = 0
    height: int = 0
    file_size: int = 0
    preview_format: str = ""
    preview_width: int = 0
    preview_height: int = 0
    preview_size: int = 0
    blurhash: str = ""
    keys: tuple[str, ...] = ()


async def transcode_job(db: Database, payload: TranscodeMediaJob) -> TranscodedFiles | None:
    """Job, first part (no transaction): transcode a pending upload and write its files;
    None when there is nothing to do (done already, or deleted)."""
    async with db.session() as session:
        row = await session.get(MediaAttachment, payload["media_id"])
        if row is None or row.processing != PENDING:
            return None
        found = Probe(row.media_type, row.duration or 0.0, row.width, row.height, row.fps)
        key = row.key
    return await asyncio.to_thread(transcode_stored, key, found, get_settings())


def transcode_stored(key: str, found: Probe, settings: Settings) -> TranscodedFiles:
    """Transcode the stored source of attachment `key` and write the results to the media
    store (synchronous: run it in a thread). An ffmpeg that is missing or killed raises
    (the job is retried); a file ffmpeg refuses gives `failed`."""
    store = media_storage()
    with tempfile.TemporaryDirectory(prefix="agora-transcode-") as work_dir:
        work = Path(work_dir)
        source = work / "source"
        with store.open(source_key(key)) as stored, source.open("wb") as out:
            shutil.copyfileobj(stored, out)
        try:
            result = transcode(
                source,
                found,
                work,
                max_side=settings.media_video_max_side,
                ffmpeg=settings.media_ffmpeg,
                ffprobe=settings.media_ffprobe,
            )
        except Invalid:
            return TranscodedFiles(failed=True)
        data = result.path.read_bytes()
        keys = [storage_key(key, "original", result.file_format)]
        files = TranscodedFiles(
            file_format=result.file_format,
            width=result.width,
            height=result.height,
            file_size=len(data),
        )
        if result.poster is not None:
            poster = process_image(
                result.poster.read_bytes(),
                max_pixels=settings.media_max_pixels,
                preview_side=settings.media_preview_side,
            )
            preview = poster.preview
            keys.append(storage_key(key, "small", preview.format))
            store.put(keys[1], preview.data)
            files = replace(
                files,
                preview_format=preview.format,
                preview_width=preview.width,
                preview_height=preview.height,
                preview_size=len(preview.data),
                blurhash=poster.blurhash,
            )
        store.put(keys[0], data)
    return replace(files, keys=tuple(keys))


async def keep_transcoded(
    session: AsyncSession, payload: TranscodeMediaJob, files: TranscodedFiles | None
) -> None:
    """Job, second part (its transaction): record the transcoded files on the row, or mark it
    FAILED. The files are deleted again when the row is gone or failed meanwhile; when it was
    done meanwhile they are the very files it records (same names), so they stay."""
    if files is None:
        return
    row = await session.get(MediaAttachment, payload["media_id"])
    store = media_storage()
    if row is None or row.processing == FAILED:
        await asyncio.to_thread(_delete, files.keys)
        return
    if row.processing == DONE:
        return
    if files.failed:
        row.processing = FAILED
    else:
        row.file_format, row.width, row.height = files.file_format, files.width, files.height
        row.file_size, row.preview_format = files.file_size, files.preview_format
        row.preview_width, row.preview_height = files.preview_width, files.preview_height
        row.preview_size, row.blurhash = files.preview_size, files.blurhash
        row.processing = DONE
    await asyncio.to_thread(store.delete, source_key(row.key))


async def transcode_failed(session: AsyncSession, payload: TranscodeMediaJob) -> None:
    """Retries spent: the upload is marked FAILED and its source deleted."""
    row = await session.get(MediaAttachment, payload["media_id"])
    if row is not None and row.processing == PENDING:
        row.processing = FAILED
        await asyncio.to_thread(media_storage().delete, source_key(row.key))


async def transcode_now(session: AsyncSession, row: MediaAttachment) -> None:
    """Transcode a just uploaded attachment in this request (the web composer, which attaches
    it at once); the queued job then finds it done. Commits."""
    found = Probe(row.media_type, row.duration or 0.0, row.width, row.height, row.fps)
    files = await asyncio.to_thread(transcode_stored, row.key, found, get_settings())
    await keep_transcoded(session, {"media_id": row.id}, files)
    await session.commit()
    if row.processing == FAILED:
        raise Invalid("Validation failed: The file could not be processed")


def _delete(keys: tuple[str, ...]) -> None:
    store = media_storage()
    for key in keys:
        store.delete(key)
