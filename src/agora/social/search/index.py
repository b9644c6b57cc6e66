"""The full-text index of posts on each backend, behind one function: `newest_matches`.

Both index `text` and `spoiler_text` of original posts (no boosts) that are not deleted, are
language-neutral (no stemming, no stop words) and are kept in sync by triggers on `posts`
(migration 0006), so every write path (services, the CLI, the demo seeder) updates the
index in the writer's own transaction.

SQLite: the FTS5 table `posts_search` (external content: no copy of the text). Its posting
lists are in rowid (= id, so time) order: the newest matches come first at no extra cost.
PostgreSQL: the table `post_search` (post_id, 'simple' tsvector) with a GIN index. For a
rare word the planner reads the GIN index; for a common one it walks `post_search` backwards
by id until it has enough matches (it knows word frequencies from ANALYZE).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Integer, Row, Select, String, bindparam, column, select, table, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from agora.db.models import ID, Post
from agora.social.search.query import TextQuery

FTS = table("posts_search", column("rowid", ID), column("posts_search"))
DOCUMENTS = table("post_search", column("post_id", ID), column("document"))
PG_MATCH = text("post_search.document @@ websearch_to_tsquery('simple'::regconfig, :match)")


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
    sqlite = session.get_bind().dialect.name == "sqlite"
    bounds = {"author_id": author_id, "max_id": max_id, "min_id": min_id}
    shape = tuple(value is not None for value in bounds.values())
    statement = _statement(sqlite, with_text, shape)  # type: ignore[arg-type]
    params: dict[str, Any] = {k: v for k, v in bounds.items() if v is not None}
    params["match"] = query.fts5(any_term) if sqlite else query.websearch(any_term)
    params["limit"] = limit
    return list((await session.execute(statement, params)).all())


@cache
def _statement(sqlite: bool, with_text: bool, shape: tuple[bool, bool, bool]) -> Select[Any]:
    """The match statement for one backend and shape, built once (bound parameters: match,
    limit and the bounds in use)."""
    columns = (Post.id, Post.text, Post.spoiler_text) if with_text else (Post.id,)
    statement = select(*columns)
    if sqlite:
        statement = statement.join(FTS, FTS.c.rowid == Post.id).where(
            FTS.c.posts_search.match(bindparam("match", type_=String))
        )
        key = FTS.c.rowid
    else:
        statement = statement.join(DOCUMENTS, DOCUMENTS.c.post_id == Post.id).where(PG_MATCH)
        key = DOCUMENTS.c.post_id
    has_author, has_max, has_min = shape
    if has_author:
        statement = statement.where(Post.account_id == bindparam("author_id", type_=ID))
    if has_max:
        statement = statement.where(key < bindparam("max_id", type_=ID))
    if has_min:
        statement = statement.where(key > bindparam("min_id", type_=ID))
    return statement.order_by(key.desc()).limit(bindparam("limit", type_=Integer))


async def after_bulk_load(conn: AsyncConnection) -> None:
    """After a bulk load: SQLite merges the FTS5 index into one segment (faster queries);
    PostgreSQL indexes the posts loaded with triggers off (the demo seeder loads with
    `session_replication_role = replica`) and refreshes the word statistics."""
    if conn.dialect.name == "sqlite":
        await conn.execute(text("INSERT INTO posts_search(posts_search) VALUES ('optimize')"))
        return
    await conn.execute(
        text(
            "INSERT INTO post_search (post_id, document) SELECT p.id, "
            "to_tsvector('simple'::regconfig, p.text || ' ' || p.spoiler_text) FROM posts p "
            "WHERE p.reblog_of_id IS NULL AND p.deleted_at IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM post_search s WHERE s.post_id = p.id)"
        )
    )
    await conn.execute(text("ANALYZE post_search"))
