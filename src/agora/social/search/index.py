"""The full-text index of posts on each backend, behind one function: `newest_matches`.

Both index `text` and `spoiler_text` of original posts (no boosts) that are not deleted, are
language-neutral (no stemming, no stop words) and are kept in sync by triggers on `posts`
(migration 0006), so every write path (services, the CLI, the demo seeder) updates the
index in the writer's own transaction.

SQLite: the FTS5 table `posts_search` (external content: no copy of the text). Its posting
lists are in rowid (= id, so time) order: the newest matches come first at no extra cost.

PostgreSQL: the table `post_search` (post_id, 'simple' tsvector) with a GIN index. The newest
matches of a common word are found fastest by walking `post_search` backwards by id; those of
a rarer word by reading all its matches from the GIN index and sorting them. PostgreSQL
estimates word frequencies well (ANALYZE) but prices the per-row match far too low, so it
walks for rare words too (a quarter of a second for a word in 0.2 % of 1M posts). So the
choice is made here from its estimate (see `_walks`), and the statement forces it.
"""

from __future__ import annotations

import json
import math
import time
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    String,
    bindparam,
    column,
    func,
    literal,
    literal_column,
    select,
    table,
    text,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from agora.db.models import ID, Post
from agora.social.search.query import TextQuery

FTS = table("posts_search", column("rowid", ID), column("posts_search"))
DOCUMENTS = table("post_search", column("post_id", ID), column("document"))
INDEX_DOCUMENTS = "CREATE INDEX ix_post_search_document ON post_search USING gin (document)"
PG_MATCH = DOCUMENTS.c.document.op("@@")(
    func.websearch_to_tsquery(
        literal_column("'simple'::regconfig"),
        bindparam("match", type_=String, literal_execute=True),
    )
)
"""The query is written into the SQL (safely quoted), not sent as a parameter, so that
PostgreSQL plans with the words' frequencies (a generic plan cannot)."""

Shape = tuple[bool, bool, bool]  # author, max_id, min_id in use


async def newest_matches(
    session: AsyncSession,
    query: TextQuery,
    *,
    limit: int,
    any_term: bool = False,
    author_id: int | None = None,
    max_id: int | None = None,
    min_id: int | None = None,
    with_text: bool = True,
) -> list[Row[Any]]:
    """The newest `limit` indexed posts matching `query` (all its words, or any of them),
    newest first, as rows of (id, text, spoiler_text), or (id,) without `with_text`.
    No visibility here: callers filter (see search.posts)."""
    bounds = {"author_id": author_id, "max_id": max_id, "min_id": min_id}
    shape: Shape = (author_id is not None, max_id is not None, min_id is not None)
    params: dict[str, Any] = {k: v for k, v in bounds.items() if v is not None}
    params["limit"] = limit
    if session.get_bind().dialect.name == "sqlite":
        params["match"] = query.fts5(any_term)
        statement = _sqlite_statement(with_text, shape)
    else:
        params["match"] = query.websearch(any_term)
        if author_id is not None:  # PostgreSQL starts from the author's posts
            statement = _postgresql_by_author(with_text, shape)
        else:
            walk = await _walks(session, params["match"], limit)
            statement = _postgresql_statement(with_text, shape, walk)
    return list((await session.execute(statement, params)).all())


def _columns(with_text: bool) -> tuple[Any, ...]:
    return (Post.id, Post.text, Post.spoiler_text) if with_text else (Post.id,)


def _bounded(statement: Select[Any], key: Any, shape: Shape) -> Select[Any]:
    has_author, has_max, has_min = shape
    if has_author:
        statement = statement.where(Post.account_id == bindparam("author_id", type_=ID))
    if has_max:
        statement = statement.where(key < bindparam("max_id", type_=ID))
    if has_min:
        statement = statement.where(key > bindparam("min_id", type_=ID))
    return statement


@cache
def _sqlite_statement(with_text: bool, shape: Shape) -> Select[Any]:
    """Matches in FTS5's own (rowid) order, joined to their posts; built once per shape."""
    statement = (
        select(*_columns(with_text))
        .join(FTS, FTS.c.rowid == Post.id)
        .where(FTS.c.posts_search.match(bindparam("match", type_=String)))
    )
    statement = _bounded(statement, FTS.c.rowid, shape)
    return statement.order_by(FTS.c.rowid.desc()).limit(bindparam("limit", type_=Integer))


