"""federated interactions: the id of a received Follow, remote profile pictures

`follow_requests.uri` keeps the id of the Follow a remote account sent to a locked local
account, so the Accept (or Reject) sent when the person answers later names it (Mastodon
matches an Accept to its Follow by that id); `follows.uri` keeps it once it is a follow, for
the Reject sent when the person removes that follower. `accounts.avatar_remote_url` and
`header_remote_url` hold a remote account's profile pictures as its actor document gives them
(`icon`, `image`), refreshed by Update(Person).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 17:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("follow_requests", "follows"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("uri", sa.String(length=2048), nullable=True))
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("avatar_remote_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("header_remote_url", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("header_remote_url")
        batch.drop_column("avatar_remote_url")
    for table in ("follows", "follow_requests"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("uri")
