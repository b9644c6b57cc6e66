"""Workers that drain the job table: in-process by default, or `agora worker` processes."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from agora.db.engine import Database
from agora.jobs.job_kinds import BACKGROUND_KINDS
from agora.jobs.queue import (
    LEASE_SECONDS,
    WAKE_KEY,
    Deferral,
    claim_next,
    run_batch,
    run_claimed,
    sample_depth,
)

log = logging.getLogger("agora.jobs")
BACKGROUND_OVERDUE = timedelta(minutes=10)  # a busy web process runs background kinds anyway
_wake_events: set[asyncio.Event] = set()


@event.listens_for(Session, "after_commit")
def _wake_workers(session: Session) -> None:
    """Wake in-process workers as soon as a transaction that enqueued jobs commits."""
    if session.info.pop(WAKE_KEY, False):
        for ev in list(_wake_events):
            ev.set()


class Worker:
    """Runs due jobs one at a time (or one batch at a time, for kinds that run in batches),
    each claimed only when it is about to run (so a worker that dies holds nothing but the job
    or batch it was running, for at most its short lease); sleeps until woken or the poll
    interval. With `busy` (a web process's own workers: whether it is answering requests),
    `BACKGROUND_KINDS` are claimed only while it is not, or once `BACKGROUND_OVERDUE`: their
    CPU then does not compete with requests, and they still run on a server that is never
    idle."""

    def __init__(
        self,
        db: Database,
        *,
        batch: int = 20,
        lease_seconds: int = LEASE_SECONDS,
        poll: float = 1.0,
        busy: Callable[[], bool] | None = None,
    ) -> None:
        self.db = db
        self.busy = busy
        self._defer = Deferral(BACKGROUND_KINDS, BACKGROUND_OVERDUE)
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.poll = poll
        self.id = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._wake = asyncio.Event()
        self.processed = 0
        self.failed = 0
        self._sampled = float("-inf")

    async def run_once(self) -> int:
        """Run due jobs, claiming each (or each batch) just before it runs, until about
        `batch` have run or none is due; returns how many were claimed."""
        ran = 0
        while ran < self.batch:
            defer = self._defer if self.busy is not None and self.busy() else None
            jobs = await claim_next(self.db, self.id, self.lease_seconds, defer)
            if not jobs:
                break
            if len(jobs) == 1:
                ok = int(await run_claimed(self.db, jobs[0], self.id, self.lease_seconds))
            else:
                ok = await run_batch(self.db, jobs, self.id, self.lease_seconds)
            self.processed += ok
            self.failed += len(jobs) - ok
            ran += len(jobs)
        return ran

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
                await self._sample()
                await _wait_any(self._wake, stop, self.poll)
        finally:
            _wake_events.discard(self._wake)

    async def _sample(self) -> None:
        """Sample the queue's depth for the dashboard when idle, at most once a minute per
        worker (`queue.sample_depth` writes one row per bucket, whoever comes first)."""
        now = time.monotonic()
        if now - self._sampled < 60:
            return
        self._sampled = now
        try:
            await sample_depth(self.db)
        except Exception:
            log.exception("queue sample failed")


async def _wait_any(a: asyncio.Event, b: asyncio.Event, timeout: float) -> Any:
    tasks = [asyncio.create_task(a.wait()), asyncio.create_task(b.wait())]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
