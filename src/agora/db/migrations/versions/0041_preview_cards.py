"""preview cards: `preview_cards`, `posts.preview_card_id`

The new `posts` column is rendered (the Status' `card`), so the posts render-version trigger
of 0025 (last recreated by 0040, with the custom emoji column) is recreated with it.

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-06 02:40:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OLD_COLUMNS = (
    "id, account_id, in_reply_to_id, in_reply_to_account_id, thread_root_id, reblog_of_id, "
    "quote_of_id, text, content_html, spoiler_text, sensitive, visibility, language, "
    "created_at, edited_at, deleted_at, application_id, no_ai_reuse, ai_generated, uri, url, "
    "quote_policy, quote_state, emojis"
)
NEW_COLUMNS = OLD_COLUMNS + ", preview_card_id"
CARDED = sa.text("preview_card_id IS NOT NULL")


def upgrade() -> None:
    when = agora.db.models.UTCDateTime(timezone=True)
    op.create_table(
        "preview_cards",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("author_name", sa.Text(), nullable=False),
        sa.Column("author_url", sa.Text(), nullable=False),
        sa.Column("provider_name", sa.Text(), nullable=False),
        sa.Column("provider_url", sa.Text(), nullable=False),
        sa.Column("image", sa.Text(), nullable=True),
        sa.Column("image_file", sa.String(length=64), nullable=True),
        sa.Column("blurhash", sa.String(length=100), nullable=True),
        sa.Column("image_description", sa.Text(), nullable=False),
        sa.Column("embed_url", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=True),
        sa.Column("published_at", when, nullable=True),
        sa.Column("fetched_at", when, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url"),
    )
    op.add_column("posts", sa.Column("preview_card_id", ID, nullable=True))
    op.create_index(
        "ix_posts_preview_card",
        "posts",
        ["preview_card_id"],
        sqlite_where=CARDED,
        postgresql_where=CARDED,
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
    op.drop_index("ix_posts_preview_card", table_name="posts")
    op.drop_column("posts", "preview_card_id")
    op.drop_table("preview_cards")
