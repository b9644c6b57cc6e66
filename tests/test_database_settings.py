"""What a PostgreSQL connection of `Database` sets for itself (SQLite: nothing to check):
its lock timeout, and JIT off (with real statistics the planner priced a page of grouped
notifications' walk past `jit_above_cost`, and compiling it cost ~75 ms a page)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from agora.db.engine import Database
from helpers import ON_POSTGRES

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's session settings")


async def test_a_connection_has_its_lock_timeout_and_no_jit(db) -> None:
    mine = Database(db.url, lock_timeout=2.5)
    try:
        async with mine.session() as session:
            assert await session.scalar(text("SHOW jit")) == "off"
            assert await session.scalar(text("SHOW lock_timeout")) == "2500ms"
    finally:
        await mine.dispose()
