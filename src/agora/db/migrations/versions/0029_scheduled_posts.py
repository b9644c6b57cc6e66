"""scheduled_posts: posts to publish later (Mastodon's scheduled statuses)

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-05 21:00:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "scheduled_posts",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("scheduled_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("application_id", ID, nullable=True),
        sa.Column("created_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_scheduled_posts_account_id", "scheduled_posts", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_scheduled_posts_account_id", table_name="scheduled_posts")
    op.drop_table("scheduled_posts")
