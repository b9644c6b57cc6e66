"""jobs/machine_load.py: an `agora worker` leaves background kinds while the machine's other
processes keep its cores busy, read from the real /proc/stat (or a file in its format)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agora.jobs import queue
from agora.jobs.job_kinds import JobKind
from agora.jobs.machine_load import TICKS, OthersBusy, machine_cpu_seconds
from agora.jobs.worker import Worker

LINUX = Path("/proc/stat").exists()


def _stat(path: Path, busy_ticks: int, cores: int = 2) -> None:
    """A /proc/stat of `cores` cores whose processes have used `busy_ticks` (user)."""
    lines = [f"cpu  {busy_ticks} 0 0 1000000 0 0 0 0 0 0"]
    lines += [f"cpu{i} 0 0 0 0 0 0 0 0 0 0" for i in range(cores)]
    path.write_text("\n".join([*lines, "intr 1", "ctxt 2", ""]))


@pytest.mark.skipif(not LINUX, reason="reads Linux's /proc/stat")
def test_machine_cpu_time_and_cores_come_from_proc_stat() -> None:
    found = machine_cpu_seconds()
    assert found is not None
    seconds, cores = found
    assert cores == os.cpu_count() and seconds > 0


@pytest.mark.skipif(not LINUX, reason="reads Linux's /proc/stat")
def test_busy_while_other_processes_burn_every_core() -> None:
    busy = OthersBusy(every=0.2)
    assert busy() is False  # the first reading has nothing to compare with
    burners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        time.sleep(0.5)  # the burners start
        busy()
        time.sleep(0.5)
        assert busy() is True
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


def test_the_machine_s_use_above_the_share_is_busy_and_own_use_is_not(tmp_path: Path) -> None:
    """Over an interval, the others' use (the machine's less this process's) against
    `share` of all cores; between readings the last answer stands."""
    stat = tmp_path / "stat"
    _stat(stat, 0)
    busy = OthersBusy(share=0.5, every=0.2, stat=stat)
    assert busy() is False
    started = time.monotonic()
    while time.monotonic() - started < 0.3:  # this process burns: the machine shows none
        pass
    assert busy() is False
    time.sleep(0.3)
    _stat(stat, 2 * 5 * TICKS)  # both cores for 5 s: more than the interval took
    assert busy() is True
    _stat(stat, 0)  # not read again within `every`: the last answer stands
    assert busy() is True
    _stat(stat, 2 * 5 * TICKS)  # nothing used since the last reading
    time.sleep(0.25)
    assert busy() is False


def test_a_machine_without_proc_stat_is_never_busy(tmp_path: Path) -> None:
    busy = OthersBusy(every=0.0, stat=tmp_path / "missing")
    assert busy() is False and busy() is False


async def test_an_agora_worker_on_a_busy_machine_leaves_background_kinds(db, tmp_path) -> None:
    """The worker `agora worker` makes (`busy=OthersBusy()`) claims a due For You refresh
    only once the machine is not busy."""
    from sqlalchemy import select

    from agora.db.models import Job
    from agora.job_registry import register_all_jobs

    register_all_jobs()
    async with db.transaction() as session:
        await session.execute(Job.__table__.delete())
        queue.enqueue(session, JobKind.REFRESH_FOR_YOU, {})
    stat = tmp_path / "stat"
    _stat(stat, 0)
    busy = OthersBusy(every=0.1, stat=stat)
    busy()
    time.sleep(0.15)
    _stat(stat, 2 * 100 * TICKS)
    worker = Worker(db, busy=busy)
    assert busy() is True

    async def job_ids() -> set[int]:
        async with db.session() as session:
            return set(await session.scalars(select(Job.id)))

    [refresh] = await job_ids()
    assert await worker.run_once() == 0  # busy: the refresh waits
    assert await job_ids() == {refresh}
    time.sleep(0.15)  # nothing more used since: idle
    assert await worker.run_once() == 1
    assert refresh not in await job_ids()  # ran (and queued its next run, later)
