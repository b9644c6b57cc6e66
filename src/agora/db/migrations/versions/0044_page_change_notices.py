"""page change notices: on PostgreSQL, every statement that inserts, updates, deletes or
truncates a table the page stamps statement reads (`view_stamps`, `posts`, `accounts`,
`follows`) notifies `agora_page_changes` at its commit (db/change_notices.py)

A kept page proved current once is then answered again from memory until a notification
arrives. SQLite has no LISTEN and keeps checking by statement: nothing to do there. The
trigger names end in `page_stamp`, as the stamps' own do, so `agora db copy` turns them off
while it copies rows as they are.

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-06 17:00:00
"""

from alembic import op

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None

CHANNEL = "agora_page_changes"  # db/change_notices.CHANNEL
TABLES = ("view_stamps", "posts", "accounts", "follows")  # db/change_notices.NOTICE_TABLES
FUNCTION = "agora_page_change_notice"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(
        f"CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN PERFORM pg_notify('{CHANNEL}', ''); RETURN NULL; END $$"
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_notice_page_stamp "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notice_page_stamp ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")
