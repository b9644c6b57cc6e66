"""The sessions requests read in (http/deps.py `get_session`, db/engine.py `Database.session`):
on PostgreSQL reached directly, a lag-tolerant read (a route marked `replica_reads`) answered
by the primary opens no transaction (no BEGIN, no ROLLBACK: two round trips of a page's four or
five), answers what it answered in one, and sees a write committed a moment before; other
reads and every write keep their transaction. PostgreSQL only (SQLite's BEGIN costs no round
trip: db/sqlite_one_trip.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

from conftest import BACKEND
from helpers import post_status_id

pytestmark = pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL's transactions")


@contextmanager
def begun(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Each transaction the asyncpg driver starts inside the block (True: a BEGIN was sent)."""
    started: list[bool] = []
    real = AsyncAdapt_asyncpg_connection._start_transaction

    async def start(connection: Any) -> None:
        started.append(connection.isolation_level != "autocommit")
        await real(connection)

    with monkeypatch.context() as patched:
        patched.setattr(AsyncAdapt_asyncpg_connection, "_start_transaction", start)
        yield started


async def test_a_lag_tolerant_read_on_the_primary_opens_no_transaction(
    client, make_person, run_jobs, monkeypatch
) -> None:
    alice, bob = await make_person("alice"), await make_person("bob")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    await post_status_id(client, alice, "first")
    await run_jobs()
    await client.get("/api/v1/timelines/home", headers=bob.headers)  # the token, cached
    second = await post_status_id(client, alice, "second")
    await run_jobs()
    with begun(monkeypatch) as started:
        home = await client.get("/api/v1/timelines/home?limit=40", headers=bob.headers)
    assert home.status_code == 200
    assert [s["content"] for s in home.json()][:2] == ["<p>second</p>", "<p>first</p>"]
    assert home.json()[0]["id"] == second
    assert started and not any(started)  # statements ran, and no BEGIN

    with begun(monkeypatch) as started:  # a read not marked: its transaction, as before
        me = await client.get("/api/v1/accounts/verify_credentials", headers=bob.headers)
    assert me.status_code == 200 and any(started)
    with begun(monkeypatch) as started:  # a write: its transaction
        await post_status_id(client, bob, "a write")
    assert any(started)
