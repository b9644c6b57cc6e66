"""poll update pending: `polls.update_pending`

A vote in a local poll with an audience on other servers sends the new counts as
Update(Question) (federation, docs/FEDERATION.md "Polls"), debounced: the first vote of a
quiet poll sets the flag and schedules one job `federation_poll_update_delay` seconds later;
votes meanwhile find the flag set and schedule nothing; the job clears it and sends the
counts as they are then.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 17:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "polls",
        sa.Column("update_pending", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("polls", "update_pending")
