"""Background jobs that give way to requests: a web process's own job worker runs
`BACKGROUND_KINDS` (job_kinds.py) on the CPU its requests leave, and a long one stops early
when requests come in.

Invariants:
- `giving_way(busy)` is set by the worker (jobs/worker.py) around a background job it runs
  with a `busy`: in a web process, that process's (requests being answered, or answered in
  the last moments: app.py); in an `agora worker`, the machine's (its other processes keep
  its cores busy: jobs/machine_load.py); nowhere else (the CLI, tests) is it set.
- `should_give_way()` is what a background job asks between its units of work (For You's
  people, for_you_precompute.py): True only inside `giving_way` while `busy()` holds. A job
  that stops early must leave a correct state and say that more is due, so that its next run
  does the rest; it never waits (its lease would run out meanwhile).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_BUSY: ContextVar[Callable[[], bool] | None] = ContextVar("agora_give_way_to", default=None)


@contextmanager
def giving_way(busy: Callable[[], bool]) -> Iterator[None]:
    """Inside: a background job run here gives way to requests while `busy()` holds."""
    token = _BUSY.set(busy)
    try:
        yield
    finally:
        _BUSY.reset(token)


def should_give_way() -> bool:
    """Whether the background job running now should stop after its current unit of work:
    it runs in a web process that is answering requests."""
    busy = _BUSY.get()
    return busy is not None and busy()
