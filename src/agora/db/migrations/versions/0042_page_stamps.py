"""page stamps: `posts.change_stamp`, `accounts.change_stamp`, `view_stamps`

What a cached page of statuses (api/page_cache.py) is checked against, kept by triggers so
that no code path can forget them:

- `posts.change_stamp` and `accounts.change_stamp` grow on every update of the row, counters
  included (a like, a reply, a vote in the post's poll: `polls` updates bump their post; a
  quote written, edited, revoked or deleted bumps the quoted post: its `quotes_count`), and
  an account's with every post or boost it writes and every edit or deletion of one (a
  change of the post's render version);
- `view_stamps.stamp` grows for an account on every change of what it sees or how its
  statuses are marked: its home feed, its follows, blocks and mutes (both sides), its server
  blocks, favourites, bookmarks, pins, conversation mutes, poll votes, filters (and their
  keywords and statuses), lists (and their members), notifications, notification policy,
  requests and permissions, and role; row 0 grows with every change of the server's
  settings, blocked servers, custom emoji and reports, and with every suspension or silence
  of an account and its undoing (rare, and they change what every page may show: the
  posts of an unsuspended author come back where no page recorded them); rows -1 to -16
  with every public post written, edited or deleted (row -1 - id % 16: sixteen rows, so
  that concurrent writers on PostgreSQL rarely wait for the same one).

Every stamp only grows (never reset, never decremented), so a page is unchanged exactly when
each stamp it was built under is unchanged. SQLite runs row triggers (its writers are
serialised); PostgreSQL runs one statement trigger per table and event over its transition
table, bumping the accounts in ascending order so that two writers never lock them in
opposite orders. The trigger names end in `page_stamp` (`agora db copy` turns them off while
it copies rows as they are).

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-06 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STAMPED = ("posts", "accounts")
SERVER = 0  # the view_stamps row of the server's own settings
# table -> how to find the accounts whose view a row changes: its own columns, or
# (parent table, the row's column naming the parent, the parent's account column)
VIEWERS: dict[str, tuple[str, ...] | tuple[str, str, str]] = {
    "home_feed": ("account_id",),
    "follows": ("account_id", "target_account_id"),
    "blocks": ("account_id", "target_account_id"),
    "mutes": ("account_id", "target_account_id"),
    "account_domain_blocks": ("account_id",),
    "favourites": ("account_id",),
    "bookmarks": ("account_id",),
    "pins": ("account_id",),
    "conversation_mutes": ("account_id",),
    "poll_votes": ("account_id",),
    "filters": ("account_id",),
    "lists": ("account_id",),
    "notifications": ("account_id",),
    "notification_policies": ("account_id",),
    "notification_requests": ("account_id",),
    "notification_permissions": ("account_id",),
    "users": ("account_id",),  # the role: reports are listed for admins only
}
OWNED: dict[str, tuple[str, str, str]] = {
    "filter_keywords": ("filters", "filter_id", "account_id"),
    "filter_statuses": ("filters", "filter_id", "account_id"),
    "list_accounts": ("lists", "list_id", "account_id"),
}
SERVER_TABLES = ("instance_settings", "domain_blocks", "custom_emojis", "reports")
# a new post or boost, and an edit or deletion (what bumps its render version: which of a
# profile's filtered pages it is on may change), grow its author's stamp
NEW_POST_EVENTS = {
    "posts_insert_page_stamp": "INSERT",
    "posts_render_page_stamp": "UPDATE OF render_version",
}
EVENTS = ("INSERT", "UPDATE", "DELETE")
BUMP_SQLITE = (
    "INSERT INTO view_stamps (account_id, stamp) {rows} "
    "ON CONFLICT (account_id) DO UPDATE SET stamp = stamp + 1;"
)
BUMP_PG = (
    "INSERT INTO view_stamps (account_id, stamp) "
    "SELECT a, 1 FROM ({rows}) AS s WHERE a IS NOT NULL GROUP BY a ORDER BY a "
    "ON CONFLICT (account_id) DO UPDATE SET stamp = view_stamps.stamp + 1"
)
PG_NEXT_STAMP = """
CREATE FUNCTION agora_next_change_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.change_stamp := OLD.change_stamp + 1;
  RETURN NEW;
