"""`agora backup` / `agora restore`: the database and the media files, together.

A backup is a directory (or the same directory in a `.tar` / `.tar.gz` file):

    manifest.json      format, backend, schema revision, when, file counts
    database.sqlite3   SQLite: a consistent copy made with SQLite's online backup API
    database.pgdump    PostgreSQL: `pg_dump --format=custom` (one consistent snapshot)
    media/             the files of AGORA_MEDIA_DIR, as they are

Invariants:
- Backing up never stops the server: SQLite's backup API and pg_dump both read a consistent
  snapshot while others write. Media files are copied after the database, so every file the
  database names existed when it was read (files are never rewritten in place; a file
  uploaded meanwhile is extra, never missing).
- A restore goes only into the backend the backup came from (`agora db copy` moves between
  backends), and only into an empty database and media directory unless `replace=True`.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from agora.db.engine import Database
from agora.db.models import Base

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
MEDIA = "media"
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")


class BackupError(Exception):
    """A backup or restore that cannot be done as asked (said why)."""


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds (its manifest)."""

    backend: str
    revision: str | None
    media_files: int
    created_at: str


def _is_tar(path: Path) -> bool:
    return path.name.endswith(TAR_SUFFIXES)


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as pg_dump / pg_restore take it (no `+asyncpg`)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlite_path(url: str) -> Path:
    """The file of a SQLite URL."""
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()}")


async def _revision(url: str) -> str | None:
    database = Database(url)
    try:
        async with database.engine.connect() as conn:
            found = await conn.execute(text("SELECT version_num FROM alembic_version"))
            revision: object = found.scalar_one_or_none()
            return None if revision is None else str(revision)
    finally:
        await database.dispose()


def _copy_media(source: Path, target: Path) -> int:
    """Copy the tree `source` into `target`; the number of files."""
    count = 0
    target.mkdir(parents=True, exist_ok=True)
    if not source.is_dir():
        return 0
    for path in sorted(source.rglob("*")):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
            count += 1
    return count


async def backup(url: str, media_dir: Path, out: Path) -> BackupSummary:
    """Write a backup of the database at `url` and the files of `media_dir` to `out` (a new
    directory, or a `.tar`/`.tar.gz` file)."""
    if out.exists():
        raise BackupError(f"{out} exists already: back up into a new path")
    backend = make_url(url).get_backend_name()
    revision = await _revision(url)
    with tempfile.TemporaryDirectory(prefix="agora-backup-") as scratch:
        folder = Path(scratch) / "backup" if _is_tar(out) else out
        folder.mkdir(parents=True)
        if backend == "sqlite":
            source = sqlite3.connect(sqlite_path(url))
            target = sqlite3.connect(folder / SQLITE_FILE)
            try:
                source.backup(target)  # the online backup API: a consistent copy
            finally:
                target.close()
                source.close()
        elif backend == "postgresql":
            _run(["pg_dump", "--format=custom", "--file", str(folder / PG_FILE), libpq_url(url)])
        else:
            raise BackupError(f"cannot back up a {backend} database")
        files = _copy_media(media_dir, folder / MEDIA)
        summary = BackupSummary(backend, revision, files, datetime.now(UTC).isoformat())
        manifest = {"format": FORMAT, **summary.__dict__}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if _is_tar(out):
            compressed = not out.name.endswith(".tar")
            with tarfile.open(out, "w:gz" if compressed else "w") as archive:
                archive.add(folder, arcname=".")
    return summary


def _read_manifest(folder: Path) -> BackupSummary:
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"not an Agora backup (no readable {MANIFEST})") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    return BackupSummary(
        manifest["backend"], manifest["revision"], manifest["media_files"], manifest["created_at"]
    )


async def _has_rows(url: str) -> bool:
    database = Database(url)
    try:
        async with database.engine.connect() as conn:
            names = await conn.run_sync(lambda sync: set(sync.dialect.get_table_names(sync)))
            for table in Base.metadata.sorted_tables:
                if table.name in names:
                    count = await conn.execute(select(func.count()).select_from(table))
                    if count.scalar_one():
                        return True
        return False
    finally:
        await database.dispose()


async def restore(
    source: Path, url: str, media_dir: Path, *, replace: bool = False
) -> BackupSummary:
    """Restore the backup at `source` (directory or tar file) into the database at `url` and
    `media_dir`. Both must be empty unless `replace`: then the database is replaced and the
    media directory emptied first. Stop the server before; start it after."""
    with tempfile.TemporaryDirectory(prefix="agora-restore-") as scratch:
        folder = source
        if source.is_file() and _is_tar(source):
            with tarfile.open(source) as archive:
                archive.extractall(scratch, filter="data")
            folder = Path(scratch)
        summary = _read_manifest(folder)
        backend = make_url(url).get_backend_name()
        if backend != summary.backend:
            raise BackupError(
                f"this is a {summary.backend} backup and the database is {backend}: restore "
                f"it into {summary.backend}, then move with `agora db copy`"
            )
        media_used = media_dir.is_dir() and any(media_dir.iterdir())
        if not replace and (media_used or await _has_rows(url)):
            raise BackupError("the database or the media directory is not empty (--replace)")
        if backend == "sqlite":
            path = sqlite_path(url)
            path.parent.mkdir(parents=True, exist_ok=True)
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)
            shutil.copyfile(folder / SQLITE_FILE, path)
        else:
            # --clean --if-exists: a database migrated but empty (or replaced) loses its
            # tables first; in a new database the drops do nothing
            command = ["pg_restore", "--no-owner", "--exit-on-error", "--clean", "--if-exists"]
            _run([*command, "-d", libpq_url(url), str(folder / PG_FILE)])
            # pg_restore brings no planner statistics: until autovacuum analyzes the tables
            # (minutes later, never where it is off) PostgreSQL plans blind (`agora db copy`
            # measured a home timeline at 1.2 s of its CPU then)
            _run(["vacuumdb", "--analyze-only", "--quiet", "-d", libpq_url(url)])
        if replace and media_dir.is_dir():
            shutil.rmtree(media_dir)
        _copy_media(folder / MEDIA, media_dir)
    return summary
