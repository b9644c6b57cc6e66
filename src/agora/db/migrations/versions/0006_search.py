"""search

Full-text search of posts (SQLite: an FTS5 table; PostgreSQL: a table of 'simple' tsvectors
with a GIN index; both kept in sync by triggers on posts), followed hashtags and daily
hashtag use. The index is
built for the posts already there, so upgrading an existing database makes it searchable.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 08:40:00
"""

import logging
import time

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = agora.db.models.UTCDateTime(timezone=True)
DAY_MS = 86_400_000
HISTORY_DAYS = 7

# Indexed: original posts (not boosts) that are not deleted. Keep in step with
# agora.social.search.index.
SQLITE_FTS = (
    "CREATE VIRTUAL TABLE posts_search USING fts5(text, spoiler_text, content='posts', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
)
_INDEXED = "{0}.reblog_of_id IS NULL AND {0}.deleted_at IS NULL"
_ADD = (
    "INSERT INTO posts_search(rowid, text, spoiler_text) "
    "SELECT new.id, new.text, new.spoiler_text WHERE " + _INDEXED.format("new") + ";"
)
_REMOVE = (
    "INSERT INTO posts_search(posts_search, rowid, text, spoiler_text) "
    "SELECT 'delete', old.id, old.text, old.spoiler_text WHERE " + _INDEXED.format("old") + ";"
)
SQLITE_TRIGGERS = (
    f"CREATE TRIGGER posts_search_insert AFTER INSERT ON posts BEGIN {_ADD} END",
    f"CREATE TRIGGER posts_search_delete AFTER DELETE ON posts BEGIN {_REMOVE} END",
    "CREATE TRIGGER posts_search_update AFTER UPDATE OF text, spoiler_text, deleted_at, "
    f"reblog_of_id ON posts BEGIN {_REMOVE} {_ADD} END",
)
PG_DOCUMENT = "to_tsvector('simple'::regconfig, {0}.text || ' ' || {0}.spoiler_text)"
PG_SYNC = f"""
CREATE FUNCTION post_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF {_INDEXED.format("NEW")} THEN
    INSERT INTO post_search (post_id, document) VALUES (NEW.id, {PG_DOCUMENT.format("NEW")})
    ON CONFLICT (post_id) DO UPDATE SET document = EXCLUDED.document;
  ELSIF TG_OP = 'UPDATE' THEN
    DELETE FROM post_search WHERE post_id = NEW.id;
  END IF;
  RETURN NULL;
END $$
"""
PG_TRIGGERS = (
    "CREATE TRIGGER posts_search_insert AFTER INSERT ON posts "
    "FOR EACH ROW EXECUTE FUNCTION post_search_sync()",
    "CREATE TRIGGER posts_search_update AFTER UPDATE OF text, spoiler_text, deleted_at, "
    "reblog_of_id ON posts FOR EACH ROW EXECUTE FUNCTION post_search_sync()",
)


def upgrade() -> None:
    op.create_table(
        "followed_tags",
        sa.Column("id", ID, autoincrement=False, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("tag_id", ID, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "tag_id"),
    )
    op.create_index("ix_followed_tags_tag_id", "followed_tags", ["tag_id"])
    op.create_table(
        "tag_history",
        sa.Column("tag_id", ID, nullable=False),
        sa.Column("day", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tag_id", "day"),
    )
    op.create_table(
        "tag_history_accounts",
        sa.Column("tag_id", ID, nullable=False),
        sa.Column("day", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("account_id", ID, autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tag_id", "day", "account_id"),
    )
    _backfill_tag_history()
    started = time.perf_counter()
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_index()
    else:
        _postgresql_index()
    seconds = time.perf_counter() - started
    if seconds > 1:
        log = logging.getLogger("agora")
        log.warning("search index built for existing posts in %.1f s", seconds)


def _sqlite_index() -> None:
    """FTS5 over posts (external content), filled, compacted, then kept in sync by triggers."""
    op.execute(SQLITE_FTS)
    op.execute(
        "INSERT INTO posts_search(rowid, text, spoiler_text) "
        "SELECT id, text, spoiler_text FROM posts WHERE " + _INDEXED.format("posts")
    )
    op.execute("INSERT INTO posts_search(posts_search) VALUES ('optimize')")
    for trigger in SQLITE_TRIGGERS:
        op.execute(trigger)


def _postgresql_index() -> None:
    """A narrow table of tsvectors (one row per indexed post) with a GIN index: filled first,
    then indexed and constrained (faster than row by row), then kept in sync by triggers.
    Its primary key lets the newest matches of a common word be read backwards in id order,
    and ANALYZE gives the planner word frequencies to choose that or the GIN index."""
    op.execute("SET LOCAL maintenance_work_mem = '256MB'")
    op.execute("CREATE TABLE post_search (post_id BIGINT PRIMARY KEY, document TSVECTOR NOT NULL)")
    op.execute(
        f"INSERT INTO post_search (post_id, document) SELECT id, {PG_DOCUMENT.format('posts')} "
        "FROM posts WHERE " + _INDEXED.format("posts")
    )
    op.execute("CREATE INDEX ix_post_search_document ON post_search USING gin (document)")
    op.execute(
        "ALTER TABLE post_search ADD CONSTRAINT post_search_post_id_fkey FOREIGN KEY (post_id) "
        "REFERENCES posts (id) ON DELETE CASCADE"
    )
    op.execute(PG_SYNC)
    for trigger in PG_TRIGGERS:
        op.execute(trigger)
    op.execute("ANALYZE post_search")


def _backfill_tag_history() -> None:
    """Daily hashtag use of the last HISTORY_DAYS days, from the posts already there."""
    today = int(time.time() * 1000) // DAY_MS
    since = ((today - HISTORY_DAYS + 1) * DAY_MS) << 16
    day = f"((p.id >> 16) / {DAY_MS})"
    used = (
        "FROM post_tags pt JOIN posts p ON p.id = pt.post_id "
        f"WHERE pt.post_id >= {since} AND p.visibility <= 1 "
        "AND p.deleted_at IS NULL AND p.reblog_of_id IS NULL"
    )
    op.execute(
        "INSERT INTO tag_history_accounts (tag_id, day, account_id) "
        f"SELECT DISTINCT pt.tag_id, {day}, p.account_id {used}"
    )
    op.execute(
        "INSERT INTO tag_history (tag_id, day, uses, accounts) "
        f"SELECT pt.tag_id, {day}, count(*), count(DISTINCT p.account_id) {used} "
        f"GROUP BY pt.tag_id, {day}"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS posts_search_{name}")
        op.execute("DROP TABLE IF EXISTS posts_search")
    else:
        for name in ("insert", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS posts_search_{name} ON posts")
        op.execute("DROP FUNCTION IF EXISTS post_search_sync()")
        op.execute("DROP TABLE IF EXISTS post_search")
    op.drop_table("tag_history_accounts")
    op.drop_table("tag_history")
    op.drop_index("ix_followed_tags_tag_id", table_name="followed_tags")
    op.drop_table("followed_tags")
