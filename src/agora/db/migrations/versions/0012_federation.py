"""federation: remote accounts and posts in the same tables, account keys, inbox dedupe

Remote accounts live in `accounts` (a `domain`, their ActivityPub `uri`, inboxes and public
key; `username_lower` holds "name@domain" for them, so it stays unique across both kinds).
Local accounts get their RSA key pair when first needed (federation/keys.py: the actor
document, WebFinger or a signature asks for it), so existing accounts need no backfill here
and a migration never spends minutes making keys.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 10:00:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ACCOUNT_COLUMNS = (
    ("domain", sa.String(length=255)),
    ("uri", sa.String(length=2048)),
    ("url", sa.Text()),
    ("inbox_url", sa.Text()),
    ("shared_inbox_url", sa.Text()),
    ("followers_url", sa.Text()),
    ("public_key_pem", sa.Text()),
    ("fetched_at", agora.db.models.UTCDateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        for name, type_ in ACCOUNT_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    if op.get_bind().dialect.name == "postgresql":  # SQLite does not enforce lengths
        op.alter_column("accounts", "username", type_=sa.String(length=300))
        op.alter_column("accounts", "username_lower", type_=sa.String(length=300))
    op.create_index("uq_accounts_uri", "accounts", ["uri"], unique=True)
    with op.batch_alter_table("posts") as batch:
        batch.add_column(sa.Column("uri", sa.String(length=2048), nullable=True))
        batch.add_column(sa.Column("url", sa.Text(), nullable=True))
    op.create_index("uq_posts_uri", "posts", ["uri"], unique=True)
    op.create_table(
        "account_keys",
        sa.Column(
            "account_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("private_key_pem", sa.Text(), nullable=False),
        sa.Column("created_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "inbox_activities",
        sa.Column("id_hash", sa.String(length=64), primary_key=True),
        sa.Column("received_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_inbox_activities_received_at", "inbox_activities", ["received_at"])


def downgrade() -> None:
    op.drop_table("inbox_activities")
    op.drop_table("account_keys")
    op.drop_index("uq_posts_uri", table_name="posts")
    with op.batch_alter_table("posts") as batch:
        batch.drop_column("url")
        batch.drop_column("uri")
    op.drop_index("uq_accounts_uri", table_name="accounts")
    with op.batch_alter_table("accounts") as batch:
        for name, _ in reversed(ACCOUNT_COLUMNS):
            batch.drop_column(name)
