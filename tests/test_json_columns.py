"""JSON columns are read by `engine.read_json` on both databases: orjson for what it reads
exactly as the standard library does, the standard library for the rest."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from agora.db.engine import read_json
from agora.db.models import InstanceSetting


async def _stored(db: Any, value: Any) -> Any:
    """`value` written to a JSON column (SQLAlchemy's serialiser, `json.dumps`) and read back
    by a new session."""
    async with db.session(write=True) as session:
        session.add(InstanceSetting(name="json_probe", value=value, updated_at=datetime.now(UTC)))
        await session.commit()
    async with db.session() as session:
        return await session.scalar(
            select(InstanceSetting.value).where(InstanceSetting.name == "json_probe")
        )


async def test_json_columns_are_read_by_read_json(db) -> None:
    assert db.engine.dialect._json_deserializer is read_json
    value = {"fields": [{"name": "Web", "value": "<a href='x'>x</a>"}], "n": 1.5, "on": None}
    assert await _stored(db, value) == value


@pytest.mark.parametrize(
    "value",
    # in a list: a bare number is stored as a number by SQLite's NUMERIC affinity of a JSON
    # column (a REAL beyond 64 bits), whoever reads it
    [[2**70], {"n": -(2**70)}, [10**25, "ok"], "\ud800"],
    ids=["beyond-64-bits", "below-64-bits", "among-strings", "lone-surrogate"],
)
async def test_a_value_orjson_would_change_or_refuse_reads_back_unchanged(db, value) -> None:
    found = await _stored(db, value)
    assert found == value and type(found) is type(value)


async def test_nan_written_by_json_dumps_reads_back(db) -> None:
    if not db.is_sqlite:
        pytest.skip("PostgreSQL's json type refuses NaN as it is written")
    found = await _stored(db, {"weight": float("nan"), "cap": float("inf")})
    assert math.isnan(found["weight"]) and found["cap"] == math.inf
