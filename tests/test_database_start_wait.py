"""db/start_wait.py: a start waits for a database that refuses connections (a real port where
nothing listens, then a real PostgreSQL server), but not longer than its patience, and not at
all for an error a database coming back would not cure. The whole `agora serve` meeting a
PgBouncer restart: tests/test_database_replica.py."""

from __future__ import annotations

import time
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from agora.db import engine, start_wait
from agora.db.engine import Database
from agora.db.start_wait import is_passing, once_reachable
from live_server import free_port


@pytest.fixture(autouse=True)
def refused_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each connection's own wait through a restart (db/engine.py, `CONNECT_WAIT_SECONDS`)
    is off here: these tests time the start's tries, each refused at once."""
    monkeypatch.setattr(engine, "CONNECT_WAIT_SECONDS", 0.0)


async def _count(db: Database, tries: list[float]) -> Any:
    tries.append(time.monotonic())
    async with db.engine.connect() as connection:
        return await connection.scalar(text("SELECT 1"))


async def test_a_database_refusing_connections_is_retried_until_the_patience_ends() -> None:
    nowhere = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/agora")
    tries: list[float] = []
    started = time.monotonic()
    try:
        with pytest.raises(ConnectionRefusedError):
            await once_reachable(lambda: _count(nowhere, tries), "test", patience=2.0)
    finally:
        await nowhere.dispose()
    waited = time.monotonic() - started
    # tries at about 0, 0.25, 0.75 and 1.75 s; the next pause (2 s) would pass the patience
    assert len(tries) >= 3
    assert all(at - started <= 2.0 for at in tries)  # no try begins after the patience
    assert waited < 2.0 + 5  # nor does the wait last much longer (5 s: a loaded machine)
    gaps = [b - a for a, b in pairwise(tries)]
    assert gaps[0] >= 0.25 and gaps[1] >= 0.5  # growing pauses


async def test_the_database_answering_at_a_retry_ends_the_wait(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first try meets a port where nothing listens; the retry is sent to the test's
    database (as if the listener came back): its answer is the result."""
    monkeypatch.setattr(start_wait, "FIRST_PAUSE", 0.05)
    nowhere = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/agora")
    tries: list[float] = []

    async def step() -> Any:
        return await _count(nowhere if not tries else db, tries)

    try:
        assert await once_reachable(step, "test", patience=30) == 1
    finally:
        await nowhere.dispose()
    assert len(tries) == 2


async def test_an_error_a_database_coming_back_would_not_cure_is_raised_at_once(
    db: Database,
) -> None:
    tries: list[float] = []

    async def broken() -> Any:
        tries.append(time.monotonic())
        async with db.engine.connect() as connection:
            return await connection.scalar(text("SELECT no_such_column FROM accounts"))

    with pytest.raises(DBAPIError) as raised:
        await once_reachable(broken, "test", patience=30)
    assert len(tries) == 1
    assert not is_passing(raised.value)


def test_what_passes() -> None:
    assert is_passing(ConnectionRefusedError(111, "refused"))
    assert is_passing(ConnectionResetError(104, "reset"))
    assert is_passing(TimeoutError())  # what asyncio raises too
    assert not is_passing(FileNotFoundError("no migrations"))
    assert not is_passing(ValueError("bad setting"))
