"""The two tools that keep check-then-write code correct under concurrency.

- `lock_account`: a write that checks an account's rows before it writes (a limit such as
  five pins, "one mute per target", a read-modify-write of the account's markers) first
  locks that account, in its own transaction, before the check. Concurrent writers for the
  same account then run one after the other and each sees what the previous one committed.
  On PostgreSQL this is `SELECT ... FOR NO KEY UPDATE` on the account row, held until commit
  or rollback; it does not block inserts of rows that merely reference the account (foreign
  keys take `FOR KEY SHARE`), so other people's likes, follows or replies never wait for it.
  On SQLite it is nothing: write sessions `BEGIN IMMEDIATE` (db/engine.py), so only one
  writer runs at a time anyway.
- `unique_columns`: which unique key an `IntegrityError` violated, on both backends, so a
  write that relies on a unique constraint (a username, an e-mail) can say what was taken
  (see social/rules/limits.py, `unique_or_invalid`).
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")
_PG_KEY = re.compile(r"Key \(([^)]+)\)=")


async def lock_account(session: AsyncSession, account_id: int) -> None:
    """Serialise this transaction with every other one that locks the same account, until it
    commits or rolls back. Call it before reading what the write depends on."""
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite write sessions hold the database's write lock from BEGIN
    await session.execute(
        select(Account.id).where(Account.id == account_id).with_for_update(key_share=True)
    )


def unique_columns(exc: IntegrityError) -> tuple[str, ...] | None:
    """The columns of the unique key `exc` violated (without the table name), or None when
    it is another kind of integrity error (a foreign key, a NOT NULL...)."""
    cause = exc.orig.__cause__ if exc.orig is not None else None
    if getattr(cause, "sqlstate", None) == "23505":  # asyncpg's UniqueViolationError
        found = _PG_KEY.search(getattr(cause, "detail", None) or "")
        return tuple(c.strip() for c in found.group(1).split(",")) if found else ()
    found = _SQLITE_UNIQUE.search(str(exc.orig))
    if found is None:
        return None
    return tuple(c.strip().rsplit(".", 1)[-1] for c in found.group(1).split(","))
