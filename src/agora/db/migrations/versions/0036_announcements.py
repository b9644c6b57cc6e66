"""announcements, their dismissals and reactions; instance documents are settings (no table)

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-05 23:30:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "announcements",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("starts_at", agora.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ends_at", agora.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("all_day", sa.Boolean(), nullable=False),
        sa.Column("published_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "announcement_dismissals",
        sa.Column("announcement_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["announcement_id"], ["announcements.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("announcement_id", "account_id"),
    )
    op.create_table(
        "announcement_reactions",
        sa.Column("announcement_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["announcement_id"], ["announcements.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("announcement_id", "account_id", "name"),
    )


def downgrade() -> None:
    op.drop_table("announcement_reactions")
    op.drop_table("announcement_dismissals")
    op.drop_table("announcements")
