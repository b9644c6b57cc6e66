"""remote accounts index: `ix_accounts_remote` (accounts with a domain only)

Every new post asks whether its author has a follower on another server (the federation
outbox, social/reading/remote_audience.py). Walking the author's followers cost 8 ms a post
for an author with 10,000 followers; walking the (few) remote accounts and probing the
follows' unique key costs next to nothing.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

REMOTE_ONLY = sa.text("domain IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_accounts_remote",
        "accounts",
        ["id"],
        sqlite_where=REMOTE_ONLY,
        postgresql_where=REMOTE_ONLY,
    )


def downgrade() -> None:
    op.drop_index("ix_accounts_remote", table_name="accounts")
