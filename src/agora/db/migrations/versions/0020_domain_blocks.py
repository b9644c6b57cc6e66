"""domain blocks and moved accounts: this server's blocks of other servers, people's own
domain blocks, and the moderation log naming a domain

`domain_blocks` holds the admins' blocks (suspend / silence / noop, reject_media,
reject_reports, comments, obfuscate); `account_domain_blocks` each person's blocks of a
server (Mastodon's /api/v1/domain_blocks). A moderation log entry now names an account or a
domain (`target_domain`), so `target_account_id` becomes nullable. A remote account that moved
(ActivityPub Move) records the account it moved to (`accounts.moved_to_account_id`); a local
account may name its other identities (`accounts.also_known_as`, published as `alsoKnownAs`).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 17:30:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = agora.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "domain_blocks",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("reject_media", sa.Boolean(), nullable=False),
        sa.Column("reject_reports", sa.Boolean(), nullable=False),
        sa.Column("private_comment", sa.Text(), nullable=False),
        sa.Column("public_comment", sa.Text(), nullable=False),
        sa.Column("obfuscate", sa.Boolean(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.UniqueConstraint("domain"),
    )
    op.create_table(
        "account_domain_blocks",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column(
            "account_id", ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.UniqueConstraint("account_id", "domain"),
    )
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("moved_to_account_id", ID, nullable=True))
        batch.add_column(sa.Column("also_known_as", sa.JSON(), nullable=True))
    with op.batch_alter_table("moderation_actions") as batch:
        batch.add_column(sa.Column("target_domain", sa.String(length=255), nullable=True))
        batch.alter_column("target_account_id", existing_type=ID, nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM moderation_actions WHERE target_account_id IS NULL")
    with op.batch_alter_table("moderation_actions") as batch:
        batch.alter_column("target_account_id", existing_type=ID, nullable=False)
        batch.drop_column("target_domain")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("also_known_as")
        batch.drop_column("moved_to_account_id")
    op.drop_table("account_domain_blocks")
    op.drop_table("domain_blocks")
