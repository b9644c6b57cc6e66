"""A person's archive of their own data (what Mastodon calls "request your archive"): not
the dataset export of data/export.py, which publishes consented posts of many people.

`request_archive` is the rule: at most one archive per `ARCHIVE_EVERY` (7 days) per person,
counted from the last request (Invalid with the date of the next one otherwise); the request
writes the `build_archive` job in its transaction. The job (federation/archive_documents.py,
which renders the ActivityStreams documents with the code federation serves) writes the zip
to a temporary file under `AGORA_ARCHIVE_DIR` through `ArchiveZip`, member by member and
JSON document item by item, so no archive is ever held in memory; the file is renamed into
place before `archive_built` marks the row ready, for `KEEP_FOR` (7 days). Only the owner
can download it (`archive_file` answers NotFound to anyone else, and for an archive that is
not ready or has expired); an expired archive's file is removed by the
`sweep_expired_archives` job, written with each ready archive and due when it expires (it
removes every expired file, `SWEEP_BATCH` at a time), or when its owner asks for the next
one, and every file of an account goes when the account is deleted (`remove_archives_of`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.data import consent
from agora.db.locks import lock_account
from agora.db.models import (
    Account,
    AccountArchive,
    ConsentEvent,
    MediaAttachment,
    Post,
    utcnow,
)
from agora.ids import new_id
from agora.jobs.job_kinds import ArchiveJob, JobKind, SweepJob
from agora.jobs.queue import enqueue
from agora.social.media.files import storage_key
from agora.social.media.storage import media_storage
from agora.social.rules.errors import Invalid, NotFound

ARCHIVE_EVERY = timedelta(days=7)
KEEP_FOR = timedelta(days=7)
BATCH = 500  # posts (or media files) read per query while the zip is written
SWEEP_BATCH = 200  # expired archives whose files one sweep removes
PENDING, READY, FAILED, EXPIRED = "pending", "ready", "failed", "expired"


def too_soon_message(next_at: datetime) -> str:
    """Why a second archive within `ARCHIVE_EVERY` is refused, with the date of the next."""
    return (
        "You can request an archive once every 7 days; "
        f"the next one from {next_at.strftime('%Y-%m-%d %H:%M')} UTC"
    )


def state_of(archive: AccountArchive, now: datetime | None = None) -> str:
    """pending / ready / expired / failed, as the person sees it."""
    if archive.state == READY and archive.expires_at and archive.expires_at <= (now or utcnow()):
        return EXPIRED
    return archive.state


async def archives_of(session: AsyncSession, account_id: int) -> list[AccountArchive]:
    """The person's archives, newest first."""
    rows = await session.scalars(
        select(AccountArchive)
        .where(AccountArchive.account_id == account_id)
        .order_by(AccountArchive.id.desc())
    )
    return list(rows.all())


async def next_archive_at(session: AsyncSession, account_id: int) -> datetime | None:
    """When the person may ask for the next archive (None: now)."""
    last = await session.scalar(
        select(func.max(AccountArchive.requested_at)).where(AccountArchive.account_id == account_id)
    )
    if last is None or last + ARCHIVE_EVERY <= utcnow():
        return None
    return last + ARCHIVE_EVERY


async def request_archive(session: AsyncSession, account: Account) -> AccountArchive:
    """Ask for a new archive (Invalid within `ARCHIVE_EVERY` of the last request, also when
    two requests race): the row, pending, and its job. Old archives' files go. Commits."""
    await lock_account(session, account.id)
    next_at = await next_archive_at(session, account.id)
    if next_at is not None:
        raise Invalid(too_soon_message(next_at))
    for old in await archives_of(session, account.id):
        _remove_file(old)
    archive = AccountArchive(
        id=new_id(), account_id=account.id, state=PENDING, requested_at=utcnow(), size=0
    )
    session.add(archive)
    await session.flush()
    enqueue(session, JobKind.BUILD_ARCHIVE, {"archive_id": archive.id})
    await session.commit()
    return archive


