"""video, audio and GIFs: an attachment's type, its processing state, duration and frame rate

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-05 23:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("media_attachments") as batch:
        batch.add_column(
            sa.Column("media_type", sa.String(length=8), nullable=False, server_default="image")
        )
        batch.add_column(
            sa.Column("processing", sa.SmallInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("duration", sa.Float(), nullable=True))
        batch.add_column(sa.Column("fps", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("media_attachments") as batch:
        batch.drop_column("fps")
        batch.drop_column("duration")
        batch.drop_column("processing")
        batch.drop_column("media_type")
