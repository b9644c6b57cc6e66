"""federation delivery: per-domain health, the instance actor's key, hide_collections

`federation_domains` holds the remote domains that have failed since their last success
(the deliveries' circuit breaker and the 7-day unavailable mark, federation/domain_health.py),
shared by every server and worker process. `instance_keys` holds the key pair of the instance
actor (`/actor`), which signs this server's fetches. `accounts.hide_collections` is
Mastodon's setting of the same name (followers and following shown as counts only).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 18:00:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "federation_domains",
        sa.Column("domain", sa.String(length=255), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_failure_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("open_until", agora.db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("unavailable_since", agora.db.models.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "instance_keys",
        sa.Column("name", sa.String(length=50), primary_key=True),
        sa.Column("private_key_pem", sa.Text(), nullable=False),
        sa.Column("public_key_pem", sa.Text(), nullable=False),
        sa.Column("created_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(
            sa.Column("hide_collections", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("hide_collections")
    op.drop_table("instance_keys")
    op.drop_table("federation_domains")
