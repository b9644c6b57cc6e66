"""account moves: `accounts.moved_at`, when the account last moved (the 30-day cool-down)

The column is rendered (the Account entity's `moved` changes with it), so the accounts'
render-version triggers of migration 0025 are recreated with it.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-05 23:20:00
"""

import sqlalchemy as sa
from alembic import op

import agora.db.models

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None

BEFORE = (
    "id, username, username_lower, display_name, note, note_html, fields, locked, bot, "
    "discoverable, hide_collections, no_bot, created_at, suspended_at, silenced_at, "
    "moved_to_account_id, also_known_as, deleted_at, data_reuse, avatar_file, header_file, "
    "domain, uri, url, inbox_url, shared_inbox_url, followers_url, public_key_pem, fetched_at, "
    "avatar_remote_url, header_remote_url"
)
AFTER = BEFORE + ", moved_at"


def _triggers(columns: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS accounts_render_version")
        op.execute(
            f"CREATE TRIGGER accounts_render_version AFTER UPDATE OF {columns} ON accounts "
            "BEGIN UPDATE accounts SET render_version = render_version + 1 "
            "WHERE id = NEW.id; END"
        )
    else:
        op.execute("DROP TRIGGER IF EXISTS accounts_render_version ON accounts")
        op.execute(
            f"CREATE TRIGGER accounts_render_version BEFORE UPDATE OF {columns} ON accounts "
            "FOR EACH ROW EXECUTE FUNCTION agora_next_render_version()"
        )


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("moved_at", agora.db.models.UTCDateTime(timezone=True), nullable=True),
    )
    _triggers(AFTER)


def downgrade() -> None:
    _triggers(BEFORE)
    op.drop_column("accounts", "moved_at")
