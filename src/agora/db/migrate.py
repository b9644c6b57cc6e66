"""Apply Alembic migrations programmatically (used by `agora init`, server start and tests),
and the options autogenerate compares with (`comparison_options`: the migrations' environment
and tests/test_migrations_match_models.py use the same ones, so what the test accepts is what
`alembic revision --autogenerate` would find).

Invariant: every table and index the migrations create is described by `agora.db.models`,
except the full-text search index (`SEARCH_INDEX_TABLES`), which the migrations create per
backend and triggers keep in step with `posts` (0006_search, agora.social.search.index).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, String
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# SQLite: the FTS5 table `posts_search` and its shadow tables; PostgreSQL: `post_search`.
SEARCH_INDEX_TABLES = frozenset(
    {
        "posts_search",
        "posts_search_config",
        "posts_search_data",
        "posts_search_docsize",
        "posts_search_idx",
        "post_search",
    }
)


def _modelled(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Autogenerate's `include_object`: everything but the search index and its indexes."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table not in SEARCH_INDEX_TABLES


def _default_differs(
    context: Any,
    inspected_column: Any,
    metadata_column: Any,
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """Autogenerate's `compare_server_default`. PostgreSQL compares defaults by asking the
    server `SELECT a = b`, which fails for JSON (no equality operator): JSON defaults are
    compared as text, without PostgreSQL's `::json` cast. None: Alembic's own comparison."""
    if not isinstance(metadata_column.type, JSON):
        return None
    inspected = re.sub(r"::json$", "", inspected_default or "")
    return inspected != (rendered_metadata_default or "")


def _type_differs(
    context: Any, inspected: Any, metadata: Any, inspected_type: Any, metadata_type: Any
) -> bool | None:
    """SQLite neither enforces nor can cheaply change a VARCHAR's length (migration 0012
    widens usernames on PostgreSQL only), so there a difference in length alone is none;
    anything else is left to Alembic's default comparison (None)."""
    if context.dialect.name != "sqlite":
        return None
    if not (isinstance(inspected_type, String) and isinstance(metadata_type, String)):
        return None
    names = {
        t.compile(dialect=context.dialect).split("(")[0] for t in (inspected_type, metadata_type)
    }
    return False if len(names) == 1 else None


def comparison_options() -> dict[str, Any]:
    """How models and database are compared: types, server defaults, all but the search index."""
    return {
        "compare_type": _type_differs,
        "compare_server_default": _default_differs,
        "include_object": _modelled,
    }


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and `url`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the schema of `engine`'s database to the newest revision."""

    def _upgrade(connection: Connection) -> None:
        cfg = alembic_config(str(engine.url))
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")

    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
