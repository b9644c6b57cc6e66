"""Dialect-aware INSERT ... ON CONFLICT DO NOTHING, the base of every idempotent write."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_ignore(session: AsyncSession, model: Any) -> Any:
    """An INSERT for `model` that skips rows violating a unique constraint."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(model).on_conflict_do_nothing()


async def insert_ignore_one(session: AsyncSession, model: Any, **values: Any) -> bool:
    """Insert one row unless it conflicts; True when it was inserted."""
    result = await session.execute(insert_ignore(session, model).values(**values))
    return bool(result.rowcount)
