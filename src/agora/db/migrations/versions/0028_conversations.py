"""conversations: direct-message conversations per participant (Mastodon's account_conversations)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-05 20:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "account_conversations",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("root_id", ID, nullable=False),
        sa.Column("last_post_id", ID, nullable=False),
        sa.Column("unread", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["last_post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "root_id"),
    )
    op.create_index(
        "ix_account_conversations_account_id_last_post_id",
        "account_conversations",
        ["account_id", "last_post_id"],
    )
    op.create_index(
        "ix_account_conversations_last_post_id", "account_conversations", ["last_post_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_account_conversations_last_post_id", table_name="account_conversations")
    op.drop_index(
        "ix_account_conversations_account_id_last_post_id", table_name="account_conversations"
    )
    op.drop_table("account_conversations")
