"""account deletion: `accounts.deleted_at` (the tombstone that keeps a username taken), and
`ix_notifications_post_id` (deleting posts cascades to their notifications; without the index
each deleted post scanned every notification)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 18:00:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

WHEN = agora.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.add_column("accounts", sa.Column("deleted_at", WHEN, nullable=True))
    op.create_index("ix_notifications_post_id", "notifications", ["post_id"])


def downgrade() -> None:
    op.drop_index("ix_notifications_post_id", table_name="notifications")
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.drop_column("deleted_at")
