"""Media attachments: upload, alt text and focus, attaching to posts, and cleaning up.

An upload is checked and cleaned by `images.process_image` (in a thread), its two files
(original and preview) are written to the media store, and only then is its row committed,
so a rejected upload stores nothing. It stays unattached (seen only by its uploader) until a
post uses it; from then on it is exactly as visible as that post (see media_files).

Clean-up is durable work in the job table: every upload, and every detachment (a post edited
without it, or deleted), enqueues a sweep due a day later that deletes all media unattached
for more than a day; `DELETE /api/v1/statuses/:id?delete_media=true` deletes at once. Both
are idempotent: rows are deleted first (only while still unattached), then their files, and
deleting a missing file is not an error.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.models import MediaAttachment, Post, utcnow
from agora.db.upsert import affected_rows
from agora.ids import new_id
from agora.jobs.job_kinds import DeleteMediaJob, JobKind, SweepJob
from agora.jobs.queue import enqueue
from agora.social.media.av_uploads import (
    DONE,
    NOT_PROCESSED,
    is_still_image,
    transcode_now,
    upload_av,
)
from agora.social.media.files import VARIANTS, source_key, storage_key
from agora.social.media.images import ProcessedImage, process_image
from agora.social.media.storage import MediaStorage, media_storage
from agora.social.rules.errors import Invalid, NotFound
from agora.social.rules.visibility import PostLike

log = logging.getLogger("agora.media")

UNATTACHED_TTL = timedelta(days=1)
MAX_DESCRIPTION_CHARS = 1500
SWEEP_BATCH = 200
BAD_FOCUS = 'Validation failed: focus must be "x,y" with x and y between -1.0 and 1.0'


@dataclass(slots=True)
class MediaEdit:
    """New alt text and/or focus point for one attachment; None keeps the current value.
    An empty description clears it where that is allowed (status edits)."""

    id: int
    description: str | None = None
    focus: str | None = None


def parse_media_ids(values: Sequence[str]) -> list[int]:
    """Media ids as clients send them (strings of digits); Invalid for anything else."""
    ids = []
    for value in values:
        text = str(value)
        if not (text.isascii() and text.isdigit() and len(text) <= 19 and int(text) < 2**63):
            raise Invalid("Validation failed: media_ids must be numeric")
        ids.append(int(text))
    return ids


def parse_focus(value: str) -> tuple[float, float]:
    """Mastodon's focus point, "x,y" with both in -1.0..1.0 (0,0 is the centre)."""
    parts = value.split(",")
    if len(parts) != 2:
        raise Invalid(BAD_FOCUS)
    try:
        x, y = float(parts[0]), float(parts[1])
    except ValueError:
        raise Invalid(BAD_FOCUS) from None
    if not all(math.isfinite(v) and -1.0 <= v <= 1.0 for v in (x, y)):
        raise Invalid(BAD_FOCUS)
    return x, y


def clean_description(value: str | None, *, blank_clears: bool) -> str | None:
    """Alt text as stored (None for none). A blank value clears it where `blank_clears`,
    else it is refused: an update to nothing is almost always a client bug."""
    if value is None or not value.strip():
        if value is None or blank_clears:
            return None
        raise Invalid("Validation failed: Description can't be blank")
    if len(value) > MAX_DESCRIPTION_CHARS:
        raise Invalid(
            f"Validation failed: Description is too long (maximum is {MAX_DESCRIPTION_CHARS}"
            " characters)"
        )
    return value


async def upload_media(
    session: AsyncSession,
    owner_id: int,
    data: bytes,
    *,
    description: str | None = None,
    focus: str | None = None,
    wait: bool = False,
) -> MediaAttachment:
    """Check, clean and store an uploaded image for `owner_id`; a video, audio file or
    animated GIF is checked and queued for transcoding (av_uploads), or transcoded in this
    request with `wait`. Commits. The session's current transaction is committed first, so
    no database lock is held while the file is processed; a rejected upload (Invalid)
    stores nothing."""
    text = clean_description(description, blank_clears=True)
    point = parse_focus(focus) if focus else None
    if not is_still_image(data):
        row = await upload_av(
            session, owner_id, data, description=text, focus=point, queue=not wait
        )
        if wait:
            await transcode_now(session, row)
        return row
    settings = get_settings()
    if len(data) > settings.media_max_bytes:
        limit_mb = settings.media_max_bytes / 1024 / 1024
        raise Invalid(f"Validation failed: File is larger than {limit_mb:g} MB")
    await session.commit()
    processed = await asyncio.to_thread(
        process_image,
        data,
        max_pixels=settings.media_max_pixels,
        preview_side=settings.media_preview_side,
    )
    row = _new_row(owner_id, processed, text, point)
    store = media_storage()
    await asyncio.to_thread(_write_files, store, row, processed)
    try:
        session.add(row)
        enqueue(session, JobKind.SWEEP_UNATTACHED_MEDIA, {}, delay=UNATTACHED_TTL.total_seconds())
        await session.commit()
    except BaseException:
        await asyncio.to_thread(_remove_files, store, [_file_keys(row)])
        raise
    return row


