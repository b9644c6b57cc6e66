"""A kept page proved current once is answered again with no statement while the database
says nothing changed (`Database.change_token`): on PostgreSQL the page change notices
(db/change_notices.py, migration 0044), on SQLite `PRAGMA data_version`. A change committed
by another connection (another process, as the database sees it) ends that; on PostgreSQL
every table the stamps statement reads notifies, and a lost listener, a late heartbeat or a
disabled trigger send every page back to its statement."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from agora.api.page_cache import _STATEMENTS, get_page_cache
from agora.api.status_cache import get_render_cache
from agora.db import change_notices, row_reader
from agora.db.change_notices import CHANNEL, LATE_SECONDS, NOTICE_TABLES
from helpers import follow, post_status_id

postgresql_only = pytest.mark.skipif(
    os.environ.get("AGORA_TEST_DATABASE", "sqlite") != "postgresql",
    reason="LISTEN / NOTIFY are PostgreSQL's",
)

HOME = "/api/v1/timelines/home?limit=40"


@pytest.fixture
async def notices(db: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """PostgreSQL's notices, live (None on SQLite, whose data version needs no listener)."""
    get_page_cache().clear()
    get_render_cache().clear()
    monkeypatch.setattr(change_notices, "RETRY_SECONDS", 0.05)
    listening = db.listen_for_changes()
    if listening is None:
        yield None
        return
    assert await listening.wait_live()
    yield listening
    await listening.stop()
    db.notices = None


