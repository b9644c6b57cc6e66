"""media attachments

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 08:40:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = agora.db.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "media_attachments",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("post_id", ID, nullable=True),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("access_secret", sa.String(length=32), nullable=False),
        sa.Column("file_format", sa.String(length=10), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("preview_format", sa.String(length=10), nullable=False),
        sa.Column("preview_width", sa.Integer(), nullable=False),
        sa.Column("preview_height", sa.Integer(), nullable=False),
        sa.Column("preview_size", sa.Integer(), nullable=False),
        sa.Column("blurhash", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("focus_x", sa.Float(), nullable=True),
        sa.Column("focus_y", sa.Float(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("unattached_since", WHEN, nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_media_attachments_post_id", "media_attachments", ["post_id", "position"])
    op.create_index(
        "ix_media_attachments_account_id_post_id", "media_attachments", ["account_id", "post_id"]
    )
    op.create_index(
        "ix_media_attachments_unattached",
        "media_attachments",
        ["unattached_since"],
        sqlite_where=sa.text("post_id IS NULL"),
        postgresql_where=sa.text("post_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_media_attachments_unattached", table_name="media_attachments")
    op.drop_index("ix_media_attachments_account_id_post_id", table_name="media_attachments")
    op.drop_index("ix_media_attachments_post_id", table_name="media_attachments")
    op.drop_table("media_attachments")
