"""Workers that drain the job table: in-process by default, or `agora worker` processes."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from agora.db.engine import Database
from agora.jobs.queue import WAKE_KEY, claim, run_claimed

log = logging.getLogger("agora.jobs")
_wake_events: set[asyncio.Event] = set()


@event.listens_for(Session, "after_commit")
def _wake_workers(session: Session) -> None:
    """Wake in-process workers as soon as a transaction that enqueued jobs commits."""
    if session.info.pop(WAKE_KEY, False):
        for ev in list(_wake_events):
            ev.set()


class Worker:
    """Claims due jobs in batches and runs them; sleeps until woken or the poll interval."""

    def __init__(
        self, db: Database, *, batch: int = 20, lease_seconds: int = 60, poll: float = 1.0
    ) -> None:
        self.db = db
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.poll = poll
        self.id = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake = asyncio.Event()
        self.processed = 0
        self.failed = 0

    async def run_once(self) -> int:
        """Claim and run one batch; returns how many jobs were claimed."""
        jobs = await claim(self.db, self.id, self.batch, self.lease_seconds)
        for job in jobs:
            ok = await run_claimed(self.db, job, self.id)
            self.processed += ok
            self.failed += not ok
        return len(jobs)

    async def run_until_idle(self, max_rounds: int = 10_000) -> int:
        """Run until no job is due (tests and the CLI use this). Returns jobs run."""
        total = 0
        for _ in range(max_rounds):
            claimed = await self.run_once()
            if not claimed:
                break
            total += claimed
        return total

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Loop until `stop` is set."""
        _wake_events.add(self._wake)
        try:
            while not stop.is_set():
                # Cleared before looking for jobs, not after: a commit that wakes us while a
                # claim is running (and misses its job) keeps the wake-up for the next round.
                self._wake.clear()
                try:
                    claimed = await self.run_once()
                except Exception:
                    log.exception("worker loop error")
                    claimed = 0
                if claimed:
                    continue
                await _wait_any(self._wake, stop, self.poll)
        finally:
            _wake_events.discard(self._wake)


async def _wait_any(a: asyncio.Event, b: asyncio.Event, timeout: float) -> Any:
    tasks = [asyncio.create_task(a.wait()), asyncio.create_task(b.wait())]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
