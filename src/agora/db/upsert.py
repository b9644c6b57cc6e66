"""Dialect-aware INSERT ... ON CONFLICT DO NOTHING (or DO UPDATE), the base of every
idempotent write, the INSERT an ON CONFLICT DO UPDATE starts from (`dialect_insert`), and
`affected_rows`, how many rows such a write (or any INSERT / UPDATE / DELETE) changed."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import CursorResult, Result
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_insert(session: AsyncSession, model: Any) -> Any:
    """The session's dialect's INSERT for `model`, which has `on_conflict_do_nothing` and
    `on_conflict_do_update` (both SQLite and PostgreSQL spell it ON CONFLICT)."""
    return _insert(session.get_bind().dialect.name, model, ignore=False)


def insert_ignore(session: AsyncSession, model: Any) -> Any:
    """An INSERT for `model` that skips rows violating a unique constraint."""
    return _insert(session.get_bind().dialect.name, model, ignore=True)


def insert_for(dialect: str, model: Any, *, ignore: bool = False) -> Any:
    """`dialect_insert` (or with `ignore`, `insert_ignore`) by the dialect's name, for a
    statement built once per dialect."""
    return _insert(dialect, model, ignore=ignore)


@cache
def _insert(dialect: str, model: Any, *, ignore: bool) -> Any:
    """Built once per dialect and model: statements are immutable (`values`, `returning`,
    `on_conflict_*` make new ones), so every caller may start from the same."""
    module = postgresql if dialect == "postgresql" else sqlite
    insert = module.insert(model)
    return insert.on_conflict_do_nothing() if ignore else insert


async def insert_ignore_one(session: AsyncSession, model: Any, **values: Any) -> bool:
    """Insert one row unless it conflicts; True when it was inserted."""
    result = await session.execute(insert_ignore(session, model).values(**values))
    return bool(affected_rows(result))


def affected_rows(result: Result[*tuple[Any, ...]]) -> int:
    """The rows an INSERT / UPDATE / DELETE matched. `session.execute` is typed as returning a
    plain `Result`, but for these statements it is a `CursorResult`, which has the count."""
    assert isinstance(result, CursorResult), type(result)
    return result.rowcount
