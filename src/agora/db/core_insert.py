"""`insert_loaded(session, obj)`: insert one new ORM object with a Core INSERT built once for
its table, and keep it in the session as if the ORM had flushed it: persistent, in the
identity map, every column loaded.

What it saves over `session.add(obj)` + `session.flush()`: the unit of work (dependency
sorting, per-attribute history, a statement compiled for the columns this object happens to
set). It is for hot paths that create one row of a simple table (no relationships, no
server-side defaults the code reads back, the primary key set in Python).

Invariants:
- every column of the table is in the INSERT: a value the object holds, else the column's
  Python `default` (a value or a function of nothing), else NULL, as an ORM flush fills it
  (a default computed in SQL is refused when the statement is built);
- afterwards the object holds those values, so no attribute is expired (nothing is loaded
  lazily, which an async session could not do) and later changes flush as UPDATEs;
- the session counts as having written (`session_writes`, through `do_orm_execute`);
- one difference from a flush: a rollback expires the object, as it does any persistent
  one, where a flushed object would go back to transient with its values (no caller of
  this reads the object after rolling back).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy import Column, Insert, Table, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault

Default = Callable[[], Any]


@cache
def _statement(table: Table) -> tuple[Insert, tuple[tuple[str, str, Default], ...]]:
    """The table's INSERT of every column, and each column's (attribute key, column name,
    its Python default as a function: a scalar's value, a callable's call, else None)."""
    columns = []
    for column in table.columns:
        columns.append((column.key, column.name, _default(column)))
    return insert(table), tuple(columns)


def _default(column: Column[Any]) -> Default:
    default = column.default
    if default is None:
        return lambda: None
    if isinstance(default, ScalarElementColumnDefault):
        value = default.arg
        return lambda: value
    if isinstance(default, CallableColumnDefault):
        call = default.arg
        return lambda: call(None)  # type: ignore[arg-type]  # a no-argument callable, wrapped
    raise TypeError(f"{column}: a default computed in SQL is not supported")


async def insert_loaded(session: AsyncSession, obj: Any) -> None:
    """Insert the new, transient `obj` (its primary key set) and add it to `session` as a
    persistent object with every column loaded (see the module)."""
    table = type(obj).__table__
    statement, columns = _statement(table)
    held = obj.__dict__
    values = {}
    for key, name, default in columns:
        if key in held:
            values[name] = held[key]
        else:
            values[name] = value = default()
            setattr(obj, key, value)
    await session.execute(statement, values)
    make_transient_to_detached(obj)
    session.add(obj)
