"""for_you: a person's For You weights and on/off, and their "show more / less" feedback

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-05 20:20:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "for_you_settings",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_table(
        "for_you_feedback",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("post_id", ID, nullable=False),
        sa.Column("author_id", ID, nullable=False),
        sa.Column("direction", sa.Integer(), nullable=False),
        sa.Column("created_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "post_id"),
    )
    op.create_index("ix_for_you_feedback_post_id", "for_you_feedback", ["post_id"])
    op.create_index("ix_for_you_feedback_author_id", "for_you_feedback", ["author_id"])


def downgrade() -> None:
    op.drop_index("ix_for_you_feedback_author_id", table_name="for_you_feedback")
    op.drop_index("ix_for_you_feedback_post_id", table_name="for_you_feedback")
    op.drop_table("for_you_feedback")
    op.drop_table("for_you_settings")
