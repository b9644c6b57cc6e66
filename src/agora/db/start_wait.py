"""A process that starts while its database cannot be reached for a moment waits for it.

`agora serve`, `agora init` and `agora worker` begin with statements (migrations, the
assistant account, the VAPID keys, an id node, the periodic jobs). If PgBouncer or PostgreSQL
is restarting just then (a restart takes seconds, and a web process killed under load takes
seconds more to import and start, so the two meet: the topology test's "kill -9 web-1"
followed by "restart pgbouncer"), the first statement is refused and, without this, the
process exits ("Application startup failed") and stays down unless a supervisor starts it
again. A Procfile runner does not; systemd does, two seconds later, and only if the next
try does not meet the same restart.

Invariants: only what `is_passing` calls passing is waited for: a
refused or dropped connection, a lock timeout, no pooled connection free; any other error
ends the start at once, as before. Every step given is safe to run again from its top (each
is idempotent, or, for an id node, claims a spare one). The wait is bounded
(`START_PATIENCE`): after it, the last error is raised and the process exits as before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from agora.db.engine import is_database_busy

log = logging.getLogger(__name__)
T = TypeVar("T")

START_PATIENCE = 120.0  # seconds a start waits for its database before giving up
FIRST_PAUSE = 0.25  # seconds before the first retry; doubled each time, up to LONGEST_PAUSE
LONGEST_PAUSE = 2.0


def is_passing(exc: BaseException) -> bool:
    """True for a failure that a database coming back cures: `is_database_busy`, or the
    socket errors of a driver's connect (refused, reset, timed out)."""
    return is_database_busy(exc) or isinstance(exc, (ConnectionError, TimeoutError))


async def once_reachable(
    step: Callable[[], Awaitable[T]], what: str, patience: float = START_PATIENCE
) -> T:
    """`step()`'s result, run again (after a pause growing from FIRST_PAUSE to LONGEST_PAUSE)
    while it fails because the database cannot be reached, for up to `patience` seconds;
    the last failure is raised after that, any other failure at once."""
    deadline = time.monotonic() + patience
    pause = FIRST_PAUSE
    while True:
        try:
            return await step()
        except Exception as exc:
            if not is_passing(exc) or time.monotonic() + pause > deadline:
                raise
            log.warning(
                "%s: the database cannot be reached (%s: %s); trying again in %.2f s",
                what,
                type(exc).__name__,
                exc,
                pause,
            )
        await asyncio.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE)