@cache
def _postgresql_statement(with_text: bool, shape: Shape, walk: bool) -> Select[Any]:
    """The newest matching ids first, then their posts by primary key (joined directly,
    PostgreSQL may walk all of `posts` to meet ids spread over months). `walk`: backwards by
    id, the match checked row by row (`IS TRUE` keeps the GIN index out of it); otherwise
    every match from the GIN index (a materialised CTE, so it cannot walk instead), sorted."""
    key: ColumnElement[int] = DOCUMENTS.c.post_id
    if walk:
        ids = _bounded(select(key).where(PG_MATCH.is_(true())), key, shape)
    else:
        matches = _bounded(select(key).where(PG_MATCH), key, shape)
        found = matches.cte("matches").prefix_with("MATERIALIZED")
        key = found.c.post_id
        ids = select(key)
    ids = ids.order_by(key.desc()).limit(bindparam("limit", type_=Integer))
    return select(*_columns(with_text)).where(Post.id.in_(ids)).order_by(Post.id.desc())


@cache
def _postgresql_by_author(with_text: bool, shape: Shape) -> Select[Any]:
    """One author's matches: PostgreSQL goes from the author's posts to their documents."""
    key = DOCUMENTS.c.post_id
    statement = select(*_columns(with_text)).join(DOCUMENTS, key == Post.id).where(PG_MATCH)
    statement = _bounded(statement, key, shape)
    return statement.order_by(key.desc()).limit(bindparam("limit", type_=Integer))


async def _walks(session: AsyncSession, websearch: str, limit: int) -> bool:
    """Walk backwards when that reads fewer rows than the GIN way: walking reads about
    limit * indexed / matches rows, the GIN way about `matches` rows."""
    matching = select(literal(1)).select_from(DOCUMENTS).where(PG_MATCH)
    matches = await _estimate(session, matching, websearch)
    return matches * matches > limit * await _indexed_posts(session)


async def _estimate(session: AsyncSession, statement: Select[Any], websearch: str) -> float:
    """PostgreSQL's estimate of the rows `statement` returns (planned, not run)."""
    sql = statement.params(match=websearch).compile(
        dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}
    )
    connection = await session.connection()
    plan = (await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}")).scalar_one()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return float(plan[0]["Plan"]["Plan Rows"])


_INDEXED: dict[str, tuple[float, float]] = {}  # database URL -> (count, when it was read)


async def _indexed_posts(session: AsyncSession) -> float:
    """About how many posts are indexed (PostgreSQL's statistics; re-read every 10 min)."""
    key = str(session.get_bind().engine.url)
    count, read_at = _INDEXED.get(key, (0.0, -math.inf))
    if time.monotonic() - read_at > 600:
        found = await session.scalar(
            text("SELECT reltuples FROM pg_class WHERE oid = 'post_search'::regclass")
        )
        count = max(float(found or 0), 0.0)
        _INDEXED[key] = (count, time.monotonic())
    return count


async def after_bulk_load(conn: AsyncConnection) -> None:
    """After a bulk load: SQLite merges the FTS5 index into one segment (faster queries);
    PostgreSQL indexes the posts loaded with triggers off (the demo seeder loads with
    `session_replication_role = replica`) and refreshes the word statistics."""
    if conn.dialect.name == "sqlite":
        await conn.execute(text("INSERT INTO posts_search(posts_search) VALUES ('optimize')"))
        return
    # Filling a GIN index row by row is slow (1M posts: well over half an hour); building it
    # once the rows are in takes a minute or two. Same transaction: no one sees it missing.
    await conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    await conn.execute(text("DROP INDEX ix_post_search_document"))
    await conn.execute(
        text(
            "INSERT INTO post_search (post_id, document) SELECT p.id, "
            "to_tsvector('simple'::regconfig, p.text || ' ' || p.spoiler_text) FROM posts p "
            "WHERE p.reblog_of_id IS NULL AND p.deleted_at IS NULL "
            "ON CONFLICT (post_id) DO NOTHING"  # (an anti-join re-read the growing table)
        )
    )
    await conn.execute(text(INDEX_DOCUMENTS))
    await conn.execute(text("ANALYZE post_search"))
