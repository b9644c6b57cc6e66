"""home_feed without an insert trigger: fan-out grows the view stamps itself

Migration 0042's `home_feed_insert_page_stamp` grew the view stamp of every feed's owner on
every row inserted: on SQLite a row trigger (~28 us a row, 200 rows a fan-out batch, in
the transaction that holds the database's one write lock); on PostgreSQL a statement
trigger over the inserted rows. Its one writer, `fan_out._add_to_feeds` (fan-out and the
backfill after a follow), now grows the distinct owners' stamps in one statement of the
same transaction, so a page cached before the insert is still seen to be stale. The update
and delete triggers of `home_feed` stay (trimming, unfollows, deletions: many writers).
`tests/test_page_cache.py` names this one exception to "every table a home page reads is
stamped by triggers".

Revision ID: 0044
Revises: 0043
Create Date: 2026-12-06 09:00:00
"""

from alembic import op

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None

TRIGGER = "home_feed_insert_page_stamp"
FUNCTION = f"agora_{TRIGGER}"
BUMP = (
    "INSERT INTO view_stamps (account_id, stamp) {rows} "
    "ON CONFLICT (account_id) DO UPDATE SET stamp = view_stamps.stamp + 1"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON home_feed")
        op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


def downgrade() -> None:
    """0042's trigger again, as it made it."""
    if op.get_bind().dialect.name == "sqlite":
        rows = BUMP.format(rows="SELECT NEW.account_id, 1 WHERE true").replace(
            "view_stamps.stamp", "stamp"
        )
        op.execute(f"CREATE TRIGGER {TRIGGER} AFTER INSERT ON home_feed BEGIN {rows}; END")
        return
    rows = "SELECT a, 1 FROM (SELECT account_id AS a FROM new_rows) AS s "
    rows += "WHERE a IS NOT NULL GROUP BY a ORDER BY a"
    op.execute(
        f"CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {BUMP.format(rows=rows)}; RETURN NULL; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {TRIGGER} AFTER INSERT ON home_feed REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
    )
