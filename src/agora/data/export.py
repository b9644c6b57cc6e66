"""The consented dataset export (`agora export dataset`).

A post is included only if, at the snapshot: it is public, not deleted, not a boost, not
AI-generated and not by the assistant, its author is not suspended, and consent allows the
purpose for that author and that post (`consent.allowed_sql`). Posts stream from one read
transaction (a consistent snapshot on both databases) in keyset-paged batches into shards,
so memory stays bounded whatever the size. The run is then recorded: which accounts and posts
it included (for "where my data went" and later withdrawal lists).

What is published never carries anything that looks a post or a person up on this instance:
records, their reply and quote links and the withdrawal lists name posts by a pseudonymous
record id, and authors by a pseudonymous author id, both HMAC-SHA256 with a salt only the
instance keeps (`instance_secrets`), keyed by purpose (stable across exports of a purpose, so
withdrawal lists work; unrelated between purposes, so records of two purposes cannot be
joined). Times are given to the day (a post id holds its creation time to the millisecond).
Links to this instance's pages are taken out of the text (`scrub`). Only the instance maps a
record id back to a post: for the post's author ("where my data went", `transparency.py`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import Result, Row, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.data.card import ExportFacts, write_files
from agora.data.consent import Category, allowed_sql, log_position
from agora.data.scrub import scrub
from agora.data.shards import Format, ShardWriter
from agora.db.engine import Database
from agora.db.models import (
    Account,
    DatasetExport,
    DatasetExportAccount,
    DatasetExportPost,
    InstanceSecret,
    Post,
    PostTag,
    Tag,
    Visibility,
    utcnow,
)
from agora.db.upsert import insert_ignore
from agora.ids import new_id
from agora.social.rules.errors import Invalid

PURPOSES: dict[str, Category] = {
    "genai-text": Category.GENAI_TEXT,
    "genai-images": Category.GENAI_IMAGES,
    "research": Category.BULK_DATASET,
    "archive": Category.ARCHIVE,
}
BATCH = 10_000
SALT_NAME = "dataset_author_salt"


@dataclass
class _Run:
    """What one export has gathered so far."""

    category: Category
    salt: bytes
    consenting: dict[int, tuple[str, str | None]]  # account id -> (username, consent time)
    included: set[int] = field(default_factory=set)
    per_account: Counter[int] = field(default_factory=Counter)
    seen_texts: set[bytes] = field(default_factory=set)
    languages: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    pseudonyms: dict[int, str] = field(default_factory=dict)
    license: str = field(default_factory=lambda: get_settings().dataset_license)
    local_host: str = field(default_factory=lambda: urlparse(get_settings().base_url).netloc)

    @cached_property
    def usernames(self) -> set[str]:
        """Lower-cased usernames of the consenting accounts (mentions of them are kept)."""
        return {name for name, _ in self.consenting.values()}


def purpose_category(purpose: str) -> Category:
    """The consent category an export purpose needs; Invalid for unknown or unsupported ones."""
    if purpose not in PURPOSES:
        raise Invalid(f"Unknown purpose {purpose!r}; choose one of: {', '.join(PURPOSES)}")
    if PURPOSES[purpose] is Category.GENAI_IMAGES:
        raise Invalid("Image datasets need media attachments, which this instance has not yet")
    return PURPOSES[purpose]


async def export_dataset(
    db: Database,
    purpose: str,
    out: Path,
    *,
    fmt: Format = "parquet",
    shard_rows: int = 250_000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Export the posts consented for `purpose` into `out` (which must not hold a dataset
    already). Returns the manifest."""
    category = purpose_category(purpose)
    if (out / "manifest.json").exists() or (out / "data").exists():
        raise Invalid(f"{out} already holds a dataset; choose an empty directory")
    salt = await _salt(db)
    writer = ShardWriter(out / "data", fmt, shard_rows)
    async with db.session() as session:
        await _snapshot(session)
        snapshot_at, position = utcnow(), await log_position(session)
        run = _Run(category, salt, await _consenting(session, category))
        async for rows in _batches(session, category):
            writer.write([r for r in (_record(run, row) for row in rows) if r is not None])
            if progress:
                progress(len(rows))
    shards = writer.close()
    export_id = new_id()
    withdrawn, previous = await _record_run(db, export_id, purpose, snapshot_at, position, run, out)
    withdrawn_records = [record_id(salt, category, post_id) for post_id in withdrawn]
    facts = ExportFacts(
        export_id=export_id,
        purpose=purpose,
        category=category.value,
        snapshot_at=snapshot_at,
        consent_position=position,
        fmt=fmt,
        posts=len(run.included),
        accounts=len(run.per_account),
        skipped_duplicates=run.duplicates,
        languages=[lang for lang, _ in run.languages.most_common()],
        shards=shards,
        withdrawn=withdrawn_records,
        previous_export_id=previous,
    )
    data = write_files(out, facts, get_settings())
    async with db.transaction() as session:
        row = await session.get(DatasetExport, export_id)
        assert row is not None
        row.manifest = data
    return data


