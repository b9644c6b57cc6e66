"""For You precompute: `for_you_sets` (when a person's candidates were computed) and
`for_you_candidates` (the candidates and their slow features), written by the
`refresh_for_you` job (social/reading/for_you_precompute.py)

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-06 05:40:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "for_you_sets",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("computed_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("candidates", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_table(
        "for_you_candidates",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("post_id", ID, nullable=False),
        sa.Column("network_likes", sa.Integer(), nullable=False),
        sa.Column("similar_likes", sa.Integer(), nullable=False),
        sa.Column("author_follows", sa.Integer(), nullable=False),
        sa.Column("quotes", sa.Integer(), nullable=False),
        sa.Column("trending_tag", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "post_id"),
    )
    op.create_index("ix_for_you_candidates_post_id", "for_you_candidates", ["post_id"])


def downgrade() -> None:
    op.drop_index("ix_for_you_candidates_post_id", table_name="for_you_candidates")
    op.drop_table("for_you_candidates")
    op.drop_table("for_you_sets")
