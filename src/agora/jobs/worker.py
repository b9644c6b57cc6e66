"""Workers that drain the job table: in-process by default, or `agora worker` processes.

A worker runs one job, or one batch, at a time, except for the batches of a kind whose slow
phases wait on other servers (jobs/queue.py `CONCURRENT`: deliveries): up to `IN_FLIGHT` of
those run in the background while the worker claims and runs more, so a batch held up by a
server that never answers (its requests' timeout) holds up no other job. Each background
batch is an ordinary `run_batch`, its jobs leased and their leases renewed while it runs, so
a worker that dies loses none of them; `run_until_idle` and `run_forever`'s end wait for them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from agora.db.engine import Database
from agora.db.sqlite_one_trip import handing_over
from agora.jobs.courtesy import giving_way
from agora.jobs.job_kinds import BACKGROUND_KINDS
from agora.jobs.queue import (
    CONCURRENT,
    LEASE_SECONDS,
    WAKE_KEY,
    ClaimedJob,
    Deferral,
    claim_next,
    run_batch,
    run_claimed,
    sample_depth,
)

log = logging.getLogger("agora.jobs")
BACKGROUND_OVERDUE = timedelta(minutes=10)  # a busy web process runs background kinds anyway
IN_FLIGHT = 16  # batches of a concurrent kind one worker runs in the background at once
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
    interval. With `busy` (a web process's own workers: whether it is answering requests;
    an `agora worker`'s: whether the machine's other processes keep its cores busy,
    jobs/machine_load.py), `BACKGROUND_KINDS` are claimed only while it is not, or once
    `BACKGROUND_OVERDUE`: their CPU then does not compete with requests, and they still run
    on a server that is never idle; while one runs, it stops early when `busy` holds
    (jobs/courtesy.py)."""

    def __init__(
        self,
        db: Database,
        *,
        batch: int = 20,
        lease_seconds: int = LEASE_SECONDS,
        poll: float = 1.0,
        busy: Callable[[], bool] | None = None,
        in_flight: int = IN_FLIGHT,
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
        self.in_flight = in_flight
        self._flying: set[asyncio.Task[None]] = set()

    async def run_once(self) -> int:
        """Run due jobs, claiming each (or each batch) just before it runs, until about
        `batch` have run or none is due; returns how many were claimed. A batch of a
        concurrent kind is started in the background (module docstring), once fewer than
        `in_flight` are. On SQLite, each write transaction of these jobs wakes at once the
        requests of this process waiting for the write lock (`handing_over`)."""
        with handing_over():
            return await self._run_due()

    async def _run_due(self) -> int:
        ran = 0
        while ran < self.batch:
            while len(self._flying) >= self.in_flight:
                await asyncio.wait(self._flying, return_when=asyncio.FIRST_COMPLETED)
            defer = self._defer if self.busy is not None and self.busy() else None
            jobs = await claim_next(self.db, self.id, self.lease_seconds, defer)
            if not jobs:
                break
            if len(jobs) > 1 and jobs[0].kind in CONCURRENT:
                task = asyncio.create_task(self._run_batch(jobs))
                self._flying.add(task)
                task.add_done_callback(self._flying.discard)
            elif len(jobs) == 1:
                with self._courtesy(jobs[0].kind):
                    ok = await run_claimed(self.db, jobs[0], self.id, self.lease_seconds)
                self._tally(1, int(ok))
            else:
                await self._run_batch(jobs)
            ran += len(jobs)
        return ran

    def _courtesy(self, kind: str) -> AbstractContextManager[None]:
        """A background kind run by a worker with `busy` gives way while it holds
        (jobs/courtesy.py); anything else runs as it is."""
        if self.busy is not None and kind in BACKGROUND_KINDS:
            return giving_way(self.busy)
        return nullcontext()

    async def _run_batch(self, jobs: list[ClaimedJob]) -> None:
        try:
            ok = await run_batch(self.db, jobs, self.id, self.lease_seconds)
        except Exception:  # its jobs' leases run out and they are claimed again
            log.exception("worker: a batch failed")
            ok = 0
        self._tally(len(jobs), ok)

    def _tally(self, claimed: int, ok: int) -> None:
        self.processed += ok
        self.failed += claimed - ok

    async def _landed(self) -> None:
        """Wait for every background batch to end."""
        while self._flying:
            await asyncio.wait(self._flying)

    async def run_until_idle(self, max_rounds: int = 10_000) -> int:
        """Run until no job is due and no batch runs in the background (tests and the CLI use
        this). Returns jobs run."""
        total = 0
        for _ in range(max_rounds):
            claimed = await self.run_once()
            if not claimed:
                if not self._flying:
                    break
                await asyncio.wait(self._flying, return_when=asyncio.FIRST_COMPLETED)
            total += claimed
        await self._landed()
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
                await _wait_any(self._wake, stop, self.poll, self._flying)
        finally:
            _wake_events.discard(self._wake)
            await self._landed()

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


async def _wait_any(
    a: asyncio.Event, b: asyncio.Event, timeout: float, flying: set[asyncio.Task[None]]
) -> Any:
    """Wait for either event, the end of a background batch (room for another), or `timeout`."""
    tasks = [asyncio.create_task(a.wait()), asyncio.create_task(b.wait())]
    try:
        await asyncio.wait([*tasks, *flying], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
