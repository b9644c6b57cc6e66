"""fresh posts' parts: on PostgreSQL, a mention, hashtag or media row written for a post that
the same transaction inserted (and has not updated since) no longer bumps the post's
`render_version`

Posting a status with a mention and a hashtag updated its new row twice more (each update
a new row version, the author's page stamps and the public view stamps bumped again by
`posts_render_page_stamp`): about 1 ms of the server's CPU per post. Nobody can have
rendered a row that its transaction has not committed (the render cache stores nothing from
a transaction that has written: db/session_writes.py), so its version needs no bump yet.

"Inserted by this transaction and not updated since" is read off the row: its `xmin` is the
current transaction's id (a row version this transaction wrote), and its `change_stamp` is
still 0 (every UPDATE of `posts` adds one, `posts_page_stamp`). A row inserted in a
savepoint has the savepoint's id and is bumped, as before: the safe side. SQLite has no
transaction ids; its triggers keep bumping (a cost, not a difference a reader can see).

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-07 02:10:00
"""

from alembic import op

revision = "0045"
down_revision = "0044"
branch_labels = None
depends_on = None


def _function(fresh_test: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION agora_bump_post_render_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'DELETE' THEN
    UPDATE posts SET render_version = render_version + 1 WHERE id = NEW.post_id{fresh_test};
  END IF;
  IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.post_id IS DISTINCT FROM NEW.post_id) THEN
    UPDATE posts SET render_version = render_version + 1 WHERE id = OLD.post_id;
  END IF;
  RETURN NULL;
END $$
"""


NOT_FRESH = " AND NOT (xmin = pg_current_xact_id()::xid AND change_stamp = 0)"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(_function(NOT_FRESH))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(_function(""))
