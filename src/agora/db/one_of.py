"""`one_of(column, name)`: "the column is one of the list bound as `name`", written for each
database as it runs fastest there.

- SQLite: `column IN (?, ?, …)`, SQLAlchemy's expanding parameter (SQLite has no arrays).
- PostgreSQL: `column = ANY($n::TYPE[])`, the list sent as one array.

PostgreSQL itself turns `IN (list)` into `= ANY(array)`, so the plans are the same; what
differs is the text. An expanding parameter is rendered again at every execution (a fresh
SQL string per call), and each length of list is another statement that asyncpg prepares
(one more round trip, and PostgreSQL parses and plans it again). The array form is one
statement, compiled once and prepared once per connection, whatever the list's length.

Invariant: both forms select the same rows for the same list, an empty list included
(nothing); tests/test_one_of.py runs them against each other on both databases.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class OneOf(ColumnElement[bool]):
    """`column` is one of the values of the list parameter `name` (see the module)."""

    inherit_cache = True
    # A comparison: in a WHERE it is written as is, not as `… = 1` (SQLAlchemy's form for a
    # boolean value on SQLite, which no index can serve: a scan of the whole table).
    _is_implicitly_boolean = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
    ]
    type = Boolean()

    def __init__(self, column: ColumnElement[Any], name: str) -> None:
        self.column = column
        self.name = name


def one_of(column: Any, name: str) -> OneOf:
    """The condition "`column` is one of the list passed as the parameter `name`"."""
    return OneOf(column, name)


@compiles(OneOf)
def _expanding(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)


@compiles(OneOf, "postgresql")
def _array(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    items = bindparam(element.name, type_=ARRAY(element.column.type))
    return compiler.process(element.column == any_(items), **kw)
