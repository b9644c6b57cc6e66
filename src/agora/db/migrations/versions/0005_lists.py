"""lists

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 08:40:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lists",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("replies_policy", sa.String(length=10), nullable=False),
        sa.Column("exclusive", sa.Boolean(), nullable=False),
        sa.Column("created_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_lists_account_id", "lists", ["account_id"])
    op.create_table(
        "list_accounts",
        sa.Column("list_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("follow_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["follow_id"], ["follows.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["list_id"], ["lists.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("list_id", "account_id"),
    )
    op.create_index("ix_list_accounts_account_id", "list_accounts", ["account_id"])
    op.create_index("ix_list_accounts_follow_id", "list_accounts", ["follow_id"])


def downgrade() -> None:
    op.drop_index("ix_list_accounts_follow_id", table_name="list_accounts")
    op.drop_index("ix_list_accounts_account_id", table_name="list_accounts")
    op.drop_table("list_accounts")
    op.drop_index("ix_lists_account_id", table_name="lists")
    op.drop_table("lists")
