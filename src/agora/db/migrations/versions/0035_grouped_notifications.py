"""grouped notifications and notification policies: group keys and the filtered flag on
notifications, policies, requests, permissions

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-05 23:10:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("group_key", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("filtered", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.create_index("ix_notifications_account_id_group_key", ["account_id", "group_key"])
    op.create_table(
        "notification_policies",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("for_not_following", sa.String(length=10), nullable=False),
        sa.Column("for_not_followers", sa.String(length=10), nullable=False),
        sa.Column("for_new_accounts", sa.String(length=10), nullable=False),
        sa.Column("for_private_mentions", sa.String(length=10), nullable=False),
        sa.Column("for_limited_accounts", sa.String(length=10), nullable=False),
        sa.Column("updated_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id"),
    )
    op.create_table(
        "notification_requests",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("from_account_id", ID, nullable=False),
        sa.Column("updated_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["from_account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "from_account_id"),
    )
    op.create_index(
        "ix_notification_requests_from_account_id", "notification_requests", ["from_account_id"]
    )
    op.create_table(
        "notification_permissions",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("from_account_id", ID, nullable=False),
        sa.Column("created_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["from_account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "from_account_id"),
    )
    op.create_index(
        "ix_notification_permissions_from_account_id",
        "notification_permissions",
        ["from_account_id"],
    )


def downgrade() -> None:
    op.drop_table("notification_permissions")
    op.drop_table("notification_requests")
    op.drop_table("notification_policies")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_index("ix_notifications_account_id_group_key")
        batch.drop_column("filtered")
        batch.drop_column("group_key")
