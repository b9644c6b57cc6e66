"""two-factor sign-in: the TOTP secret on `users`, and `recovery_codes`

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 17:40:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = agora.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.add_column("users", sa.Column("otp_secret", sa.String(length=64), nullable=True))
    op.add_column("users", sa.Column("otp_enabled_at", WHEN, nullable=True))
    op.add_column("users", sa.Column("otp_last_step", sa.Integer(), nullable=True))
    op.create_table(
        "recovery_codes",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recovery_codes_account_id", "recovery_codes", ["account_id"])


def downgrade() -> None:
    op.drop_index("ix_recovery_codes_account_id", table_name="recovery_codes")
    op.drop_table("recovery_codes")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("otp_last_step")
        batch_op.drop_column("otp_enabled_at")
        batch_op.drop_column("otp_secret")
