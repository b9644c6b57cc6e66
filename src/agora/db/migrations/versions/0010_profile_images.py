"""profile images: each account's avatar and header files

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 12:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("avatar_file", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("header_file", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("header_file")
        batch.drop_column("avatar_file")
