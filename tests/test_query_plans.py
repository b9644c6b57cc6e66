"""The planners and the boosts index (SQLite's, and PostgreSQL's for a page's `reblogged` flag).

Most posts are not boosts, so `reblog_of_id IS NULL` matches nearly every row; but SQLite's
planner (with or without ANALYZE's averages) takes an index equality on `reblog_of_id` for a
selective one. With a full index on `reblog_of_id` it walked every original post of the
server for a sparse profile with `exclude_reblogs` (177 ms on 300,000 posts for an account
with one post, 7-11 ms now) and for a thread's context (130 ms for a thread of six posts,
5 ms now), instead of the account's or the thread's index. The boosts index is partial
(`WHERE reblog_of_id IS NOT NULL`): it still serves "the boosts of this post", and can no
longer be picked for "not a boost".

On PostgreSQL a page's `reblogged` flag is read from the partial index, not from every post the
viewer wrote (the last test).

The plans are read with EXPLAIN (QUERY PLAN on SQLite) on the statements the API really sends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import event, text

from helpers import boost, post_status_id

BACKEND = os.environ.get("AGORA_TEST_DATABASE", "sqlite")
BOOSTS_INDEX = "ix_posts_boosts"
sqlite_only = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's planner")


@contextmanager
def _statements(db: Any) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (and their parameters) sent while the block runs."""
    sent: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        sent.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def _plans(db: Any, sent: list[tuple[str, Any]], marker: str) -> list[str]:
    """SQLite's plan (its lines joined) of each sent SELECT on posts containing `marker`."""
    plans = []
    async with db.engine.connect() as conn:
        for statement, parameters in sent:
            flat = " ".join(statement.split())
            if flat.startswith("SELECT") and "FROM posts" in flat and marker in flat:
                rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                plans.append("\n".join(row[3] for row in rows))
    return plans


@pytest.fixture
async def posts_and_boosts(db, client, make_person) -> dict[str, str]:  # type: ignore[no-untyped-def]
    alice = await make_person("alice")
    bob = await make_person("bob")
    root = await post_status_id(client, alice, "a thread")
    await post_status_id(client, alice, "its reply", in_reply_to_id=root)
    await post_status_id(client, bob, "bob's own")
    await boost(client, bob, root)
    if db.is_sqlite:  # no statistics left by an earlier test (the demo's ANALYZE)
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))
        await db.engine.dispose()  # pooled connections keep the statistics they loaded
    return {"alice": str(alice.id), "bob": str(bob.id), "root": root}


@sqlite_only
@pytest.mark.parametrize(
    ("route", "walks"),
    [
        # a profile without its boosts: the account's posts, newest first
        ("/api/v1/accounts/{bob}/statuses?exclude_reblogs=true", "ix_posts_account_id"),
        # a thread: the posts of its root
        ("/api/v1/statuses/{root}/context", "ix_posts_thread_root_id"),
        # the public timeline: public posts, newest first
        ("/api/v1/timelines/public", "ix_posts_local_public"),
    ],
)
async def test_queries_for_original_posts_do_not_walk_the_boosts_index(
    db, client, posts_and_boosts, route: str, walks: str
) -> None:
    with _statements(db) as sent:
        response = await client.get(route.format(**posts_and_boosts))
    assert response.status_code == 200, response.text
    assert response.json(), "the route returned nothing: its query was not exercised"

    plans = await _plans(db, sent, "reblog_of_id IS NULL")
    assert plans, "no query asked for posts that are not boosts"
    for plan in plans:
        assert BOOSTS_INDEX not in plan and "reblog_of_id" not in plan, plan
        assert walks in plan, plan


@sqlite_only
async def test_the_boosts_of_a_post_are_found_through_the_boosts_index(
    db, client, posts_and_boosts
) -> None:
    with _statements(db) as sent:
        response = await client.get(f"/api/v1/statuses/{posts_and_boosts['root']}/reblogged_by")
    assert [a["id"] for a in response.json()] == [posts_and_boosts["bob"]]

    plans = await _plans(db, sent, "reblog_of_id = ")
    assert plans, "no query looked boosts up"
    assert all(f"USING INDEX {BOOSTS_INDEX} (reblog_of_id=?)" in plan for plan in plans), plans


async def test_the_boosts_index_holds_boosts_only(db) -> None:
    """On both backends: the index is partial, and the full index it replaced is gone."""
    async with db.engine.connect() as conn:
        if db.is_sqlite:
            query = "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'posts'"
        else:
            query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'posts'"
        indexes = dict((await conn.execute(text(query))).all())
    assert "ix_posts_reblog_of_id" not in indexes
    assert "WHERE" in indexes[BOOSTS_INDEX]
    assert "reblog_of_id IS NOT NULL" in indexes[BOOSTS_INDEX]


