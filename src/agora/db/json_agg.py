"""`json_objects(...)`: an aggregate that returns the rows of a group as a JSON array of
objects (text), on SQLite (`json_group_array(json_object(...))`) and PostgreSQL
(`json_agg(json_build_object(...))`). It lets one statement carry a variable number of
related rows per result row, e.g. the media of each post of a page."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import String, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class json_objects(FunctionElement[str]):  # named like the SQL functions it stands for
    """`json_objects(name=column, ...)`: a JSON array (text) with one object per row of the
    group, or NULL for an empty group. Names must be plain identifiers."""

    type = String()
    inherit_cache = True
    name = "json_objects"

    def __init__(self, **columns: Any) -> None:
        args: list[Any] = []
        for name, column in columns.items():
            if not _NAME.match(name):
                raise ValueError(f"not a plain name: {name!r}")
            args += [literal_column(f"'{name}'"), column]
        super().__init__(*args)


@compiles(json_objects, "postgresql")
def _postgresql(element: json_objects, compiler: Any, **kw: Any) -> str:
    return f"CAST(json_agg(json_build_object({compiler.process(element.clauses, **kw)})) AS TEXT)"


@compiles(json_objects)
def _sqlite(element: json_objects, compiler: Any, **kw: Any) -> str:
    return f"json_group_array(json_object({compiler.process(element.clauses, **kw)}))"