END $$
"""
PG_POLL = """
CREATE FUNCTION agora_poll_page_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE posts SET change_stamp = change_stamp + 1 WHERE id = NEW.post_id;
  RETURN NULL;
END $$
"""

PUBLIC_SHARDS = 16  # view_stamps rows -1 .. -16: public posts, by id (see the docstring)
PUBLIC_SHARD = f"-1 - (NEW.id % {PUBLIC_SHARDS})"
MODERATED = "accounts_moderation_page_stamp"
MODERATION = (
    "NEW.suspended_at IS DISTINCT FROM OLD.suspended_at "
    "OR NEW.silenced_at IS DISTINCT FROM OLD.silenced_at"
)
BUMP_SERVER = (
    f"INSERT INTO view_stamps (account_id, stamp) VALUES ({SERVER}, 1) "
    "ON CONFLICT (account_id) DO UPDATE SET stamp = view_stamps.stamp + 1"
)
PG_SERVER = f"""
CREATE FUNCTION agora_server_page_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  {BUMP_SERVER};
  RETURN NULL;
END $$
"""
PG_NEW_POST = f"""
CREATE FUNCTION agora_new_post_page_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE accounts SET change_stamp = change_stamp + 1 WHERE id = NEW.account_id;
  IF NEW.quote_of_id IS NOT NULL THEN
    UPDATE posts SET change_stamp = change_stamp + 1 WHERE id = NEW.quote_of_id;
  END IF;
  IF NEW.visibility = 0 THEN
    INSERT INTO view_stamps (account_id, stamp) VALUES ({PUBLIC_SHARD}, 1)
    ON CONFLICT (account_id) DO UPDATE SET stamp = view_stamps.stamp + 1;
  END IF;
  RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "view_stamps",
        sa.Column("account_id", ID, autoincrement=False, nullable=False),
        sa.Column("stamp", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_id"),
    )
    for table in STAMPED:
        op.add_column(
            table, sa.Column("change_stamp", sa.BigInteger(), nullable=False, server_default="0")
        )
    # the few accounts above the fan-out threshold, found without reading every follow
    op.create_index("ix_accounts_followers_count", "accounts", ["followers_count"])
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_triggers()
    else:
        _postgresql_triggers()


def _sources(table: str, row: str) -> list[str]:
    """SELECTs of the account ids a changed row (`row`: NEW / OLD, or a transition table's
    name on PostgreSQL) changes the view of."""
    if table in SERVER_TABLES:
        return [f"SELECT {SERVER} AS a"]
    if table in OWNED:
        parent, link, owner = OWNED[table]
        if row in ("NEW", "OLD"):
            return [f"SELECT {owner} AS a FROM {parent} WHERE id = {row}.{link}"]
        return [f"SELECT p.{owner} AS a FROM {row} JOIN {parent} p ON p.id = {row}.{link}"]
    if row in ("NEW", "OLD"):
        return [f"SELECT {row}.{column} AS a" for column in VIEWERS[table]]
    return [f"SELECT {column} AS a FROM {row}" for column in VIEWERS[table]]


def _viewer_tables() -> list[str]:
    return [*VIEWERS, *OWNED, *SERVER_TABLES]


def _sqlite_triggers() -> None:
    for table in STAMPED:
        op.execute(
            f"CREATE TRIGGER {table}_page_stamp AFTER UPDATE ON {table} "
            "WHEN NEW.change_stamp = OLD.change_stamp "
            f"BEGIN UPDATE {table} SET change_stamp = change_stamp + 1 WHERE id = NEW.id; END"
        )
    op.execute(
        "CREATE TRIGGER polls_page_stamp AFTER UPDATE ON polls "
        "BEGIN UPDATE posts SET change_stamp = change_stamp + 1 WHERE id = NEW.post_id; END"
    )
    for trigger, event in NEW_POST_EVENTS.items():
        op.execute(
            f"CREATE TRIGGER {trigger} AFTER {event} ON posts BEGIN UPDATE accounts "
            "SET change_stamp = change_stamp + 1 WHERE id = NEW.account_id; "
            "UPDATE posts SET change_stamp = change_stamp + 1 WHERE id = NEW.quote_of_id; "
            f"INSERT INTO view_stamps (account_id, stamp) SELECT {PUBLIC_SHARD}, 1 "
            "WHERE NEW.visibility = 0 "
            "ON CONFLICT (account_id) DO UPDATE SET stamp = stamp + 1; END"
        )
    op.execute(
        f"CREATE TRIGGER {MODERATED} AFTER UPDATE OF suspended_at, silenced_at ON accounts "
        f"WHEN {MODERATION.replace('IS DISTINCT FROM', 'IS NOT')} "
        f"BEGIN {BUMP_SERVER.replace('view_stamps.stamp', 'stamp')}; END"
    )
    for table in _viewer_tables():
        for event in EVENTS:
            rows = (
                ("NEW",) if event == "INSERT" else ("OLD",) if event == "DELETE" else ("NEW", "OLD")
            )
            body = " ".join(
                BUMP_SQLITE.format(rows=_sqlite_rows(source))
                for row in rows
                for source in _sources(table, row)
            )
            op.execute(
                f"CREATE TRIGGER {table}_{event.lower()}_page_stamp AFTER {event} ON {table} "
                f"BEGIN {body} END"
            )


