"""community notes: notes on public posts, their ratings and their status history

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-05 20:10:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = agora.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "community_notes",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("post_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("classification", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column(
            "drafted_with_assistant", sa.Boolean(), server_default=sa.false(), nullable=False
        ),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("intercept", sa.Float(), nullable=True),
        sa.Column("factor", sa.Float(), nullable=True),
        sa.Column("ratings_count", sa.Integer(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("status_changed_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("post_id", "account_id"),
    )
    op.create_index("ix_community_notes_post_id", "community_notes", ["post_id"])
    op.create_index("ix_community_notes_account_id", "community_notes", ["account_id"])
    op.create_index("ix_community_notes_status_post_id", "community_notes", ["status", "post_id"])
    op.create_table(
        "community_note_ratings",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("note_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("helpfulness", sa.String(length=20), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["note_id"], ["community_notes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("note_id", "account_id"),
    )
    op.create_index("ix_community_note_ratings_note_id", "community_note_ratings", ["note_id"])
    op.create_index(
        "ix_community_note_ratings_account_id", "community_note_ratings", ["account_id"]
    )
    op.create_table(
        "community_note_status_history",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("note_id", ID, nullable=False),
        sa.Column("post_id", ID, nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("intercept", sa.Float(), nullable=True),
        sa.Column("factor", sa.Float(), nullable=True),
        sa.Column("ratings_count", sa.Integer(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["note_id"], ["community_notes.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_community_note_status_history_note_id", "community_note_status_history", ["note_id"]
    )
    op.create_index(
        "ix_community_note_status_history_post_id", "community_note_status_history", ["post_id"]
    )


def downgrade() -> None:
    op.drop_table("community_note_status_history")
    op.drop_table("community_note_ratings")
    op.drop_table("community_notes")