def archive_dir() -> Path:
    """Where archives are written (`AGORA_ARCHIVE_DIR`)."""
    return Path(get_settings().archive_dir)


def file_name_of(archive_id: int) -> str:
    """The file an archive is written to (its id only: nothing a person chose)."""
    return f"archive-{archive_id}.zip"


async def archive_file(session: AsyncSession, account_id: int, archive_id: int) -> Path:
    """The zip of the caller's ready, unexpired archive; NotFound for anyone else's, for
    one not ready or expired, or whose file is gone."""
    archive = await session.get(AccountArchive, archive_id)
    if archive is None or archive.account_id != account_id or state_of(archive) != READY:
        raise NotFound()
    path = archive_dir() / (archive.file_name or "")
    if not archive.file_name or not path.is_file():
        raise NotFound()
    return path


async def archive_to_build(session: AsyncSession, archive_id: int) -> AccountArchive | None:
    """The archive the job should write (None once it is no longer pending)."""
    archive = await session.get(AccountArchive, archive_id)
    return archive if archive is not None and archive.state == PENDING else None


@dataclass(frozen=True, slots=True)
class BuiltArchive:
    """What the job wrote: the file's name under `archive_dir()` and its size."""

    file_name: str
    size: int


async def archive_built(
    session: AsyncSession, payload: ArchiveJob, built: BuiltArchive | None
) -> None:
    """The job's last step: the archive is ready for `KEEP_FOR`."""
    archive = await session.get(AccountArchive, payload["archive_id"])
    if archive is None or built is None or archive.state != PENDING:
        return
    now = utcnow()
    archive.state, archive.file_name, archive.size = READY, built.file_name, built.size
    archive.ready_at, archive.expires_at = now, now + KEEP_FOR
    enqueue(session, JobKind.SWEEP_EXPIRED_ARCHIVES, {}, delay=KEEP_FOR.total_seconds() + 1)


async def archive_failed(session: AsyncSession, payload: ArchiveJob) -> None:
    """Retries spent: the archive is marked failed (the person may ask again after the
    week; the admins see the dead job)."""
    archive = await session.get(AccountArchive, payload["archive_id"])
    if archive is not None and archive.state == PENDING:
        archive.state, archive.error = FAILED, "The archive could not be made"


async def sweep_expired_archives(session: AsyncSession, payload: SweepJob) -> None:
    """Job: remove the files of expired archives (a batch; another sweep is queued at once
    when the batch was full). The rows stay, expired, without a file."""
    expired = (
        await session.scalars(
            select(AccountArchive)
            .where(AccountArchive.file_name.is_not(None), AccountArchive.expires_at <= utcnow())
            .order_by(AccountArchive.id)
            .limit(SWEEP_BATCH)
        )
    ).all()
    for archive in expired:
        _remove_file(archive)
        archive.file_name = None
    if len(expired) == SWEEP_BATCH:
        enqueue(session, JobKind.SWEEP_EXPIRED_ARCHIVES, {})


def _remove_file(archive: AccountArchive) -> None:
    if archive.file_name:
        (archive_dir() / archive.file_name).unlink(missing_ok=True)


async def remove_archives_of(session: AsyncSession, account_id: int) -> None:
    """Every archive of an account, files and rows (account deletion)."""
    for archive in await archives_of(session, account_id):
        _remove_file(archive)
    await session.execute(delete(AccountArchive).where(AccountArchive.account_id == account_id))


# What goes into an archive, read in batches (the job renders them).


async def posts_after(session: AsyncSession, account_id: int, after_id: int) -> list[Post]:
    """The next `BATCH` of the person's own posts and boosts (not deleted), oldest first."""
    rows = await session.scalars(
        select(Post)
        .where(Post.account_id == account_id, Post.deleted_at.is_(None), Post.id > after_id)
        .order_by(Post.id)
        .limit(BATCH)
    )
    return list(rows.all())


