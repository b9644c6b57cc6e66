"""Two statement helpers of the hot paths, on both databases: `db/one_of.py` (a list
parameter, an array on PostgreSQL) selects what SQLAlchemy's expanding IN selects, and
`db/core_insert.py` leaves a post as an ORM flush leaves it."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.orm import object_session

from agora.db.core_insert import insert_loaded
from agora.db.models import Post, Tag, utcnow
from agora.db.one_of import one_of
from agora.ids import new_id

POSTGRESQL = os.environ.get("AGORA_TEST_DATABASE", "sqlite") == "postgresql"

LISTS = [[], ["a"], ["a", "c"], ["c", "a", "zz"], ["nothing"], ["a", "a"]]


async def test_one_of_selects_what_an_expanding_in_selects(db) -> None:
    async with db.session(write=True) as session:
        session.add_all([Tag(name=n) for n in ("a", "b", "c")])
        await session.commit()
    by_list = select(Tag.name).where(one_of(Tag.name, "names")).order_by(Tag.name)
    expanding = (
        select(Tag.name).where(Tag.name.in_(bindparam("names", expanding=True))).order_by(Tag.name)
    )
    async with db.session() as session:
        for names in LISTS:
            found = list(await session.scalars(by_list, {"names": names}))
            assert found == list(await session.scalars(expanding, {"names": names})), names
            assert found == sorted(set(names) & {"a", "b", "c"}), names


async def test_one_of_is_one_array_parameter_on_postgresql_and_expands_on_sqlite(db) -> None:
    """On PostgreSQL the list is one array parameter: the same SQL text for every length
    (one prepared statement); SQLite's IN is expanded per execution."""
    statement = select(Tag.id).where(one_of(Tag.name, "names"))
    compiled = str(statement.compile(db.engine.sync_engine))
    if POSTGRESQL:
        assert "= ANY (" in compiled and "POSTCOMPILE" not in compiled
    else:
        assert compiled.endswith("IN (__[POSTCOMPILE_names])")  # not `(…) = 1`: see below


async def test_one_of_is_a_comparison_an_index_serves(db) -> None:
    """Written as a comparison, not as a boolean value compared with 1 (SQLAlchemy's form
    on SQLite, which no index serves): the posts are found through the primary key."""
    statement = select(Post.id).where(one_of(Post.id, "ids"), Post.deleted_at.is_(None))
    async with db.session() as session:
        connection = await session.connection()
        if POSTGRESQL:
            await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            compiled = statement.compile(connection.sync_connection)
            plan = await connection.exec_driver_sql(
                "EXPLAIN " + str(compiled).replace("$1::BIGINT[]", "ARRAY[1, 2]::BIGINT[]")
            )
            assert "posts_pkey" in " ".join(row[0] for row in plan)
        else:
            sql = str(statement.compile(connection.sync_connection))
            sql = sql.replace("(__[POSTCOMPILE_ids])", "(1, 2)")
            plan = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)
            details = " ".join(str(row[-1]) for row in plan)
            assert "SEARCH posts USING INTEGER PRIMARY KEY" in details, details


def _post(author_id: int, post_id: int | None = None) -> Post:
    return Post(id=post_id or new_id(), account_id=author_id, text="hi", created_at=utcnow())


async def test_insert_loaded_leaves_a_post_as_a_flush_does(db, make_person) -> None:
    alice = await make_person("alice")
    columns = [c.key for c in Post.__table__.columns]
    async with db.session(write=True) as session:
        flushed = _post(alice.id)
        session.add(flushed)
        await session.flush()
        inserted = _post(alice.id)
        await insert_loaded(session, inserted)
        assert object_session(inserted) is session.sync_session
        assert await session.get(Post, inserted.id) is inserted  # in the identity map
        for key in columns:  # every column loaded: nothing to load lazily (impossible here)
            assert key in inserted.__dict__, key
        await session.commit()
    async with db.session() as session:
        found = select(Post).where(Post.id.in_([flushed.id, inserted.id]))
        rows = {p.id: p for p in await session.scalars(found)}
    for key in columns:
        if key not in ("id", "created_at"):
            assert getattr(rows[inserted.id], key) == getattr(rows[flushed.id], key), key


async def test_a_post_inserted_loaded_flushes_a_later_change_as_an_update(db, make_person) -> None:
    alice = await make_person("alice")
    async with db.session(write=True) as session:
        post = _post(alice.id)
        await insert_loaded(session, post)
        post.text = "changed"
        await session.commit()
    async with db.session() as session:
        assert (await session.get(Post, post.id)).text == "changed"  # type: ignore[union-attr]


async def test_insert_loaded_counts_as_a_write_and_rolls_back(db, make_person) -> None:
    from agora.db.session_writes import has_written

    alice = await make_person("alice")
    post_id = new_id()
    async with db.session(write=True) as session:
        await insert_loaded(session, _post(alice.id, post_id))
        assert has_written(session)
        await session.rollback()  # the object is expired then, as any persistent one
        assert not has_written(session)
    async with db.session() as session:
        assert await session.get(Post, post_id) is None


async def test_insert_loaded_refuses_a_duplicate_key(db, make_person) -> None:
    from sqlalchemy.exc import IntegrityError

    alice = await make_person("alice")
    post = _post(alice.id)
    async with db.session(write=True) as session:
        await insert_loaded(session, post)
        await session.commit()
    async with db.session(write=True) as session:
        with pytest.raises(IntegrityError):
            await insert_loaded(session, _post(alice.id, post.id))
