"""polls

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 08:40:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = agora.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "polls",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("post_id", ID, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("multiple", sa.Boolean(), nullable=False),
        sa.Column("hide_totals", sa.Boolean(), nullable=False),
        sa.Column("votes_count", sa.Integer(), nullable=False),
        sa.Column("voters_count", sa.Integer(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("post_id"),
    )
    op.create_table(
        "poll_options",
        sa.Column("poll_id", ID, nullable=False),
        sa.Column("position", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("votes_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["poll_id"], ["polls.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("poll_id", "position"),
    )
    op.create_table(
        "poll_voters",
        sa.Column("poll_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["poll_id"], ["polls.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("poll_id", "account_id"),
    )
    op.create_index("ix_poll_voters_account_id", "poll_voters", ["account_id"])
    op.create_table(
        "poll_votes",
        sa.Column("poll_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("choice", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["poll_id"], ["polls.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("poll_id", "account_id", "choice"),
    )
    op.create_index("ix_poll_votes_account_id", "poll_votes", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_poll_votes_account_id", table_name="poll_votes")
    op.drop_table("poll_votes")
    op.drop_index("ix_poll_voters_account_id", table_name="poll_voters")
    op.drop_table("poll_voters")
    op.drop_table("poll_options")
    op.drop_table("polls")