async def _snapshot(session: AsyncSession) -> None:
    """Make every read of this session see one moment (SQLite's read transaction already
    does; PostgreSQL needs REPEATABLE READ)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


async def _salt(db: Database) -> bytes:
    """The instance's secret salt for pseudonymous ids (made on first use)."""
    async with db.transaction() as session:
        await session.execute(
            insert_ignore(session, InstanceSecret).values(
                name=SALT_NAME, value=secrets.token_hex(32)
            )
        )
        value = await session.scalar(
            select(InstanceSecret.value).where(InstanceSecret.name == SALT_NAME)
        )
    return bytes.fromhex(value or "")


async def pseudonym_salt(db: Database) -> bytes:
    """The instance's secret salt for pseudonymous ids (made on first use), for the other
    public datasets (data/notes_dataset.py)."""
    return await _salt(db)


async def read_salt(session: AsyncSession) -> bytes | None:
    """The salt of pseudonymous ids, None before the first export made it."""
    value = await session.scalar(
        select(InstanceSecret.value).where(InstanceSecret.name == SALT_NAME)
    )
    return None if value is None else bytes.fromhex(value)


def _digest(salt: bytes, message: str) -> str:
    return hmac.new(salt, message.encode(), hashlib.sha256).hexdigest()[:24]


def author_pseudonym(salt: bytes, category: Category, account_id: int) -> str:
    """An author's pseudonymous id in the exports of `category`'s purpose."""
    return _digest(salt, f"{category.value}:{account_id}")


def record_id(salt: bytes, category: Category, post_id: int) -> str:
    """A post's pseudonymous record id in the exports of `category`'s purpose (the id of its
    record, of reply and quote links to it, and of withdrawal lists)."""
    return _digest(salt, f"post:{category.value}:{post_id}")


async def _consenting(
    session: AsyncSession, category: Category
) -> dict[int, tuple[str, str | None]]:
    """Accounts whose intent allows `category` (username and when they chose it)."""
    rows: Result[int, str, dict[str, Any]] = await session.execute(
        select(Account.id, Account.username_lower, Account.data_reuse).where(
            allowed_sql(category, Account, None), Account.suspended_at.is_(None)
        )
    )
    return {
        aid: (name, (reuse or {}).get(category.value, {}).get("updatedAt"))
        for aid, name, reuse in rows
    }


def exportable(category: Category) -> Any:
    """The SQL condition for a post (joined with its author) to enter an export."""
    return (
        Post.visibility == int(Visibility.PUBLIC),
        Post.deleted_at.is_(None),
        Post.reblog_of_id.is_(None),
        Post.ai_generated.is_(False),
        Account.suspended_at.is_(None),
        Account.username_lower != get_settings().assistant_username.lower(),
        allowed_sql(category, Account, Post),
    )


async def _batches(
    session: AsyncSession, category: Category
) -> AsyncIterator[Sequence[Row[*tuple[Any, ...]]]]:
    columns = (
        Post.id,
        Post.account_id,
        Post.created_at,
        Post.language,
        Post.text,
        Post.in_reply_to_id,
        Post.quote_of_id,
        _tags_column(),
    )
    query = (
        select(*columns)
        .join(Account, Account.id == Post.account_id)
        .where(*exportable(category))
        .order_by(Post.id)
        .limit(BATCH)
    )
    last = -1
    while True:
        rows = (await session.execute(query.where(Post.id > last))).all()
        if not rows:
            return
        last = rows[-1].id
        yield rows