postgresql_only = pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL's planner")


@postgresql_only
async def test_a_pages_reblogged_flag_reads_the_viewers_boosts_not_all_their_posts(
    db, client, make_person, run_jobs
) -> None:
    """`reblogged` on each post of a page (hydrate._flag_columns) is one subquery on the
    viewer's rows of `posts`. PostgreSQL runs it once per page as a hashed set when that is
    cheaper: without `reblog_of_id IS NOT NULL` in it, the set was every post the viewer ever
    wrote, read row by row from the table through the account's index (232 pages of the
    table for an average person of the 10k / 1M data set, 3,817 for the most active), where
    the partial boosts index holds just their boosts. Sequential scans are off for the
    EXPLAIN: on a test's few rows they win over any index."""
    reader = await make_person("reader")
    author = await make_person("author")
    follow = await client.post(f"/api/v1/accounts/{author.id}/follow", headers=reader.headers)
    assert follow.status_code == 200, follow.text
    for n in range(20):
        await post_status_id(client, reader, f"the reader's own post {n}")
    shown = await post_status_id(client, author, "the author's post")
    await boost(client, reader, shown)
    await run_jobs()  # the fan-out

    with _statements(db) as sent:
        response = await client.get("/api/v1/timelines/home", headers=reader.headers)
    assert response.status_code == 200, response.text
    shown_as = [s["reblog"] or s for s in response.json()]  # the boost, or the post itself
    assert [s["reblogged"] for s in shown_as if s["id"] == shown] == [True], shown_as

    refs = [(s, p) for s, p in sent if " ".join(s.split()).startswith("WITH page AS")]
    assert refs, "the page's refs were not read"
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in refs:
            rows = await conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            lines = [row[0] for row in rows]
            viewers_posts = [  # a scan of posts through the account's index, for the reader
                line
                for line, condition in pairwise(lines)
                if "ix_posts_account_id" in line and f"account_id = '{reader.id}'" in condition
            ]
            assert viewers_posts == [], "\n".join(lines)


def _sql_literal(value: Any) -> str:
    """A statement's parameter as an SQL literal (ids, id arrays, strings), for EXECUTE."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return "ARRAY[" + ",".join(str(int(v)) for v in value) + "]::bigint[]"
    return "'" + str(value).replace("'", "''") + "'"


@postgresql_only
async def test_a_pages_marks_probe_each_post_not_every_favourite_of_the_viewer(
    db, client, make_person, run_jobs
) -> None:
    """`favourited` and `bookmarked` look one index entry up per post of the page,
    in the plan PostgreSQL keeps for every viewer (`force_generic_plan`, as the server's
    connections are set): never the viewer's whole history as a hashed set (a person with
    50,000 favourites: 13.3 ms a page against 0.5). The plan is the generic one of the
    statement prepared as the server prepares it."""
    reader = await make_person("reader")
    author = await make_person("author")
    follow = await client.post(f"/api/v1/accounts/{author.id}/follow", headers=reader.headers)
    assert follow.status_code == 200, follow.text
    for n in range(12):
        post = await post_status_id(client, author, f"the author's post {n}")
        liked = await client.post(f"/api/v1/statuses/{post}/favourite", headers=reader.headers)
        assert liked.status_code == 200, liked.text
    await run_jobs()  # the fan-out

    with _statements(db) as sent:
        response = await client.get("/api/v1/timelines/home", headers=reader.headers)
    assert response.status_code == 200, response.text
    assert [s["favourited"] for s in response.json()] == [True] * 12

    refs = [(s, p) for s, p in sent if " ".join(s.split()).startswith("WITH page AS")]
    assert refs, "the page's refs were not read"
    async with db.engine.connect() as conn:
        await conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        for statement, parameters in refs:
            await conn.exec_driver_sql(f"PREPARE page_refs AS {statement}")
            arguments = ", ".join(_sql_literal(value) for value in parameters)
            rows = await conn.exec_driver_sql(f"EXPLAIN EXECUTE page_refs({arguments})")
            lines = [row[0] for row in rows]
            await conn.exec_driver_sql("DEALLOCATE page_refs")
            marks = [  # each scan of the marks' tables, with the condition under it
                (line, condition)
                for line, condition in pairwise(lines)
                if any(f" on {table}" in line for table in ("favourites", "bookmarks"))
            ]
            assert len(marks) == 2, "\n".join(lines)
            for scan, condition in marks:
                assert "post_id = posts.id" in condition, f"{scan}\n" + "\n".join(lines)
