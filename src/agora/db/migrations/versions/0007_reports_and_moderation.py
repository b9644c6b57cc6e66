"""reports and moderation

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 08:40:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = agora.db.models.UTCDateTime(timezone=True)
SILENCED = sa.text("silenced_at IS NOT NULL")


def _id() -> sa.Column[int]:
    return sa.Column("id", ID, autoincrement=False, nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("silenced_at", WHEN, nullable=True))
        batch_op.create_index(
            "ix_accounts_silenced",
            ["id"],
            unique=False,
            sqlite_where=SILENCED,
            postgresql_where=SILENCED,
        )

    op.create_table(
        "reports",
        _id(),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("target_account_id", ID, nullable=False),
        sa.Column("status_ids", sa.JSON(), nullable=False),
        sa.Column("rule_ids", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("forwarded", sa.Boolean(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("action_taken_at", WHEN, nullable=True),
        sa.Column("action_taken_by_account_id", ID, nullable=True),
        sa.Column("assigned_account_id", ID, nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["target_account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["action_taken_by_account_id"], ["accounts.id"], ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["assigned_account_id"], ["accounts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index("ix_reports_account_id", ["account_id"], unique=False)
        batch_op.create_index("ix_reports_target_account_id", ["target_account_id"], unique=False)
        batch_op.create_index(
            "ix_reports_action_taken_at_id", ["action_taken_at", "id"], unique=False
        )

    op.create_table(
        "moderation_actions",
        _id(),
        sa.Column("account_id", ID, nullable=True),
        sa.Column("target_account_id", ID, nullable=False),
        sa.Column("report_id", ID, nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["target_account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("moderation_actions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_moderation_actions_target_account_id", ["target_account_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("moderation_actions")
    op.drop_table("reports")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_accounts_silenced", sqlite_where=SILENCED, postgresql_where=SILENCED
        )
        batch_op.drop_column("silenced_at")