def _tags_column() -> Any:
    """The post's hashtags as "a,b,c" (names are word characters, so "," is safe)."""
    return (
        select(func.aggregate_strings(Tag.name, ","))
        .select_from(PostTag)
        .join(Tag, Tag.id == PostTag.tag_id)
        .where(PostTag.post_id == Post.id)
        .scalar_subquery()
        .label("tags")
    )


def _record(run: _Run, row: Row[Any]) -> dict[str, Any] | None:
    """One dataset record, or None for an exact duplicate of an earlier record."""
    text = scrub(row.text, run.usernames, run.local_host)
    digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
    if digest in run.seen_texts:
        run.duplicates += 1
        return None
    run.seen_texts.add(digest)
    run.included.add(row.id)
    run.per_account[row.account_id] += 1
    run.languages[row.language or "und"] += 1
    return {
        "id": record_id(run.salt, run.category, row.id),
        "author": _pseudonym(run, row.account_id),
        "created_date": row.created_at.date(),
        "language": row.language,
        "text": text,
        "in_reply_to_id": _parent(run, row.in_reply_to_id),
        "quote_of_id": _parent(run, row.quote_of_id),
        "hashtags": sorted(row.tags.split(",")) if row.tags else [],
        "license": run.license,
        "consent_category": run.category.value,
        "consent_date": _day(run.consenting.get(row.account_id, ("", None))[1]),
    }


def _day(iso_time: str | None) -> str | None:
    """ "2026-11-25" from "2026-11-25T08:12:03.120Z" (a consent time to the millisecond is
    public in the Account entity, and would name the author)."""
    return iso_time[:10] if iso_time else None


def _parent(run: _Run, post_id: int | None) -> str | None:
    """The record id of a reply's or quote's parent, when it is in the same dataset."""
    if post_id is None or post_id not in run.included:
        return None
    return record_id(run.salt, run.category, post_id)


def _pseudonym(run: _Run, account_id: int) -> str:
    """A stable pseudonym per account and purpose (memoised for the run)."""
    found = run.pseudonyms.get(account_id)
    if found is None:
        found = run.pseudonyms[account_id] = author_pseudonym(run.salt, run.category, account_id)
    return found


async def _record_run(
    db: Database,
    export_id: int,
    purpose: str,
    snapshot_at: Any,
    position: int,
    run: _Run,
    out: Path,
) -> tuple[list[int], int | None]:
    """Store the export, its accounts and posts; return the withdrawal list (ids of earlier
    exports of this purpose not in this one) and the previous export's id."""
    async with db.transaction() as session:
        previous = await session.scalar(
            select(DatasetExport.id)
            .where(DatasetExport.purpose == purpose)
            .order_by(DatasetExport.id.desc())
            .limit(1)
        )
        session.add(
            DatasetExport(
                id=export_id,
                purpose=purpose,
                snapshot_at=snapshot_at,
                consent_position=position,
                posts_count=len(run.included),
                accounts_count=len(run.per_account),
                directory=str(out.resolve()),
                manifest={},
            )
        )
        await session.flush()
        await _insert_many(
            session,
            DatasetExportAccount,
            [
                {"export_id": export_id, "account_id": a, "posts_count": n}
                for a, n in run.per_account.items()
            ],
        )
        await _insert_many(
            session,
            DatasetExportPost,
            [{"export_id": export_id, "post_id": p} for p in sorted(run.included)],
        )
        withdrawn = await _withdrawn(session, export_id, purpose)
        row = await session.get(DatasetExport, export_id)
        assert row is not None
        row.withdrawn_count = len(withdrawn)
    return withdrawn, previous


async def _insert_many(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 5_000):
        chunk = rows[start : start + 5_000]
        if chunk:
            await session.execute(model.__table__.insert(), chunk)


async def _withdrawn(session: AsyncSession, export_id: int, purpose: str) -> list[int]:
    earlier = DatasetExportPost.__table__.alias("earlier")
    current = DatasetExportPost.__table__.alias("current")
    query = (
        select(earlier.c.post_id)
        .distinct()
        .join(DatasetExport, DatasetExport.id == earlier.c.export_id)
        .where(
            DatasetExport.purpose == purpose,
            DatasetExport.id != export_id,
            ~exists().where(
                current.c.export_id == export_id, current.c.post_id == earlier.c.post_id
            ),
        )
        .order_by(earlier.c.post_id)
    )
    return list((await session.scalars(query)).all())
