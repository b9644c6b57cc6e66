"""a new post's page stamps taken at commit: on PostgreSQL, `posts_insert_page_stamp` and
`posts_render_page_stamp` become constraint triggers, deferred to the end of the transaction

A public post bumps one of sixteen shared rows of `view_stamps` (migration 0042), and its
author's `accounts.change_stamp`. Run when the row was inserted, the bump locked that shared
row until the writer's commit, through every later statement of the post's transaction
(mentions, hashtags, media, jobs) and every wait of its web process for the CPU: in the
topology test at 300 people on 2 cores, `INSERT INTO posts` spent 26-31 ms on average
(pg_stat_statements, 1,221 inserts), most of it waiting for another writer's stripe. Run at
commit, the same bump holds the row only while the commit itself runs.

Readers see no difference: the bump still commits with the post, in the same transaction.
Nothing reads a stamp inside the transaction that wrote it (a writing transaction keeps no
page: api/page_cache.py). SQLite serialises its writers and keeps its row triggers.

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-07 13:00:00
"""

from alembic import op

revision = "0046"
down_revision = "0045"
branch_labels = None
depends_on = None

# the triggers of migration 0042, each with its event and condition
NEW_POST_TRIGGERS = {
    "posts_insert_page_stamp": ("INSERT", ""),
    "posts_render_page_stamp": ("UPDATE", " WHEN (NEW.render_version <> OLD.render_version)"),
}


def _recreate(*, at_commit: bool) -> None:
    for trigger, (event, when) in NEW_POST_TRIGGERS.items():
        op.execute(f"DROP TRIGGER IF EXISTS {trigger} ON posts")
        kind = "CONSTRAINT TRIGGER" if at_commit else "TRIGGER"
        deferred = " DEFERRABLE INITIALLY DEFERRED" if at_commit else ""
        op.execute(
            f"CREATE {kind} {trigger} AFTER {event} ON posts{deferred} FOR EACH ROW{when} "
            "EXECUTE FUNCTION agora_new_post_page_stamp()"
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    _recreate(at_commit=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    _recreate(at_commit=False)
