"""filters: a person's filters (v2), their keywords and their posts

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-05 17:30:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "filters",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("contexts", sa.JSON(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("expires_at", agora.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_filters_account_id", "filters", ["account_id"])
    op.create_table(
        "filter_keywords",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("filter_id", ID, nullable=False),
        sa.Column("keyword", sa.String(length=200), nullable=False),
        sa.Column("whole_word", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["filter_id"], ["filters.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_filter_keywords_filter_id", "filter_keywords", ["filter_id"])
    op.create_table(
        "filter_statuses",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("filter_id", ID, nullable=False),
        sa.Column("post_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["filter_id"], ["filters.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("filter_id", "post_id"),
    )
    op.create_index("ix_filter_statuses_filter_id", "filter_statuses", ["filter_id"])


def downgrade() -> None:
    op.drop_index("ix_filter_statuses_filter_id", table_name="filter_statuses")
    op.drop_table("filter_statuses")
    op.drop_index("ix_filter_keywords_filter_id", table_name="filter_keywords")
    op.drop_table("filter_keywords")
    op.drop_index("ix_filters_account_id", table_name="filters")
    op.drop_table("filters")