async def posts_count(session: AsyncSession, account_id: int) -> int:
    """How many posts and boosts `posts_after` will give."""
    found = await session.scalar(
        select(func.count())
        .select_from(Post)
        .where(Post.account_id == account_id, Post.deleted_at.is_(None))
    )
    return int(found or 0)


@dataclass(frozen=True, slots=True)
class MediaFile:
    """One stored file of the person's media: its id and its key in the media store."""

    id: int
    key: str


async def media_after(session: AsyncSession, account_id: int, after_id: int) -> list[MediaFile]:
    """The next `BATCH` of the person's uploaded images on live posts (originals)."""
    rows = await session.execute(
        select(MediaAttachment.id, MediaAttachment.key, MediaAttachment.file_format)
        .join(Post, Post.id == MediaAttachment.post_id)
        .where(
            MediaAttachment.account_id == account_id,
            MediaAttachment.remote_url.is_(None),
            Post.deleted_at.is_(None),
            MediaAttachment.id > after_id,
        )
        .order_by(MediaAttachment.id)
        .limit(BATCH)
    )
    return [MediaFile(i, storage_key(key, "original", fmt)) for i, key, fmt in rows]


async def data_reuse_document(session: AsyncSession, account: Account) -> dict[str, Any]:
    """Agora's data-reuse choices of the person (as the API shows them) and their whole
    consent log."""
    log = await session.scalars(
        select(ConsentEvent).where(ConsentEvent.account_id == account.id).order_by(ConsentEvent.id)
    )
    return {
        "intents": consent.public_intents(account),
        "effective": consent.effective(account),
        "consent_log": [
            {
                "id": str(e.id),
                "category": e.category,
                "post_id": None if e.post_id is None else str(e.post_id),
                "allow": e.allow,
                "created_at": e.created_at.isoformat().replace("+00:00", "Z"),
            }
            for e in log
        ],
    }


class ArchiveZip:
    """A zip written to disk member by member: JSON documents streamed item by item
    (`json_collection`), files copied in chunks (`copy_media`); memory stays bounded."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)

    def close(self) -> None:
        self.zip.close()

    def write_json(self, name: str, document: Any) -> None:
        """A small document, whole."""
        self.zip.writestr(name, json.dumps(document, ensure_ascii=False, indent=2))

    @contextlib.contextmanager
    def json_collection(self, name: str, head: dict[str, Any]) -> Iterator[CollectionWriter]:
        """An ActivityStreams OrderedCollection whose `orderedItems` are written one by one
        through the yielded writer."""
        with self.zip.open(name, "w", force_zip64=True) as raw:
            writer = CollectionWriter(raw)
            prefix = json.dumps({**head, "orderedItems": []}, ensure_ascii=False)[:-2]
            raw.write(prefix.encode())  # ends with '"orderedItems": ['

            yield writer
            raw.write(b"\n]}")

    def copy_media(self, name: str, key: str) -> bool:
        """A media file from the store, uncompressed (images are compressed already);
        False when the store has no such file."""
        try:
            source = media_storage().open(key)
        except (FileNotFoundError, ValueError):
            return False
        with source, self.zip.open(zipfile.ZipInfo(name), "w", force_zip64=True) as out:
            shutil.copyfileobj(source, out, 256 * 1024)
        return True


class CollectionWriter:
    """Writes the items of one streamed JSON array."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.count = raw, 0

    def add(self, item: Any) -> None:
        """One more item of the array."""
        text = json.dumps(item, ensure_ascii=False)
        self.raw.write((("," if self.count else "") + "\n" + text).encode())
        self.count += 1


def finish(tmp: Path, archive_id: int) -> BuiltArchive:
    """Move a written zip into place (atomically) and say what it is."""
    name = file_name_of(archive_id)
    target = archive_dir() / name
    os.replace(tmp, target)
    return BuiltArchive(name, target.stat().st_size)
