"""The PostgreSQL session settings every direct connection of Agora's starts with (the
engine's, the replica's and the row reader's: db/engine.py, db/row_reader.py).

Behind PgBouncer in transaction mode no startup setting may be sent (PgBouncer refuses
unknown startup parameters): set `connection_settings` on the role or database instead
(`ALTER DATABASE agora SET plan_cache_mode = force_generic_plan`, ...: docs/OPERATIONS.md;
tests/postgres_cluster.py does it for the tests and the topology benchmarks).

- `jit = off`: with real statistics the planner prices the rule's subqueries per row so high
  that a page's short read passed `jit_above_cost`, and compiling it took ~75 ms (a grouped
  notifications page: 15 -> 100 ms after an ANALYZE).
- `plan_cache_mode = force_generic_plan`: a prepared statement (asyncpg keeps them per
  connection) is planned once, for any parameters. Agora's statements are built once per
  shape from its rules and differ only in their parameters; under PostgreSQL's default
  (`auto`: planned with the parameters at each of the first five executions, then again
  whenever the generic plan looks dearer than those) the hot reads were planned again at
  every execution, a generic plan priced with unknown parameters looking dearer: on 10k
  people / 1M posts the home, public, hashtag and context reads spent 2 to 7 ms planning
  for 0.2 to 0.9 ms of work (tests/test_statement_plans.py; docs/OPERATIONS.md, PgBouncer).
"""

from __future__ import annotations

PLANNER_SETTINGS: dict[str, str] = {"jit": "off", "plan_cache_mode": "force_generic_plan"}


def connection_settings(lock_timeout: float) -> dict[str, str]:
    """`PLANNER_SETTINGS` and `lock_timeout` (seconds, given to PostgreSQL in milliseconds):
    what a direct connection of the engine starts with, and what to set on the role or
    database behind PgBouncer."""
    return {"lock_timeout": str(int(lock_timeout * 1000)), **PLANNER_SETTINGS}
