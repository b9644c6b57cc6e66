"""`agora db copy`: a database seeded through the API (the session's: SQLite, or PostgreSQL in
that pass) copied into a fresh PostgreSQL database, which then serves the same timelines;
an interrupted copy resumes; a non-empty target, or one being filled from elsewhere, is
refused (the command, run as a process, resumes the interrupted copy)."""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select, text

from agora.db.database_copy import (
    CopyRefused,
    copy_database,
    deferrable,
    tables,
    verify,
)
from agora.db.database_copy import _pages as copy_pages
from agora.db.engine import Database
from agora.db.migrate import upgrade
from conftest import DATABASE_URL, PG_ADMIN_URL, _pg_admin
from helpers import boost, follow, post_status_id
from push_receiver import PushReceiver

TIMELINES = (
    "/api/v1/timelines/home",
    "/api/v1/timelines/public",
    "/api/v1/notifications",
    "/api/v2/filters",
    "/api/v1/push/subscription",
    "/api/v1/favourites",
)


@pytest.fixture
async def target_url() -> AsyncIterator[str]:
    """A new, empty PostgreSQL database, dropped after the test."""
    name = f"agora_copy_{os.getpid()}_{secrets.token_hex(3)}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    host = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    yield f"{host}/{name}"
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 90, 10)).save(out, "PNG")
    return out.getvalue()


async def _seed(client: Any, make_person: Any, run_jobs: Any, monkeypatch: Any) -> list[Any]:
    """Two people who follow each other, posts, a reply, a boost, a like, a photo, a poll and
    a vote, a filter, a push subscription; every job run."""
    alice, bob = await make_person("alice"), await make_person("bob")
    await follow(client, alice, bob)
    await follow(client, bob, alice)
    first = await post_status_id(client, bob, "hello from bob #copying")
    await post_status_id(client, alice, "@bob welcome", in_reply_to_id=first)
    await boost(client, alice, first)
    liked = await client.post(f"/api/v1/statuses/{first}/favourite", headers=alice.headers)
    assert liked.status_code == 200
    media = await client.post(
        "/api/v2/media", headers=bob.headers, files={"file": ("a.png", _png(), "image/png")}
    )
    assert media.status_code in (200, 202), media.text
    await post_status_id(client, bob, "a photo", **{"media_ids[]": media.json()["id"]})
    poll = {"options": ["tea", "coffee"], "expires_in": 3600}
    poll_post = await client.post(
        "/api/v1/statuses", headers=bob.headers, json={"status": "which?", "poll": poll}
    )
    assert poll_post.status_code == 200
    poll_id = poll_post.json()["poll"]["id"]
    voted = await client.post(
        f"/api/v1/polls/{poll_id}/votes", headers=alice.headers, json={"choices": [1]}
    )
    assert voted.status_code == 200, voted.text
    made = await client.post(
        "/api/v2/filters",
        headers=alice.headers,
        json={"title": "Food", "context": ["home"], "keywords_attributes": [{"keyword": "soup"}]},
    )
    assert made.status_code == 200
    monkeypatch.setenv("AGORA_FEDERATION_ALLOW_PRIVATE_ADDRESSES", "true")
    from agora.config import get_settings

    get_settings.cache_clear()
    receiver = PushReceiver().start()
    try:
        subscribed = await client.post(
            "/api/v1/push/subscription", headers=alice.headers, data=receiver.form()
        )
        assert subscribed.status_code == 200, subscribed.text
        await run_jobs()
    finally:
        receiver.stop()
    return [alice, bob]


async def _pages(client: httpx.AsyncClient, people: list[Any]) -> dict[str, Any]:
    pages = {}
    for person in people:
        for path in TIMELINES:
            response = await client.get(path, headers=person.headers)
            assert response.status_code in (200, 404), (path, response.text)
            pages[f"{person.username} {path}"] = (response.status_code, response.json())
    return pages


async def _served_by(url: str, people: list[Any]) -> dict[str, Any]:
    from agora.app import create_app

    application = create_app(migrate=False)
    database = Database(url)
    application.state.db = database
    try:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await _pages(c, people)
    finally:
        await database.dispose()


