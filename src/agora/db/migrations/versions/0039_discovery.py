"""discovery: featured tags, endorsements, account notes, dismissed suggestions, trends

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-05 23:10:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _pair(name: str, *extra: sa.Column[object], unique_id: bool) -> None:
    """A table of (account, target) rows: an id and a unique pair, or the pair as key."""
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("account_id", ID, nullable=False),
        sa.Column("target_account_id", ID, nullable=False),
        *extra,
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["target_account_id"], ["accounts.id"], ondelete="CASCADE"),
    ]
    if unique_id:
        columns.insert(0, sa.Column("id", ID, autoincrement=False, nullable=False))
        columns += [
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("account_id", "target_account_id"),
        ]
    else:
        columns.append(sa.PrimaryKeyConstraint("account_id", "target_account_id"))
    op.create_table(name, *columns)
    op.create_index(f"ix_{name}_target_account_id", name, ["target_account_id"])


def upgrade() -> None:
    op.create_table(
        "featured_tags",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("tag_id", ID, nullable=False),
        sa.Column("created_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "tag_id"),
    )
    op.create_index("ix_featured_tags_tag_id", "featured_tags", ["tag_id"])
    now: sa.Column[object] = sa.Column(
        "created_at", agora.db.models.UTCDateTime(timezone=True), nullable=False
    )
    _pair("account_endorsements", now, unique_id=True)
    _pair(
        "account_notes",
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("updated_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        unique_id=False,
    )
    _pair(
        "suggestion_dismissals",
        sa.Column("created_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        unique_id=False,
    )
    op.create_table(
        "trends",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("item", sa.String(length=2048), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("max_score_at", agora.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("review", sa.String(length=10), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("updated_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "item"),
    )
    op.create_index("ix_trends_kind_score", "trends", ["kind", "score"])


def downgrade() -> None:
    op.drop_index("ix_trends_kind_score", table_name="trends")
    op.drop_table("trends")
    for name in ("suggestion_dismissals", "account_notes", "account_endorsements"):
        op.drop_index(f"ix_{name}_target_account_id", table_name=name)
        op.drop_table(name)
    op.drop_index("ix_featured_tags_tag_id", table_name="featured_tags")
    op.drop_table("featured_tags")
