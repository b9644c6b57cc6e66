"""e-mail: `users.confirmed_at` and `email_tokens` (confirmation and password-reset links)

Accounts that exist before this migration are confirmed (as of their creation): nobody
who could sign in yesterday is locked out today.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 17:30:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = agora.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.add_column("users", sa.Column("confirmed_at", WHEN, nullable=True))
    op.execute("UPDATE users SET confirmed_at = created_at")
    op.create_table(
        "email_tokens",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("purpose", sa.String(length=10), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("used_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_email_tokens_account_id", "email_tokens", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_email_tokens_account_id", table_name="email_tokens")
    op.drop_table("email_tokens")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("confirmed_at")
