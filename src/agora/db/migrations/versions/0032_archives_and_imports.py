"""archives and imports: a person's archives and their CSV imports (with one row per line)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-05 20:30:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = agora.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "account_archives",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("requested_at", WHEN, nullable=False),
        sa.Column("ready_at", WHEN, nullable=True),
        sa.Column("expires_at", WHEN, nullable=True),
        sa.Column("file_name", sa.String(length=100), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_account_archives_account_id", "account_archives", ["account_id"])
    op.create_table(
        "csv_imports",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("overwrite", sa.Boolean(), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("finished_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_csv_imports_account_id", "csv_imports", ["account_id"])
    op.create_table(
        "csv_import_rows",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("import_id", ID, nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["import_id"], ["csv_imports.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_csv_import_rows_import_id", "csv_import_rows", ["import_id"])


def downgrade() -> None:
    op.drop_index("ix_csv_import_rows_import_id", table_name="csv_import_rows")
    op.drop_table("csv_import_rows")
    op.drop_index("ix_csv_imports_account_id", table_name="csv_imports")
    op.drop_table("csv_imports")
    op.drop_index("ix_account_archives_account_id", table_name="account_archives")
    op.drop_table("account_archives")
