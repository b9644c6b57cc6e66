"""partial boosts index: `ix_posts_reblog_of_id` (every post) becomes `ix_posts_boosts`
(boosts only, `WHERE reblog_of_id IS NOT NULL`)

SQLite's planner takes `reblog_of_id IS NULL` for a selective index lookup, although nearly
every post matches it, and walked the full index for queries asking for posts that are not
boosts (a sparse profile with `exclude_reblogs`, a thread's context) instead of the account's
or the thread's index. A partial index cannot serve `IS NULL`, and still serves the boosts of
a post (`reblog_of_id = ?` implies `IS NOT NULL` on both backends). It is also much smaller.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BOOSTS_ONLY = sa.text("reblog_of_id IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_posts_boosts",
        "posts",
        ["reblog_of_id"],
        sqlite_where=BOOSTS_ONLY,
        postgresql_where=BOOSTS_ONLY,
    )
    op.drop_index("ix_posts_reblog_of_id", table_name="posts")


def downgrade() -> None:
    op.create_index("ix_posts_reblog_of_id", "posts", ["reblog_of_id"])
    op.drop_index("ix_posts_boosts", table_name="posts")
