"""How soon a thread waiting for the GIL gets it while the event loop's thread is busy: what
a started `agora serve` or `agora worker` sets once (`give_threads_their_turn`).

Work that runs in threads beside the event loop needs the GIL back after each call into C:
every SQLite statement (aiosqlite runs each in its connection's thread, and takes the GIL
again after every step of it), `asyncio.to_thread` work (images, password hashes). The
loop's thread lets go of the GIL for an instant at each poll for I/O and takes it back at
once, which restarts a waiting thread's wait; CPython forces a hand-over only when a waiter
has waited a whole switch interval (5 ms by default) with no hand-over at all, so under load
such a thread waits about that long for each step, many times per statement.

Invariant: set only by started processes (app.py's lifespan when it migrates, the worker
command), never at import: tests and tools keep CPython's default.
"""

from __future__ import annotations

import sys

# How long a thread waiting for the GIL waits before the running thread is asked to let go.
GIL_SWITCH_SECONDS = 0.00005


def give_threads_their_turn() -> None:
    """Make a thread that waits for the GIL get it within `GIL_SWITCH_SECONDS`. On a SQLite
    server answering kept pages (10k people / 1M posts, public timeline, 8 connections), once
    pages began to expire those that needed statements made the p99 of all requests 46 to
    69 ms, their statements taking 10 to 30 times their own CPU; with 50 us it was 4 to 8 ms,
    for about 5 % fewer requests a second while every page was kept (bench/README.md)."""
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
