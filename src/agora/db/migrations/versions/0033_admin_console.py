"""admin console: settings changed at run time, samples of the job queue's depth

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-05 20:30:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_settings",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "job_queue_samples",
        sa.Column("taken_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("dead", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("taken_at"),
    )


def downgrade() -> None:
    op.drop_table("job_queue_samples")
    op.drop_table("instance_settings")
