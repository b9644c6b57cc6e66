"""Where my data went: the exports that included a person (with their pseudonymous author
id), which of their posts each included (post id and record id: the only place that maps one
to the other, shown only to the author), and the published exports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.data.export import PURPOSES, author_pseudonym, read_salt, record_id
from agora.db.models import DatasetExport, DatasetExportAccount, DatasetExportPost, Post
from agora.social.rules.errors import NotFound
from agora.social.rules.paging import Page, apply_page, finish


@dataclass
class Inclusion:
    """One export that included some of a person's posts."""

    export_id: int
    purpose: str
    snapshot_at: datetime
    posts: int
    withdrawn_since: int  # of those posts, how many later exports of the purpose left out
    author: str  # the person's pseudonymous author id in that export


@dataclass
class IncludedPost:
    """One of a person's posts in an export, and the record id it was published under."""

    post_id: int
    record_id: str
    withdrawn_since: bool  # the newest export of the purpose no longer has it


async def exports_including(session: AsyncSession, account_id: int) -> list[Inclusion]:
    """Every export that included `account_id`, newest first."""
    rows = (
        await session.execute(
            select(DatasetExport, DatasetExportAccount.posts_count)
            .join(DatasetExportAccount, DatasetExportAccount.export_id == DatasetExport.id)
            .where(DatasetExportAccount.account_id == account_id)
            .order_by(DatasetExport.id.desc())
        )
    ).all()
    latest = await _latest_by_purpose(session)
    salt = await read_salt(session) or b""
    out = []
    for export, count in rows:
        newest = latest[export.purpose]
        gone = 0 if newest == export.id else await _left_out(session, export.id, newest, account_id)
        author = author_pseudonym(salt, PURPOSES[export.purpose], account_id)
        out.append(Inclusion(export.id, export.purpose, export.snapshot_at, count, gone, author))
    return out


async def included_posts(
    session: AsyncSession, account_id: int, export_id: int, page: Page
) -> list[IncludedPost]:
    """A page of `account_id`'s posts that `export_id` included (by post id, newest first),
    each with its record id; NotFound for an unknown export."""
    export = await session.get(DatasetExport, export_id)
    if export is None:
        raise NotFound()
    newest = (await _latest_by_purpose(session))[export.purpose]
    then = DatasetExportPost.__table__.alias("then")
    now = DatasetExportPost.__table__.alias("now")
    query = (
        select(then.c.post_id, now.c.post_id.is_(None))
        .join(Post, Post.id == then.c.post_id)
        .outerjoin(now, (now.c.post_id == then.c.post_id) & (now.c.export_id == newest))
        .where(then.c.export_id == export_id, Post.account_id == account_id)
    )
    rows: list[Row[int, bool]] = list(
        (await session.execute(apply_page(query, then.c.post_id, page))).all()
    )
    rows = finish(rows, page)
    salt = await read_salt(session) or b""
    category = PURPOSES[export.purpose]
    return [IncludedPost(pid, record_id(salt, category, pid), bool(gone)) for pid, gone in rows]


async def _latest_by_purpose(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(DatasetExport.purpose, func.max(DatasetExport.id)).group_by(DatasetExport.purpose)
    )
    return {purpose: export_id for purpose, export_id in rows}


async def _left_out(session: AsyncSession, export_id: int, newest: int, account_id: int) -> int:
    """How many of the account's posts in `export_id` the `newest` export no longer has."""
    then = DatasetExportPost.__table__.alias("then")
    now = DatasetExportPost.__table__.alias("now")
    query = (
        select(func.count())
        .select_from(then)
        .join(Post, Post.id == then.c.post_id)
        .outerjoin(now, (now.c.post_id == then.c.post_id) & (now.c.export_id == newest))
        .where(
            then.c.export_id == export_id, Post.account_id == account_id, now.c.post_id.is_(None)
        )
    )
    return int(await session.scalar(query) or 0)


async def published_exports(session: AsyncSession) -> list[DatasetExport]:
    """Every finished export (one with a manifest), newest first."""
    rows = await session.scalars(select(DatasetExport).order_by(DatasetExport.id.desc()))
    return [row for row in rows if row.manifest]


async def get_export(session: AsyncSession, export_id: int) -> DatasetExport:
    """A finished export; NotFound otherwise."""
    row = await session.get(DatasetExport, export_id)
    if row is None or not row.manifest:
        raise NotFound()
    return row
