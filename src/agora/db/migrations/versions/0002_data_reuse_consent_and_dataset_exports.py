"""data reuse consent and dataset exports

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 08:13:35.836883
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset_exports",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("snapshot_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "consent_position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("posts_count", sa.Integer(), nullable=False),
        sa.Column("accounts_count", sa.Integer(), nullable=False),
        sa.Column("withdrawn_count", sa.Integer(), nullable=False),
        sa.Column("directory", sa.Text(), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dataset_exports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dataset_exports_purpose"), ["purpose"], unique=False)

    op.create_table(
        "instance_secrets",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "consent_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("post_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("allow", sa.Boolean(), nullable=True),
        sa.Column("created_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_log_account_id"), ["account_id"], unique=False)

    op.create_table(
        "dataset_export_accounts",
        sa.Column(
            "export_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("posts_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["export_id"], ["dataset_exports.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("export_id", "account_id"),
    )
    with op.batch_alter_table("dataset_export_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dataset_export_accounts_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "dataset_export_posts",
        sa.Column(
            "export_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("post_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["export_id"], ["dataset_exports.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("export_id", "post_id"),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data_reuse", sa.JSON(), nullable=False, server_default="{}"))

    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("no_ai_reuse", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("ai_generated", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("ai_generated")
        batch_op.drop_column("no_ai_reuse")

    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("data_reuse")

    op.drop_table("dataset_export_posts")
    with op.batch_alter_table("dataset_export_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataset_export_accounts_account_id"))

    op.drop_table("dataset_export_accounts")
    with op.batch_alter_table("consent_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_log_account_id"))

    op.drop_table("consent_log")
    op.drop_table("instance_secrets")
    with op.batch_alter_table("dataset_exports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dataset_exports_purpose"))

    op.drop_table("dataset_exports")
