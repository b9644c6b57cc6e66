"""The models and the migrations describe the same schema.

Alembic's autogenerate comparison (`compare_metadata`, with the options `alembic revision
--autogenerate` uses: types and server defaults compared, the full-text index left alone) runs
between the test database, migrated to head by the `db` fixture, and `Base.metadata`. Run on
both backends (AGORA_TEST_DATABASE=sqlite / postgresql). A model changed without a migration,
or a migration without its model change, fails here with the operations that would fix it.
"""

from __future__ import annotations

from pprint import pformat
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Index, Integer, MetaData

from agora.db.migrate import comparison_options
from agora.db.models import Base


async def _differences(db: Any, metadata: MetaData) -> list[Any]:
    """What autogenerate would write to bring the migrated database to `metadata`."""

    def compare(connection) -> list[Any]:  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts=comparison_options())
        return compare_metadata(context, metadata)

    async with db.engine.connect() as conn:
        return await conn.run_sync(compare)


async def test_models_match_the_migrated_schema(db) -> None:
    differences = await _differences(db, Base.metadata)
    assert differences == [], pformat(differences)


async def test_the_comparison_reports_a_model_the_migrations_lack(db) -> None:
    """Control: a column and an index only the models have are reported (so the empty diff
    above is not a comparison that looks at nothing)."""
    drifted = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    posts = drifted.tables["posts"]
    posts.append_column(Column("drift_only_in_models", Integer, nullable=True))
    Index("ix_drift_only_in_models", posts.c.drift_only_in_models)

    operations = {diff[0]: diff for diff in await _differences(db, drifted)}
    assert set(operations) == {"add_column", "add_index"}
    assert operations["add_column"][3].name == "drift_only_in_models"
    assert operations["add_index"][1].name == "ix_drift_only_in_models"
