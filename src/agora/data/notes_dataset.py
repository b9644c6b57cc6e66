"""The public Community Notes dataset, as X publishes its own: every note, every rating and
every status change, as tab-separated files anyone may download
(`GET /api/v1/agora/notes/dataset/{notes,ratings,history}.tsv`).

Invariants: people appear only as pseudonymous participant ids (HMAC of the account id with
the instance's secret salt, the same salt the consented exports use, so ids are stable but
not reversible); a note's text is included only when its author allows bulk datasets (the
consent rule, `consent.allows(author, Category.BULK_DATASET)`), otherwise `textWithheld` is 1
and the text and sources are empty; only notes on posts that are public and not deleted are
listed (with their ratings and history). Files are streamed in batches of `BATCH` rows, each
read in a short transaction of its own.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import aliased

from agora.data.consent import Category, allowed_sql
from agora.data.export import pseudonym_salt
from agora.db.engine import Database
from agora.db.models import (
    Account,
    CommunityNote,
    CommunityNoteRating,
    CommunityNoteStatusChange,
    Post,
    Visibility,
)

BATCH = 5000
Author = aliased(Account)
HEADERS = {
    "notes": (
        "noteId",
        "participantId",
        "createdAtMillis",
        "statusId",
        "classification",
        "text",
        "sources",
        "draftedWithAssistant",
        "textWithheld",
        "currentStatus",
    ),
    "ratings": ("noteId", "participantId", "createdAtMillis", "helpfulness", "reasons"),
    "history": (
        "noteId",
        "statusId",
        "status",
        "intercept",
        "factor",
        "ratingsCount",
        "createdAtMillis",
    ),
}
TABLES = tuple(HEADERS)


def _participant(salt: bytes, account_id: int) -> str:
    return hmac.new(salt, f"community-notes:{account_id}".encode(), hashlib.sha256).hexdigest()[:24]


def _millis(value: datetime | None) -> str:
    return "" if value is None else str(int(value.timestamp() * 1000))


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "")


def _public_post() -> Any:
    return (
        select(Post.id)
        .where(
            Post.id == CommunityNote.post_id,
            Post.visibility == Visibility.PUBLIC,
            Post.deleted_at.is_(None),
        )
        .exists()
    )


def _statement(table: str) -> tuple[Select[Any], Any]:
    """The query of one file and the id column it pages on."""
    if table == "notes":
        consented = allowed_sql(Category.BULK_DATASET, Author, None).label("consented")
        query = (
            select(CommunityNote, consented)
            .join(Author, Author.id == CommunityNote.account_id)
            .where(_public_post())
        )
        return query, CommunityNote.id
    if table == "ratings":
        query = (
            select(CommunityNoteRating)
            .join(CommunityNote, CommunityNote.id == CommunityNoteRating.note_id)
            .where(_public_post())
        )
        return query, CommunityNoteRating.id
    query = (
        select(CommunityNoteStatusChange)
        .join(CommunityNote, CommunityNote.id == CommunityNoteStatusChange.note_id)
        .where(_public_post())
    )
    return query, CommunityNoteStatusChange.id


def _line(table: str, salt: bytes, row: Any) -> Sequence[object]:
    if table == "notes":
        note: CommunityNote = row[0]
        shown = bool(row.consented)
        return (
            note.id,
            _participant(salt, note.account_id),
            _millis(note.created_at),
            note.post_id,
            note.classification,
            note.text if shown else "",
            " ".join(note.sources or []) if shown else "",
            int(note.drafted_with_assistant),
            int(not shown),
            note.status,
        )
    if table == "ratings":
        rating: CommunityNoteRating = row[0]
        return (
            rating.note_id,
            _participant(salt, rating.account_id),
            _millis(rating.created_at),
            rating.helpfulness,
            ",".join(rating.reasons or []),
        )
    change: CommunityNoteStatusChange = row[0]
    return (
        change.note_id,
        change.post_id,
        change.status,
        "" if change.intercept is None else f"{change.intercept:.6f}",
        "" if change.factor is None else f"{change.factor:.6f}",
        change.ratings_count,
        _millis(change.created_at),
    )


async def rows(db: Database, table: str) -> AsyncIterator[bytes]:
    """One file of the dataset, line by line (header first), read in batches."""
    salt = await pseudonym_salt(db)
    query, key = _statement(table)
    line: Callable[[Any], Sequence[object]] = lambda row: _line(table, salt, row)  # noqa: E731
    yield ("\t".join(HEADERS[table]) + "\n").encode()
    after = -1
    while True:
        async with db.session() as session:
            batch = (
                await session.execute(query.where(key > after).order_by(key).limit(BATCH))
            ).all()
        if not batch:
            return
        yield "".join("\t".join(_cell(v) for v in line(r)) + "\n" for r in batch).encode()
        after = int(batch[-1][0].id)