def _new_row(
    owner_id: int,
    processed: ProcessedImage,
    description: str | None,
    focus: tuple[float, float] | None,
) -> MediaAttachment:
    now = utcnow()
    original, preview = processed.original, processed.preview
    return MediaAttachment(
        id=new_id(),
        account_id=owner_id,
        post_id=None,
        position=0,
        key=secrets.token_hex(16),
        access_secret=secrets.token_hex(16),
        file_format=original.format,
        width=original.width,
        height=original.height,
        file_size=len(original.data),
        preview_format=preview.format,
        preview_width=preview.width,
        preview_height=preview.height,
        preview_size=len(preview.data),
        blurhash=processed.blurhash,
        description=description,
        focus_x=focus[0] if focus else None,
        focus_y=focus[1] if focus else None,
        created_at=now,
        unattached_since=now,
        media_type="image",
        processing=0,
    )


def _file_keys(row: Any) -> list[str]:
    """Storage keys of a row's files (a MediaAttachment or a row with the same columns): its
    original and preview when it has them (a remote image never fetched has none, audio no
    preview), and the source of a video or audio upload (which may wait for transcoding)."""
    formats = (row.file_format, row.preview_format)
    keys = [storage_key(row.key, v, f) for v, f in zip(VARIANTS, formats, strict=True) if f]
    return [*keys, source_key(row.key)] if row.media_type != "image" else keys


def _write_files(store: MediaStorage, row: MediaAttachment, processed: ProcessedImage) -> None:
    original, small = _file_keys(row)
    store.put(original, processed.original.data)
    store.put(small, processed.preview.data)


def _remove_files(store: MediaStorage, keys: Iterable[list[str]]) -> None:
    for pair in keys:
        for key in pair:
            store.delete(key)


async def get_own_media(session: AsyncSession, owner_id: int, media_id: int) -> MediaAttachment:
    """One of the caller's own uploads; NotFound for anyone else's."""
    row = await session.get(MediaAttachment, media_id)
    if row is None or row.account_id != owner_id:
        raise NotFound()
    return row


async def update_media(session: AsyncSession, owner_id: int, edit: MediaEdit) -> MediaAttachment:
    """Change the alt text or focus of one's own unattached upload (an attached one changes
    with its post: `media_attributes` on a status edit, as on Mastodon). Commits."""
    row = await get_own_media(session, owner_id, edit.id)
    if row.post_id is not None:
        raise Invalid(
            "Validation failed: This media is attached to a post; edit the post"
            " (media_attributes) to change it"
        )
    if edit.description is not None and not edit.description.strip() and edit.focus:
        edit.description = None  # a blank description sent along with a focus: keep it
    _apply(row, edit, blank_clears=False)
    await session.commit()
    return row


def _apply(row: MediaAttachment, edit: MediaEdit, *, blank_clears: bool) -> None:
    if edit.description is not None:
        row.description = clean_description(edit.description, blank_clears=blank_clears)
    if edit.focus:
        row.focus_x, row.focus_y = parse_focus(edit.focus)


async def attached_media_ids(session: AsyncSession, post_id: int) -> list[int]:
    """The ids of a post's media, in order."""
    query = (
        select(MediaAttachment.id)
        .where(MediaAttachment.post_id == post_id)
        .order_by(MediaAttachment.position)
    )
    return list((await session.scalars(query)).all())