def _sqlite_rows(source: str) -> str:
    """A trigger's SELECT as an upsert's rows (SQLite needs a WHERE before ON CONFLICT)."""
    select = source.replace(" AS a", ", 1")
    return select if " WHERE " in select else f"{select} WHERE true"


def _postgresql_triggers() -> None:
    op.execute(PG_NEXT_STAMP)
    op.execute(PG_POLL)
    for table in STAMPED:
        op.execute(
            f"CREATE TRIGGER {table}_page_stamp BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION agora_next_change_stamp()"
        )
    op.execute(
        "CREATE TRIGGER polls_page_stamp AFTER UPDATE ON polls "
        "FOR EACH ROW EXECUTE FUNCTION agora_poll_page_stamp()"
    )
    op.execute(PG_NEW_POST)
    op.execute(PG_SERVER)
    op.execute(
        f"CREATE TRIGGER {MODERATED} AFTER UPDATE OF suspended_at, silenced_at ON accounts "
        f"FOR EACH ROW WHEN ({MODERATION}) EXECUTE FUNCTION agora_server_page_stamp()"
    )
    for trigger, event in NEW_POST_EVENTS.items():
        when = "" if event == "INSERT" else " WHEN (NEW.render_version <> OLD.render_version)"
        op.execute(
            f"CREATE TRIGGER {trigger} AFTER {event.split()[0]} ON posts FOR EACH ROW{when} "
            "EXECUTE FUNCTION agora_new_post_page_stamp()"
        )
    for table in _viewer_tables():
        for event in EVENTS:
            tables = {"INSERT": ("new_rows",), "DELETE": ("old_rows",)}.get(
                event, ("new_rows", "old_rows")
            )
            referencing = " ".join(
                f"{'NEW' if t == 'new_rows' else 'OLD'} TABLE AS {t}" for t in tables
            )
            rows = " UNION ALL ".join(s for t in tables for s in _sources(table, t))
            name = f"agora_{table}_{event.lower()}_page_stamp"
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {BUMP_PG.format(rows=rows)}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {table}_{event.lower()}_page_stamp AFTER {event} ON {table} "
                f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
            )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in _viewer_tables():
        for event in EVENTS:
            trigger = f"{table}_{event.lower()}_page_stamp"
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}" + ("" if sqlite else f" ON {table}"))
            if not sqlite:
                op.execute(f"DROP FUNCTION IF EXISTS agora_{trigger}()")
    stamped = [(t, f"{t}_page_stamp") for t in (*STAMPED, "polls")]
    moderated = [("accounts", MODERATED)]
    for table, trigger in [*stamped, *(("posts", t) for t in NEW_POST_EVENTS), *moderated]:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}" + ("" if sqlite else f" ON {table}"))
    if not sqlite:
        op.execute("DROP FUNCTION IF EXISTS agora_server_page_stamp()")
        op.execute("DROP FUNCTION IF EXISTS agora_new_post_page_stamp()")
        op.execute("DROP FUNCTION IF EXISTS agora_poll_page_stamp()")
        op.execute("DROP FUNCTION IF EXISTS agora_next_change_stamp()")
    op.drop_index("ix_accounts_followers_count", table_name="accounts")
    for table in STAMPED:
        op.drop_column(table, "change_stamp")
    op.drop_table("view_stamps")
