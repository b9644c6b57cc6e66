"""render versions: `posts.render_version` and `accounts.render_version`, bumped by triggers

The API caches each post's rendered, viewer-independent Status JSON and each account's
rendered Account JSON (api/status_cache.py), keyed by these versions. They are bumped by the
database itself, so no write path (services, federation, moderation, the CLI, a later
feature, a hand-written UPDATE) can forget to:

- posts: any update of a column other than the counters spliced in at read time
  (`replies_count`, `reblogs_count`, `favourites_count`), and any insert, update or delete of
  a row of `media_attachments`, `mentions` or `post_tags` that belongs to the post;
- accounts: any update of a column other than `followers_count`, `following_count`,
  `statuses_count` and `last_status_at` (spliced in at read time).

SQLite: AFTER UPDATE OF <columns> triggers that add one (the inner UPDATE names only
`render_version`, so it fires nothing again); PostgreSQL: BEFORE UPDATE OF <columns> triggers
that set NEW.render_version. A migration that adds a column to `posts` or `accounts` must
recreate these triggers with it (tests/test_status_cache.py fails otherwise).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 17:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

POST_COLUMNS = (
    "id, account_id, in_reply_to_id, in_reply_to_account_id, thread_root_id, reblog_of_id, "
    "quote_of_id, text, content_html, spoiler_text, sensitive, visibility, language, "
    "created_at, edited_at, deleted_at, application_id, no_ai_reuse, ai_generated, uri, url"
)
ACCOUNT_COLUMNS = (
    "id, username, username_lower, display_name, note, note_html, fields, locked, bot, "
    "discoverable, hide_collections, no_bot, created_at, suspended_at, silenced_at, "
    "moved_to_account_id, also_known_as, deleted_at, data_reuse, avatar_file, header_file, "
    "domain, uri, url, inbox_url, shared_inbox_url, followers_url, public_key_pem, fetched_at, "
    "avatar_remote_url, header_remote_url"
)
OWN = {"posts": POST_COLUMNS, "accounts": ACCOUNT_COLUMNS}
PARTS = ("media_attachments", "mentions", "post_tags")  # rows of a post that it renders
BUMP = "UPDATE posts SET render_version = render_version + 1 WHERE id = {}.post_id;"

PG_NEXT = """
CREATE FUNCTION agora_next_render_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.render_version := OLD.render_version + 1;
  RETURN NEW;
END $$
"""
PG_PART = """
CREATE FUNCTION agora_bump_post_render_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'DELETE' THEN
    UPDATE posts SET render_version = render_version + 1 WHERE id = NEW.post_id;
  END IF;
  IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.post_id IS DISTINCT FROM NEW.post_id) THEN
    UPDATE posts SET render_version = render_version + 1 WHERE id = OLD.post_id;
  END IF;
  RETURN NULL;
END $$
"""


def upgrade() -> None:
    for table in OWN:
        op.add_column(
            table,
            sa.Column("render_version", sa.Integer(), nullable=False, server_default="0"),
        )
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_triggers()
    else:
        _postgresql_triggers()


def _sqlite_triggers() -> None:
    for table, columns in OWN.items():
        op.execute(
            f"CREATE TRIGGER {table}_render_version AFTER UPDATE OF {columns} ON {table} "
            f"BEGIN UPDATE {table} SET render_version = render_version + 1 "
            "WHERE id = NEW.id; END"
        )
    for part in PARTS:
        new, old = BUMP.format("NEW"), BUMP.format("OLD")
        op.execute(f"CREATE TRIGGER {part}_render_insert AFTER INSERT ON {part} BEGIN {new} END")
        op.execute(f"CREATE TRIGGER {part}_render_delete AFTER DELETE ON {part} BEGIN {old} END")
        op.execute(
            f"CREATE TRIGGER {part}_render_update AFTER UPDATE ON {part} BEGIN {new} "
            "UPDATE posts SET render_version = render_version + 1 "
            "WHERE id = OLD.post_id AND OLD.post_id IS NOT NEW.post_id; END"
        )


def _postgresql_triggers() -> None:
    op.execute(PG_NEXT)
    op.execute(PG_PART)
    for table, columns in OWN.items():
        op.execute(
            f"CREATE TRIGGER {table}_render_version BEFORE UPDATE OF {columns} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION agora_next_render_version()"
        )
    for part in PARTS:
        op.execute(
            f"CREATE TRIGGER {part}_render_version AFTER INSERT OR UPDATE OR DELETE ON {part} "
            "FOR EACH ROW EXECUTE FUNCTION agora_bump_post_render_version()"
        )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in OWN:
        op.execute(
            f"DROP TRIGGER IF EXISTS {table}_render_version"
            if sqlite
            else f"DROP TRIGGER IF EXISTS {table}_render_version ON {table}"
        )
    for part in PARTS:
        if sqlite:
            for kind in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {part}_render_{kind}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {part}_render_version ON {part}")
    if not sqlite:
        op.execute("DROP FUNCTION IF EXISTS agora_next_render_version()")
        op.execute("DROP FUNCTION IF EXISTS agora_bump_post_render_version()")
    for table in OWN:
        op.drop_column(table, "render_version")