async def set_post_media(
    session: AsyncSession,
    post: Post,
    owner_id: int,
    media_ids: Sequence[int],
    edits: Sequence[MediaEdit] = (),
    *,
    reserved: bool = False,
) -> None:
    """Make `media_ids` (the owner's own uploads, unattached or already on this post) the
    post's media, in that order, applying `edits`; media it no longer uses is detached.
    Media reserved by a scheduled post (`reserve_media`) can only be attached by that post
    when it is published (`reserved`). Does not commit. Invalid for too many, duplicates,
    unknown ids, someone else's media or media already on another post (or reserved), also
    when another request attaches it concurrently."""
    await _check_attachable(session, post, owner_id, media_ids, edits)
    changes = {e.id: e for e in edits}
    free = (
        MediaAttachment.unattached_since.is_(None)
        if reserved
        else MediaAttachment.unattached_since.is_not(None)
    )
    for position, media_id in enumerate(media_ids):
        values: dict[str, Any] = {"post_id": post.id, "position": position}
        values["unattached_since"] = None
        if media_id in changes:
            values.update(_edit_values(changes[media_id]))
        done = await session.execute(
            update(MediaAttachment)
            .where(
                MediaAttachment.id == media_id,
                MediaAttachment.account_id == owner_id,
                or_(
                    and_(MediaAttachment.post_id.is_(None), free),
                    MediaAttachment.post_id == post.id,
                ),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if affected_rows(done) != 1:
            raise Invalid(f"Validation failed: Media {media_id} is already attached to a post")
    dropped = await session.execute(
        update(MediaAttachment)
        .where(MediaAttachment.post_id == post.id, MediaAttachment.id.not_in(media_ids))
        .values(post_id=None, unattached_since=utcnow())
        .execution_options(synchronize_session=False)
    )
    if affected_rows(dropped):
        _schedule_sweep(session)


async def reserve_media(session: AsyncSession, owner_id: int, media_ids: Sequence[int]) -> None:
    """Keep the owner's unattached `media_ids` for a scheduled post: no other post can take
    them and the sweep leaves them (does not commit). Invalid for too many, duplicates,
    unknown ids, someone else's media, or media attached or reserved already, also when
    another request takes it concurrently."""
    limit = get_settings().media_max_attachments
    if len(media_ids) > limit:
        raise Invalid(f"Validation failed: A post can have at most {limit} media attachments")
    if len(set(media_ids)) != len(media_ids):
        raise Invalid("Validation failed: The same media is attached twice")
    for media_id in media_ids:
        taken = await session.execute(
            update(MediaAttachment)
            .where(
                MediaAttachment.id == media_id,
                MediaAttachment.account_id == owner_id,
                MediaAttachment.post_id.is_(None),
                MediaAttachment.unattached_since.is_not(None),
            )
            .values(unattached_since=None)
            .execution_options(synchronize_session=False)
        )
        if affected_rows(taken) != 1:
            raise Invalid(f"Validation failed: Media {media_id} is already attached to a post")


async def release_media(session: AsyncSession, media_ids: Sequence[int]) -> None:
    """A cancelled scheduled post lets go of its reserved media: unattached again, swept a
    day later unless a post takes them (does not commit)."""
    released = await session.execute(
        update(MediaAttachment)
        .where(
            MediaAttachment.id.in_(list(media_ids)),
            MediaAttachment.post_id.is_(None),
            MediaAttachment.unattached_since.is_(None),
        )
        .values(unattached_since=utcnow())
        .execution_options(synchronize_session=False)
    )
    if affected_rows(released):
        _schedule_sweep(session)


async def reserved_media(
    session: AsyncSession, owner_id: int, media_ids: Sequence[int]
) -> list[MediaAttachment]:
    """The owner's media among `media_ids`, in that order (a scheduled post's attachments)."""
    rows = await session.scalars(
        select(MediaAttachment).where(
            MediaAttachment.id.in_(list(media_ids)), MediaAttachment.account_id == owner_id
        )
    )
    found = {row.id: row for row in rows}
    return [found[i] for i in media_ids if i in found]


def _edit_values(edit: MediaEdit) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if edit.description is not None:
        values["description"] = clean_description(edit.description, blank_clears=True)
    if edit.focus:
        values["focus_x"], values["focus_y"] = parse_focus(edit.focus)
    return values


async def _check_attachable(
    session: AsyncSession,
    post: Post,
    owner_id: int,
    media_ids: Sequence[int],
    edits: Sequence[MediaEdit],
) -> None:
    limit = get_settings().media_max_attachments
    if len(media_ids) > limit:
        raise Invalid(f"Validation failed: A post can have at most {limit} media attachments")
    if len(set(media_ids)) != len(media_ids):
        raise Invalid("Validation failed: The same media is attached twice")
    stray = [e.id for e in edits if e.id not in media_ids]
    if stray:
        raise Invalid(f"Validation failed: media_attributes: Media {stray[0]} is not attached")
    for edit in edits:
        _edit_values(edit)  # validate before writing anything
    rows = (
        await session.execute(
            select(MediaAttachment.id, MediaAttachment.post_id, MediaAttachment.processing).where(
                MediaAttachment.id.in_(media_ids), MediaAttachment.account_id == owner_id
            )
        )
    ).all()
    found = {row.id: row for row in rows}
    for media_id in media_ids:
        if media_id not in found:
            raise Invalid(f"Validation failed: Media {media_id} not found")
        if found[media_id].post_id not in (None, post.id):
            raise Invalid(f"Validation failed: Media {media_id} is already attached to a post")
        if found[media_id].processing != DONE:
            raise Invalid(NOT_PROCESSED)


async def detach_post_media(session: AsyncSession, post_id: int, *, delete_now: bool) -> None:
    """A deleted post lets go of its media (does not commit): kept unattached for a day, so
    "delete and redraft" can reuse it, or deleted at once with `delete_now`."""
    detached = await session.execute(
        update(MediaAttachment)
        .where(MediaAttachment.post_id == post_id)
        .values(post_id=None, unattached_since=utcnow())
        .returning(MediaAttachment.id)
        .execution_options(synchronize_session=False)
    )
    ids = [row[0] for row in detached]
    if ids and delete_now:
        enqueue(session, JobKind.DELETE_MEDIA, {"media_ids": ids})
    elif ids:
        _schedule_sweep(session)


def _schedule_sweep(session: AsyncSession) -> None:
    enqueue(session, JobKind.SWEEP_UNATTACHED_MEDIA, {}, delay=UNATTACHED_TTL.total_seconds())


def has_media(post: PostLike = Post) -> ColumnElement[bool]:
    """SQL condition: the post has at least one attachment (Mastodon's `only_media`)."""
    return exists().where(MediaAttachment.post_id == post.id)


async def sweep_unattached_media(session: AsyncSession, payload: SweepJob) -> None:
    """Job: delete media left unattached for more than a day (a batch; another sweep is
    queued at once when the batch was full)."""
    cutoff = utcnow() - UNATTACHED_TTL
    ids = (
        await session.scalars(
            select(MediaAttachment.id)
            .where(MediaAttachment.post_id.is_(None), MediaAttachment.unattached_since <= cutoff)
            .limit(SWEEP_BATCH)
        )
    ).all()
    await _delete_unattached(session, list(ids))
    if len(ids) == SWEEP_BATCH:
        enqueue(session, JobKind.SWEEP_UNATTACHED_MEDIA, {})


async def delete_media(session: AsyncSession, payload: DeleteMediaJob) -> None:
    """Job: delete these media at once (unless a post has taken them up again)."""
    await _delete_unattached(session, [int(i) for i in payload.get("media_ids", [])])


async def _delete_unattached(session: AsyncSession, ids: list[int]) -> None:
    """Delete the rows that are still unattached, then their files. A failure after the files
    are gone rolls the rows back; the next run deletes them again (missing files are fine)."""
    if not ids:
        return
    gone = (
        await session.execute(
            delete(MediaAttachment)
            .where(MediaAttachment.id.in_(ids), MediaAttachment.post_id.is_(None))
            .returning(
                MediaAttachment.key,
                MediaAttachment.file_format,
                MediaAttachment.preview_format,
                MediaAttachment.media_type,
            )
            .execution_options(synchronize_session=False)
        )
    ).all()
    await asyncio.to_thread(_remove_files, media_storage(), [_file_keys(row) for row in gone])
    if gone:
        log.info("deleted %d unattached media", len(gone))


async def delete_media_of(session: AsyncSession, account_id: int, limit: int) -> int:
    """Delete up to `limit` of an account's media, attached or not, and their files (account
    deletion); returns how many. Files go first: a failure after that rolls the rows back and
    the next run deletes them again (missing files are fine)."""
    ids = (
        await session.scalars(
            select(MediaAttachment.id).where(MediaAttachment.account_id == account_id).limit(limit)
        )
    ).all()
    if not ids:
        return 0
    gone = (
        await session.execute(
            delete(MediaAttachment)
            .where(MediaAttachment.id.in_(ids))
            .returning(
                MediaAttachment.key,
                MediaAttachment.file_format,
                MediaAttachment.preview_format,
                MediaAttachment.media_type,
            )
            .execution_options(synchronize_session=False)
        )
    ).all()
    await asyncio.to_thread(_remove_files, media_storage(), [_file_keys(row) for row in gone])
    return len(gone)
