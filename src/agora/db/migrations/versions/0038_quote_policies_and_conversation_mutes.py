"""quote policies and conversation mutes: `posts.quote_policy`, `posts.quote_state`,
`users.default_quote_policy`, the quotes index, `conversation_mutes`

The two new `posts` columns are rendered (the Status' `quote_approval` and `quote`), so the
posts render-version trigger of 0025 is recreated with them.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-05 23:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD_COLUMNS = (
    "id, account_id, in_reply_to_id, in_reply_to_account_id, thread_root_id, reblog_of_id, "
    "quote_of_id, text, content_html, spoiler_text, sensitive, visibility, language, "
    "created_at, edited_at, deleted_at, application_id, no_ai_reuse, ai_generated, uri, url"
)
NEW_COLUMNS = OLD_COLUMNS + ", quote_policy, quote_state"
QUOTED = sa.text("quote_of_id IS NOT NULL")


def upgrade() -> None:
    for name in ("quote_policy", "quote_state"):
        op.add_column(
            "posts", sa.Column(name, sa.SmallInteger(), nullable=False, server_default="0")
        )
    op.add_column(
        "users",
        sa.Column("default_quote_policy", sa.SmallInteger(), nullable=False, server_default="0"),
    )
    op.create_index(
        "ix_posts_quotes",
        "posts",
        ["quote_of_id", "id"],
        sqlite_where=QUOTED,
        postgresql_where=QUOTED,
    )
    op.create_table(
        "conversation_mutes",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("thread_id", ID, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "thread_id"),
    )
    _posts_trigger(NEW_COLUMNS)


def _posts_trigger(columns: str) -> None:
    """Recreate the posts render-version trigger (migration 0025) over `columns`."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS posts_render_version")
        op.execute(
            f"CREATE TRIGGER posts_render_version AFTER UPDATE OF {columns} ON posts "
            "BEGIN UPDATE posts SET render_version = render_version + 1 "
            "WHERE id = NEW.id; END"
        )
    else:
        op.execute("DROP TRIGGER IF EXISTS posts_render_version ON posts")
        op.execute(
            f"CREATE TRIGGER posts_render_version BEFORE UPDATE OF {columns} ON posts "
            "FOR EACH ROW EXECUTE FUNCTION agora_next_render_version()"
        )


def downgrade() -> None:
    _posts_trigger(OLD_COLUMNS)
    op.drop_table("conversation_mutes")
    op.drop_index("ix_posts_quotes", table_name="posts")
    op.drop_column("users", "default_quote_policy")
    for name in ("quote_state", "quote_policy"):
        op.drop_column("posts", name)
