"""Tables of data portability: a person's archives (the zip of their own data, made by a job,
downloadable for a while) and their CSV imports (Mastodon's formats) with one row per line
of the file, so an import survives a restart and shows its progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from agora.db.models.base import Base, UTCDateTime, _fk, _id_col


class AccountArchive(Base):
    """One archive a person asked for: `pending` until the job writes its zip (`file_name`,
    under `AGORA_ARCHIVE_DIR`), then `ready` until `expires_at`; `failed` with `error`."""

    __tablename__ = "account_archives"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id", index=True)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    file_name: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class CsvImport(Base):
    """One CSV file a person imported: its kind (Mastodon's `following`, `blocking`,
    `muting`, `domain_blocking`, `bookmarks`, `lists`), merge or overwrite, and its
    progress (`state`: pending, running, waiting (for other servers), finished)."""

    __tablename__ = "csv_imports"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id", index=True)
    kind: Mapped[str] = mapped_column(String(20))
    overwrite: Mapped[bool] = mapped_column(Boolean, default=False)
    file_name: Mapped[str] = mapped_column(String(200), default="")
    state: Mapped[str] = mapped_column(String(10), default="pending")
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    waiting: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CsvImportRow(Base):
    """One line of an import: its parsed `data`, and `state` pending / waiting (its server
    did not answer; `tries` so far) / done / failed (`error` says why)."""

    __tablename__ = "csv_import_rows"
    id: Mapped[int] = _id_col()
    import_id: Mapped[int] = _fk("csv_imports.id", index=True)
    line: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    tries: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
