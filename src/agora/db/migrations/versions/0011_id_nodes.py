"""id nodes: one row per process that claims a node for its ids (db.id_nodes.claim_node)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 14:30:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "id_nodes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("claimed_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("id_nodes")
