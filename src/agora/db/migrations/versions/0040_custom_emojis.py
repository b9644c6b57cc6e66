"""custom emoji: `custom_emojis`, and the emoji each post, account and poll uses
(`posts.emojis`, `accounts.emojis`, `polls.emojis`)

`posts.emojis` and `accounts.emojis` are rendered (the Status' and Account's `emojis`), so
the render-version triggers of migration 0025 are recreated with them.

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-06 02:40:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
POSTS_BEFORE = (
    "id, account_id, in_reply_to_id, in_reply_to_account_id, thread_root_id, reblog_of_id, "
    "quote_of_id, text, content_html, spoiler_text, sensitive, visibility, language, "
    "created_at, edited_at, deleted_at, application_id, no_ai_reuse, ai_generated, uri, url, "
    "quote_policy, quote_state"
)
ACCOUNTS_BEFORE = (
    "id, username, username_lower, display_name, note, note_html, fields, locked, bot, "
    "discoverable, hide_collections, no_bot, created_at, suspended_at, silenced_at, "
    "moved_to_account_id, also_known_as, deleted_at, data_reuse, avatar_file, header_file, "
    "domain, uri, url, inbox_url, shared_inbox_url, followers_url, public_key_pem, fetched_at, "
    "avatar_remote_url, header_remote_url, moved_at"
)
HAS_EMOJIS = sa.text("emojis IS NOT NULL")


def _trigger(table: str, columns: str) -> None:
    """Recreate `table`'s render-version trigger (migration 0025) over `columns`."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_render_version")
        op.execute(
            f"CREATE TRIGGER {table}_render_version AFTER UPDATE OF {columns} ON {table} "
            f"BEGIN UPDATE {table} SET render_version = render_version + 1 "
            "WHERE id = NEW.id; END"
        )
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_render_version ON {table}")
        op.execute(
            f"CREATE TRIGGER {table}_render_version BEFORE UPDATE OF {columns} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION agora_next_render_version()"
        )


def upgrade() -> None:
    op.create_table(
        "custom_emojis",
        sa.Column("id", ID, primary_key=True, autoincrement=False),
        sa.Column("shortcode", sa.String(100), nullable=False),
        sa.Column("domain", sa.String(255), nullable=True),
        sa.Column("image_key", sa.String(200), nullable=True),
        sa.Column("static_key", sa.String(200), nullable=True),
        sa.Column("content_type", sa.String(50), nullable=False),
        sa.Column("remote_url", sa.Text(), nullable=True),
        sa.Column("uri", sa.Text(), nullable=True),
        sa.Column("category", sa.String(100), nullable=True),
        sa.Column("visible_in_picker", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", agora.db.models.UTCDateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("shortcode", "domain", name="uq_custom_emojis_shortcode"),
    )
    op.create_index(
        "uq_custom_emojis_local_shortcode",
        "custom_emojis",
        ["shortcode"],
        unique=True,
        sqlite_where=sa.text("domain IS NULL"),
        postgresql_where=sa.text("domain IS NULL"),
    )
    for table in ("posts", "accounts", "polls"):
        op.add_column(table, sa.Column("emojis", sa.JSON(), nullable=True))
    for table in ("posts", "accounts"):  # the rows an emoji change re-takes (custom_emojis.py)
        op.create_index(
            f"ix_{table}_with_emojis",
            table,
            ["id"],
            sqlite_where=HAS_EMOJIS,
            postgresql_where=HAS_EMOJIS,
        )
    _trigger("posts", POSTS_BEFORE + ", emojis")
    _trigger("accounts", ACCOUNTS_BEFORE + ", emojis")


def downgrade() -> None:
    _trigger("accounts", ACCOUNTS_BEFORE)
    _trigger("posts", POSTS_BEFORE)
    for table in ("posts", "accounts"):
        op.drop_index(f"ix_{table}_with_emojis", table_name=table)
    for table in ("polls", "accounts", "posts"):
        op.drop_column(table, "emojis")
    op.drop_table("custom_emojis")