def _counting(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements the row reader runs from now on."""
    statements: list[str] = []
    served_by = app.state.db
    first_row = served_by.first_row

    async def counted(sql: str, params: dict[str, Any]) -> Any:
        statements.append(sql)
        return await first_row(sql, params)

    monkeypatch.setattr(served_by, "first_row", counted)
    return statements


async def _home_of_bob(client: Any, make_person: Any, run_jobs: Any) -> tuple[Any, Any, bytes]:
    alice, bob = await make_person("alice"), await make_person("bob")
    await follow(client, bob, alice)
    await post_status_id(client, alice, "first")
    await run_jobs()
    routed = await client.get(HOME, headers=bob.headers)
    assert routed.status_code == 200
    return alice, bob, routed.content


async def _another_process(db: Any, sql: str) -> None:
    """`sql` committed on a connection of its own, as another process would."""
    url = make_url(db.url)
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(str(url.database), isolation_level=None) as connection:
            connection.execute(sql)
        return
    connection = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _checked_by_statement(
    app: Any, client: Any, bob: Any, routed: bytes, notices: Any, monkeypatch: Any
) -> None:
    """Once the notices stop being live (within 3 s), bob's kept page is answered again
    after its statement, the same bytes."""
    for _ in range(300):
        if not notices.live:
            break
        await asyncio.sleep(0.01)
    assert not notices.live
    statements = _counting(app, monkeypatch)
    assert (await client.get(HOME, headers=bob.headers)).content == routed
    assert len(statements) == 1


async def _epoch_past(notices: Any, epoch: int) -> None:
    for _ in range(200):
        if notices.epoch > epoch:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no notice heard within 2 s")


@postgresql_only
async def test_every_table_the_stamps_statement_reads_notifies(db):
    """The notice triggers sit on exactly the tables the stamps statements read."""
    read: set[str] = set()
    for (sqlite, _), statement in _STATEMENTS.items():
        if not sqlite:
            read |= set(re.findall(r"FROM\s+([a-z_]+)", statement.text))
    async with db.session() as session:
        rows = await session.execute(
            text(
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname LIKE '%notice_page_stamp'"
            )
        )
        notifying = {row[0] for row in rows}
    assert read == notifying == set(NOTICE_TABLES)


async def test_a_proved_page_is_answered_with_no_statement(
    app, client, make_person, run_jobs, notices, monkeypatch
):
    _, bob, routed = await _home_of_bob(client, make_person, run_jobs)
    statements = _counting(app, monkeypatch)
    first = await client.get(HOME, headers=bob.headers)  # its statement proves it
    assert first.content == routed and len(statements) == 1
    for _ in range(3):
        again = await client.get(HOME, headers=bob.headers)
        assert again.content == routed
    assert len(statements) == 1, "a proved page ran its statement again"


async def test_a_change_committed_elsewhere_ends_the_answer_from_memory(
    app, db, client, make_person, run_jobs, notices, monkeypatch
):
    alice, bob, _ = await _home_of_bob(client, make_person, run_jobs)
    await client.get(HOME, headers=bob.headers)  # proved
    epoch = notices.epoch if notices is not None else 0
    await _another_process(
        db, f"UPDATE posts SET favourites_count = 7 WHERE account_id = {alice.id}"
    )
    if notices is not None:
        await _epoch_past(notices, epoch)
    else:  # SQLite's data version is asked again at the latest this long after
        await asyncio.sleep(row_reader.DATA_VERSION_SECONDS * 2)
    statements = _counting(app, monkeypatch)
    after = (await client.get(HOME, headers=bob.headers)).json()
    assert after[0]["favourites_count"] == 7
    assert len(statements) >= 1  # checked, found stale, rebuilt


@postgresql_only
async def test_a_write_of_this_process_is_seen_by_its_next_request(
    app, client, make_person, run_jobs, notices
):
    """No notice needs to arrive first: the commit of a session that wrote grows the epoch
    (here the listener hears nothing: its notices are still on their way)."""
    _, bob, _ = await _home_of_bob(client, make_person, run_jobs)
    await client.get(HOME, headers=bob.headers)  # proved
    post_id = (await client.get(HOME, headers=bob.headers)).json()[0]["id"]
    await notices._connection.remove_listener(CHANNEL, notices._heard)
    try:
        epoch = notices.epoch
        liked = await client.post(f"/api/v1/statuses/{post_id}/favourite", headers=bob.headers)
        assert liked.status_code == 200
        assert notices.epoch > epoch and notices.live
        page = (await client.get(HOME, headers=bob.headers)).json()
    finally:
        await notices._connection.add_listener(CHANNEL, notices._heard)
    assert page[0]["favourited"] is True and page[0]["favourites_count"] == 1


@postgresql_only
async def test_a_lost_listener_sends_pages_back_to_their_statement(
    app, db, client, make_person, run_jobs, notices, monkeypatch
):
    _, bob, routed = await _home_of_bob(client, make_person, run_jobs)
    await client.get(HOME, headers=bob.headers)  # proved
    epoch = notices.epoch
    listener = notices._connection.get_server_pid()
    await _another_process(db, f"SELECT pg_terminate_backend({listener})")
    await _checked_by_statement(app, client, bob, routed, notices, monkeypatch)
    assert await notices.wait_live()  # listening again, and all it missed is forgotten
    assert notices.epoch > epoch


@postgresql_only
async def test_a_late_heartbeat_ends_the_trust(
    app, client, make_person, run_jobs, notices, monkeypatch
):
    _, bob, routed = await _home_of_bob(client, make_person, run_jobs)
    await client.get(HOME, headers=bob.headers)  # proved
    monkeypatch.setattr(notices, "_heard_at", notices._heard_at - LATE_SECONDS - 1)
    assert not notices.live
    await _checked_by_statement(app, client, bob, routed, notices, monkeypatch)


@postgresql_only
async def test_a_disabled_trigger_ends_the_trust(
    app, db, client, make_person, run_jobs, notices, monkeypatch
):
    """A change to a table whose notice trigger is off would be heard by no one: the next
    heartbeat finds it and pages go back to their statement until it is on again."""
    monkeypatch.setattr(change_notices, "HEARTBEAT_SECONDS", 0.05)
    _, bob, routed = await _home_of_bob(client, make_person, run_jobs)
    await client.get(HOME, headers=bob.headers)  # proved
    switch = "ALTER TABLE follows {} TRIGGER follows_notice_page_stamp"
    async with db.transaction() as session:
        await session.execute(text(switch.format("DISABLE")))
    try:
        await _checked_by_statement(app, client, bob, routed, notices, monkeypatch)
    finally:
        async with db.transaction() as session:
            await session.execute(text(switch.format("ENABLE")))
    assert await notices.wait_live()
