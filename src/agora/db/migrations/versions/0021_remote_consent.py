"""remote consent: `accounts.no_bot` (the account asked bots to leave it alone, `#nobot`)

A remote author's data-reuse choices, read from their actor document and profile
(federation/remote_consent.py), are stored in `accounts.data_reuse` in the same shape as a
local person's, so the consent rule (data/consent.py) reads both alike. What that shape cannot
say is "no bot may interact with me": the assistant never answers or mentions such an account.
Every existing account starts with `no_bot` false; a remote one gets its value on its next
fetch.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 17:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column("no_bot", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("no_bot")
