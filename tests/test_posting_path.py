"""What POST /api/v1/statuses costs (issue 19): the statements of the one transaction that
stores a post and its jobs and reads back its answer, hashtags linked in one statement, a
post's remote audience decided in one statement (or, when it is written, on facts read on
the way: the twins agree), and fan-out's feed rows written in as many statements per batch
whatever the number of recipients (their owners' stamps grown by 0042's trigger), on
PostgreSQL one execution of three arrays."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import column, event, select, table, text

from agora.db.models import Follow, Job, Post, utcnow
from agora.ids import new_id
from agora.jobs.job_kinds import JobKind
from agora.social.reading.fan_out import push_to_feeds
from agora.social.reading.remote_audience import has_remote_audience
from federation_peers import make_peer
from helpers import follow, post_status, post_status_id

SQLITE = os.environ.get("AGORA_TEST_DATABASE", "sqlite") != "postgresql"


@contextmanager
def statements(db: Any) -> Iterator[list[str]]:
    """The statements sent to the database inside the block (SQLite's BEGINs among them;
    asyncpg's are not seen as statements)."""
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def test_a_post_and_its_answer_are_one_transaction(db, client, make_person) -> None:
    """The post, its jobs and the Status it answers with, read back before the commit: one
    transaction (on SQLite one BEGIN IMMEDIATE, so the in-process worker's fan-out still
    does not run alongside the answer: docs/ARCHITECTURE.md, "The request path"), three
    writes, and one read of what posting must know of its author (default quote policy,
    remote followers, whether it is a bot) before them: the caller's account is not read."""
    alice = await make_person("alice")
    await post_status_id(client, alice, "warm-up")  # the token cache, the render cache
    begun: list[object] = []

    def begin(connection: object) -> None:
        begun.append(connection)

    event.listen(db.engine.sync_engine, "begin", begin)
    try:
        with statements(db) as sent:
            status = await post_status(client, alice, "hello world")
    finally:
        event.remove(db.engine.sync_engine, "begin", begin)
    assert status["content"] == "<p>hello world</p>"
    assert len(begun) == 1
    writes = [s for s in sent if s.startswith(("INSERT", "UPDATE", "DELETE"))]
    # the post, its author's count, the distribute_post job; nothing else
    assert [w.split()[0:3] for w in writes] == [
        ["INSERT", "INTO", "posts"],
        ["UPDATE", "accounts", "SET"],
        ["INSERT", "INTO", "jobs"],
    ]
    reads = [s for s in sent if s.startswith(("SELECT", "WITH"))]
    # the author's facts (the caller is the token's id: no read of its account); after the
    # writes the answer's two (refs, rendering)
    assert len(reads) == 3, reads
    assert "default_quote_policy" in reads[0] and sent.index(reads[0]) < sent.index(writes[0])
    assert sent.index(reads[1]) > sent.index(writes[-1])
    assert len(sent) == len(reads) + len(writes) + (1 if SQLITE else 0), sent


async def test_a_post_with_known_hashtags_links_them_in_one_statement(
    db, client, make_person
) -> None:
    """A hashtag seen before is linked by one INSERT ... SELECT (no INSERT of the tag, no
    read of its id); a new one is created first; and a hint that names a tag no longer
    there (the table emptied behind the process's back) still links the post."""
    alice = await make_person("alice")
    known, new = f"known{uuid4().hex[:8]}", f"new{uuid4().hex[:8]}"  # unseen by this process

    def tag_statements(sent: list[str]) -> list[str]:
        return [s.split()[2] for s in sent if s.startswith(("INSERT INTO tags", "SELECT tags.id"))]

    await post_status_id(client, alice, f"first #{known.upper()}")
    with statements(db) as sent:
        await post_status_id(client, alice, f"again #{known}")
    assert tag_statements(sent) == []
    assert len([s for s in sent if s.startswith("INSERT INTO post_tags")]) == 1
    with statements(db) as sent:
        await post_status_id(client, alice, f"a #{new} one and #{known}")
    assert tag_statements(sent) == ["tags"]
    async with db.session(write=True) as session:
        await session.execute(text("DELETE FROM post_tags"))
        await session.execute(text("DELETE FROM tags"))
        await session.commit()
    hinted = await post_status_id(client, alice, f"after the purge #{known} #{new}")
    r = await client.get(f"/api/v1/timelines/tag/{known}", headers=alice.headers)
    assert [s["id"] for s in r.json()] == [hinted]
    status = (await client.get(f"/api/v1/statuses/{hinted}", headers=alice.headers)).json()
    assert sorted(t["name"] for t in status["tags"]) == sorted([known, new])


async def test_a_refused_post_writes_nothing(db, client, make_person) -> None:
    alice = await make_person("alice")
    with statements(db) as sent:
        r = await client.post("/api/v1/statuses", data={"status": " "}, headers=alice.headers)
    assert r.status_code == 422
    assert not [s for s in sent if s.startswith(("INSERT", "UPDATE", "DELETE"))]


async def test_the_remote_audience_of_a_post_is_one_statement(db, client, make_person) -> None:
    """A remote follower, a remote account mentioned, a remote author replied to: each is
    an audience on its own; a direct post goes only to those it mentions."""
    alice, bob = await make_person("alice"), await make_person("bob")
    peer = await make_peer(db, "carol")
    own = await post_status_id(client, alice, "nobody far away")
    mentioning = await post_status_id(client, alice, "hi @carol@remote.example")
    direct = await post_status_id(client, bob, "psst", visibility="direct")
    async with db.session(write=True) as session:
        remote_post = Post(
            id=new_id(), account_id=peer.id, text="far", content_html="<p>far</p>",
            spoiler_text="", sensitive=False, visibility=0, created_at=utcnow(),
            replies_count=0, reblogs_count=0, favourites_count=0,
        )  # fmt: skip
        session.add(remote_post)
        await session.commit()
    reply = await post_status_id(
        client, alice, "a reply to a remote author", in_reply_to_id=str(remote_post.id)
    )

    async def audience(post_id: str) -> bool:
        """`has_remote_audience` in one statement, and the writer's twin agrees: a
        federate_post job was written with the post exactly when it says so."""
        async with db.session() as session:
            post = await session.get(Post, int(post_id))
            assert post is not None
            with statements(db) as sent:
                found = await has_remote_audience(session, post)
            assert len([s for s in sent if s.startswith("SELECT")]) == 1, sent
            jobs = await session.scalars(select(Job).where(Job.kind == JobKind.FEDERATE_POST))
            written = [j.payload for j in jobs if j.payload["post_id"] == post.id]
        assert written == ([{"post_id": post.id, "verb": "create"}] if found else [])
        return found

    assert [await audience(p) for p in (own, mentioning, reply)] == [False, True, True]
    async with db.session(write=True) as session:
        session.add(Follow(id=new_id(), account_id=peer.id, target_account_id=bob.id))
        await session.commit()
    assert await audience(direct) is False  # a remote follower does not get a direct post
    assert await audience(await post_status_id(client, bob, "public")) is True


async def test_feed_rows_are_stamped_in_one_statement_per_batch(db, client, make_person) -> None:
    """`push_to_feeds` sends the same number of statements for 3 recipients as for 60, and
    each recipient's view stamp grows once (migration 0042's trigger on `home_feed`); a
    re-run adds and stamps nothing (their feeds hold the post)."""
    author = await make_person("author")
    people = [await make_person(f"p{n}") for n in range(60)]
    for person in people:
        await follow(client, person, author)

    async def stamps(ids: list[int]) -> dict[int, int]:
        account_id = column("account_id")
        query = select(account_id, column("stamp")).select_from(table("view_stamps"))
        async with db.session() as session:
            rows = await session.execute(query.where(account_id.in_(ids)))
            return {int(a): int(s) for a, s in rows}

    async def push(post_id: str, recipients: list[int]) -> int:
        async with db.session(write=True) as session:
            post = await session.get(Post, int(post_id))
            assert post is not None
            with statements(db) as sent:
                await push_to_feeds(session, post, recipients)
            await session.commit()
        return len(sent)

    few = [p.id for p in people[:3]]
    every = [p.id for p in people]
    first = await post_status_id(client, author, "first")
    second = await post_status_id(client, author, "second")
    before = await stamps(every)
    assert await push(first, few) == await push(second, every)
    after = await stamps(every)
    assert all(after[a] == before.get(a, 0) + (2 if a in few else 1) for a in every)
    async with db.session() as session:
        entries = await session.execute(
            text("SELECT count(*) FROM home_feed WHERE post_id = :p").bindparams(p=int(second))
        )
        assert entries.scalar_one() == len(every)
    await push(second, every)  # idempotent: nothing added, counted, trimmed or stamped
    assert await stamps(every) == after


@pytest.mark.skipif(SQLITE, reason="PostgreSQL's statement triggers (SQLite's fire per row)")
async def test_a_batchs_feed_rows_are_one_execution_on_postgresql(db, client, make_person) -> None:
    """On PostgreSQL a batch's feed rows are one INSERT of three arrays, executed once: asyncpg
    runs a list of rows as one execution per row, and each fired `home_feed`'s statement
    triggers (the owners' view stamps, the page change notice) again. Every recipient's feed
    holds the post and its stamp grew by one, as `test_feed_rows_are_stamped_in_one_statement
    _per_batch` checks on both databases."""
    author = await make_person("author")
    people = [await make_person(f"p{n}") for n in range(5)]
    for person in people:
        await follow(client, person, author)
    post_id = int(await post_status_id(client, author, "to five feeds"))
    executions: list[tuple[str, bool]] = []

    def seen(_c: Any, _cur: Any, statement: str, _p: Any, _ctx: Any, many: bool) -> None:
        executions.append((statement, many))

    async with db.session(write=True) as session:
        post = await session.get(Post, post_id)
        assert post is not None
        event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
        try:
            await push_to_feeds(session, post, [p.id for p in people])
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
        await session.commit()
    inserts = [many for statement, many in executions if "INSERT INTO home_feed " in statement]
    assert inserts == [False], executions  # one statement, not one execution per row
    async with db.session() as session:
        held = await session.execute(
            text("SELECT count(*) FROM home_feed WHERE post_id = :p").bindparams(p=post_id)
        )
        assert held.scalar_one() == len(people)


@pytest.mark.skipif(SQLITE, reason="PostgreSQL's deferred triggers (SQLite serialises writers)")
async def test_a_public_posts_shared_stamp_is_taken_at_commit(db, make_person) -> None:
    """Two public posts whose ids share a `view_stamps` stripe (migration 0042: -1 - id % 16):
    the second is written and committed while the first's transaction is still open, without
    waiting for it (migration 0046: the stripe is bumped at commit, not at the insert); once
    both committed, the stripe grew by two and each author's stamp by one."""
    alice, bob = await make_person("alice"), await make_person("bob")
    first_id, second_id = new_id(), new_id()
    second_id += (first_id - second_id) % 16
    stripe = -1 - first_id % 16

    def public_post(post_id: int, account_id: int) -> Post:
        return Post(id=post_id, account_id=account_id, visibility=0, created_at=utcnow())

    async def stamps() -> tuple[int, int, int]:
        async with db.session() as session:
            row = await session.execute(
                text(
                    "SELECT (SELECT stamp FROM view_stamps WHERE account_id = :s), "
                    "(SELECT change_stamp FROM accounts WHERE id = :a), "
                    "(SELECT change_stamp FROM accounts WHERE id = :b)"
                ).bindparams(s=stripe, a=alice.id, b=bob.id)
            )
            found = row.one()
            return int(found[0] or 0), int(found[1]), int(found[2])

    before = await stamps()
    async with db.session(write=True) as first:
        first.add(public_post(first_id, alice.id))
        await first.flush()  # inserted, its transaction open
        async with db.session(write=True) as second:
            await second.execute(text("SET LOCAL lock_timeout = '1s'"))
            second.add(public_post(second_id, bob.id))
            await second.commit()  # before: waited for the first's stripe, lock timeout
        await first.commit()
    assert await stamps() == (before[0] + 2, before[1] + 1, before[2] + 1)
