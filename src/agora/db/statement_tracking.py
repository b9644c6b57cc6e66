"""Whether PgBouncer tracks the prepared statements of a connection made through it.

PgBouncer 1.21 and later, with `max_prepared_statements` above 0, keep protocol-level named
prepared statements across transactions in transaction mode: each statement a client prepares
is prepared on the server under PgBouncer's own name (`PGBOUNCER_<n>`, one per distinct query
text, shared by all clients), and again on any other server connection the client's next
transaction lands on. Agora then keeps its statement caches behind PgBouncer
(`AGORA_DATABASE_PGBOUNCER_PREPARED_STATEMENTS`, db/engine.py). An older PgBouncer, or one with
`max_prepared_statements = 0`, passes the client's names through unchanged, and named
statements fail at random there ("prepared statement ... does not exist" / "already exists",
whenever a transaction lands on another server connection).

`check_statement_tracking` tells them apart on a new connection, in two round trips and
without a transaction: it prepares a statement under a name of its own that asks the server
whether a statement of that very name exists, and which backend process answers. Renamed by
PgBouncer, the server knows it only as `PGBOUNCER_<n>`: none. Passed through, it is there (or,
executed on another server connection than the one that prepared it, missing: an error), and
the connection fails with `StatementsNotTracked`, whose message says what to set, rather than
requests failing now and then later. PostgreSQL reached directly (a replica not behind
PgBouncer, say) keeps the name too, but there named statements are safe: it is told apart by
the answering backend being the one the connection's start named (its BackendKeyData process
id; PgBouncer hands each client a random one of its own).
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

# which backend answers, and whether it knows a prepared statement by the name given (its own,
# when it is prepared under that name); the same text for every probe, so PgBouncer prepares it
# once per server connection
PROBE = "SELECT pg_backend_pid(), EXISTS (SELECT FROM pg_prepared_statements WHERE name = $1)"


class StatementsNotTracked(RuntimeError):
    """A connection made for PgBouncer's prepared statement tracking reached a pooler that
    does not track them (PgBouncer older than 1.21, or `max_prepared_statements = 0`)."""


async def check_statement_tracking(connection: Any) -> None:
    """Raise `StatementsNotTracked` if `connection` (asyncpg) goes through a pooler that
    passes statement names through to the server; return if PgBouncer rewrites them, or if
    it reaches PostgreSQL directly. Two round trips (prepare, execute), outside any
    transaction; the probe's statement is left to asyncpg to close."""
    name = f"agora_probe_{uuid4().hex}"
    try:
        statement = await connection.prepare(PROBE, name=name)
        backend, known = await statement.fetchrow(name)
    except Exception as exc:  # asyncpg's InvalidSQLStatementNameError: prepared elsewhere
        raise StatementsNotTracked(_advice(f"the probe failed: {exc!r}")) from exc
    if known and backend != connection.get_server_pid():
        raise StatementsNotTracked(_advice("the server knows the probe by the client's name"))


def _advice(found: str) -> str:
    return (
        f"{found}: this PgBouncer does not track prepared statements (1.21 or later with "
        "max_prepared_statements > 0 does). Set max_prepared_statements in pgbouncer.ini, or "
        "AGORA_DATABASE_PGBOUNCER_PREPARED_STATEMENTS=false for an older PgBouncer."
    )