async def test_copy_serves_the_same_timelines_and_verifies_every_table(
    client: Any, make_person: Any, run_jobs: Any, monkeypatch: Any, target_url: str
) -> None:
    people = await _seed(client, make_person, run_jobs, monkeypatch)
    before = await _pages(client, people)
    assert len(before["alice /api/v1/timelines/home"][1]) >= 4
    assert before["alice /api/v1/push/subscription"][0] == 200
    schema = await _schema(target_url)
    assert any(kind == "foreign key" for kind, *_ in schema)
    assert any(kind == "index" for kind, *_ in schema)
    result = await copy_database(DATABASE_URL, target_url, batch=3)
    assert not result.resumed and result.ok
    assert await _schema(target_url) == schema  # indexes and foreign keys made again
    assert {check.table for check in result.checks} == {t.name for t in tables()}
    counts = {check.table: check.target_rows for check in result.checks}
    for table in ("posts", "follows", "media_attachments", "polls", "poll_votes", "filters"):
        assert counts[table] > 0, table
    assert counts["push_subscriptions"] == 1
    assert await _served_by(target_url, people) == before
    target = Database(target_url)
    try:
        async with target.engine.connect() as conn:
            for name in ("agora_db_copy", "agora_db_copy_deferred"):
                marker = await conn.execute(text("SELECT to_regclass(:name)"), {"name": name})
                assert marker.scalar_one() is None  # verified: the marker is gone
            analyzed = await conn.execute(
                text("SELECT count(*) FROM pg_stats WHERE tablename = 'posts'")
            )
            assert analyzed.scalar_one() > 0  # the planner has statistics to plan with
            vacuumed = await conn.execute(
                text(
                    "SELECT relallvisible > 0, last_vacuum IS NOT NULL FROM pg_class"
                    " JOIN pg_stat_user_tables USING (relname) WHERE relname = 'posts'"
                )
            )
            assert vacuumed.one() == (True, True)  # index-only scans need no table pages
            found = await conn.execute(
                text("SELECT count(*) FROM post_search WHERE document @@ 'copying'")
            )
            assert found.scalar_one() == 1  # the search index was built as posts arrived
            # the id_nodes sequence continues after the copied claims
            claimed = await conn.execute(text("SELECT max(id) FROM id_nodes"))
            highest = claimed.scalar_one() or 0
            await conn.execute(text("INSERT INTO id_nodes (claimed_at) VALUES (now())"))
            new = await conn.execute(text("SELECT max(id) FROM id_nodes"))
            assert new.scalar_one() == highest + 1
    finally:
        await target.dispose()
    with pytest.raises(CopyRefused, match="not empty"):  # a second copy: target has rows
        await copy_database(DATABASE_URL, target_url)
    await _a_changed_value_fails_verification(target_url)


async def _a_changed_value_fails_verification(target_url: str) -> None:
    """A datetime moved by a microsecond, a boolean, a text or a JSON value changed in one
    row of the target (its triggers off, as during the copy): that table (only) fails
    verification; put back, it passes."""
    changes = [  # (table, the change, its undoing; :old is the changed column's text before)
        ("posts", "created_at = created_at + interval '1 microsecond'", "created_at = :old"),
        ("posts", "sensitive = NOT sensitive", "sensitive = NOT sensitive"),
        ("posts", "spoiler_text = spoiler_text || 'x'", "spoiler_text = :old"),
        ("filters", """contexts = CAST('["changed"]' AS json)""", "contexts = CAST(:old AS json)"),
    ]
    source = Database(DATABASE_URL)
    target = Database(target_url)
    try:
        for table, change, undo in changes:
            column = change.split(" = ")[0]
            async with target.engine.begin() as conn:
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
                first = await conn.execute(
                    text(f"SELECT id, {column}::text FROM {table} ORDER BY id LIMIT 1")
                )
                key, old = first.one()
                await conn.execute(text(f"UPDATE {table} SET {change} WHERE id = :id"), {"id": key})
            checks = {check.table: check for check in await verify(source.engine, target.engine)}
            assert not checks[table].ok, change
            assert checks[table].source_rows == checks[table].target_rows
            assert all(check.ok for name, check in checks.items() if name != table), change
            async with target.engine.begin() as conn:
                await conn.execute(text("SET LOCAL session_replication_role = replica"))
                params = {"id": key, "old": old} if ":old" in undo else {"id": key}
                if column == "created_at":
                    params["old"] = datetime.fromisoformat(old)
                await conn.execute(text(f"UPDATE {table} SET {undo} WHERE id = :id"), params)
            again = {check.table: check for check in await verify(source.engine, target.engine)}
            assert again[table].ok, undo
    finally:
        await source.dispose()
        await target.dispose()


