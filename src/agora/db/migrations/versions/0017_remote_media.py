"""remote media: `media_attachments.remote_url`

An image of a post received from another server is recorded with the URL it has there
(federation, docs/FEDERATION.md "Media"); until it is fetched into the media store (or when
`AGORA_FEDERATION_CACHE_MEDIA=false`) it has no files here (`file_format` is empty) and is
shown by that URL.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 17:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN (no batch copy of the table: its partial indexes stay as they are)
    op.add_column("media_attachments", sa.Column("remote_url", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("media_attachments", "remote_url")
