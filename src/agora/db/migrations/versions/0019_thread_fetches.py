"""thread fetches: `thread_fetches`

Opening a remote post's thread fetches its missing ancestors and replies from their servers
in the background (federation, docs/FEDERATION.md "Threads"), at most once per 15 minutes
per post: this table holds when each post's thread was last asked for.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 17:45:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "thread_fetches",
        sa.Column(
            "post_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("posts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("requested_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("thread_fetches")