async def test_pages_hold_the_values_sqlalchemy_rows_would(
    client: Any, make_person: Any, run_jobs: Any, monkeypatch: Any
) -> None:
    """The copy reads the driver's rows and converts them itself: for every table, the same
    values (aware datetimes, booleans, JSON) as SQLAlchemy's rows, in key order, in pages."""
    await _seed(client, make_person, run_jobs, monkeypatch)
    database = Database(DATABASE_URL)
    try:
        for table in tables():
            paged: list[tuple[Any, ...]] = []
            async with contextlib.aclosing(copy_pages(database.engine, table, None, 2)) as pages:
                async for page in pages:
                    assert 0 < len(page) <= 2
                    paged.extend(page)
            async with database.engine.connect() as conn:
                found = await conn.execute(select(*table.columns))
                expected = [tuple(row) for row in found.all()]
            assert sorted(map(repr, paged)) == sorted(map(repr, expected)), table.name
            assert all(type(row) is tuple for row in paged)
            if table.name in ("posts", "polls", "accounts"):
                assert paged, table.name
    finally:
        await database.dispose()


async def test_an_interrupted_copy_resumes_and_another_source_is_refused(
    client: Any,
    make_person: Any,
    run_jobs: Any,
    monkeypatch: Any,
    target_url: str,
    tmp_path: Path,
) -> None:
    people = await _seed(client, make_person, run_jobs, monkeypatch)
    schema = await _schema(target_url)
    stopped = await copy_database(DATABASE_URL, target_url, batch=1, stop_after_batches=1)
    assert stopped.rows_copied == 1 and not stopped.checks
    assert await _schema(target_url) == []  # deferred while the rows are written
    elsewhere = f"sqlite+aiosqlite:///{tmp_path / 'another-agora.db'}"
    with pytest.raises(CopyRefused, match="another copy"):
        await copy_database(elsewhere, target_url)
    # the command, as a person runs it again after the interruption
    env = {**os.environ, "AGORA_DATABASE_URL": DATABASE_URL, "COLUMNS": "200"}
    command = [sys.executable, "-m", "agora.cli.main", "db", "copy", "--to", target_url]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resumed an interrupted copy" in done.stdout
    assert "copied, verified and analyzed" in done.stdout
    total = await _total_rows(DATABASE_URL)
    assert f"({total - 1} rows now)" in done.stdout  # nothing twice
    assert await _served_by(target_url, people) == await _pages(client, people)
    assert await _schema(target_url) == schema  # made again from the saved definitions
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "not empty" in again.stdout


async def _schema(url: str) -> list[tuple[str, str, str, str]]:
    """The secondary indexes and foreign keys of the database at `url` (migrated first, as
    the copy migrates its target)."""
    database = Database(url)
    try:
        await upgrade(database.engine)
        async with database.engine.connect() as conn:
            return await deferrable(conn)
    finally:
        await database.dispose()


async def _total_rows(url: str) -> int:
    from sqlalchemy import func, select

    database = Database(url)
    total = 0
    try:
        async with database.engine.connect() as conn:
            for table in tables():
                counted = await conn.execute(select(func.count()).select_from(table))
                total += int(counted.scalar_one())
    finally:
        await database.dispose()
    return total
