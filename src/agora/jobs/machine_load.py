"""Whether the machine's other processes keep its CPUs busy: what an `agora worker` asks
before it claims background kinds, and while one runs (jobs/worker.py, jobs/courtesy.py),
as a web process's own workers ask whether it answers requests.

A worker on the machine of the web processes and the database otherwise takes the CPU their
requests need for work no one waits on (For You's candidate sets, trends); a worker on a
machine of its own finds it idle and runs them at once.

Invariants:
- read from Linux's `/proc/stat` (every process's CPU time, the machine's) less this
  process's own (`os.times`), over at least `every` seconds: the first call, and a machine
  without `/proc/stat`, say "not busy" (as before this module: background kinds run at once);
- busy means the others used at least `share` of all the machine's cores over the last
  interval (steal and I/O wait are not use);
- cheap enough for every claim: one small file read per `every` seconds, nothing between.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PROC_STAT = Path("/proc/stat")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_cpu_seconds(stat: Path = PROC_STAT) -> tuple[float, int] | None:
    """The CPU time every process of the machine has used since it started (user, nice,
    system, irq, softirq; in seconds) and its number of cores, from `/proc/stat`; None
    where it cannot be read."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    fields = lines[0].split() if lines else []
    if not fields or fields[0] != "cpu" or len(fields) < 8:
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[1:8])
    cores = sum(1 for line in lines[1:] if line.startswith("cpu") and line[3:4].isdigit())
    return (user + nice + system + irq + softirq) / TICKS, max(1, cores)


def own_cpu_seconds() -> float:
    """This process's CPU time (user and system, all its threads), in seconds."""
    times = os.times()
    return times.user + times.system


class OthersBusy:
    """A callable: whether the machine's other processes used at least `share` of its cores
    over the last `every` seconds or more (module docstring)."""

    def __init__(self, share: float = 0.5, every: float = 0.5, stat: Path = PROC_STAT) -> None:
        self.share = share
        self.every = every
        self._stat = stat
        self._last: tuple[float, float, float] | None = None  # monotonic, machine, own
        self._busy = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if self._last is not None and now - self._last[0] < self.every:
            return self._busy
        found = machine_cpu_seconds(self._stat)
        if found is None:
            return False
        machine, cores = found
        own = own_cpu_seconds()
        if self._last is not None:
            at, machine_before, own_before = self._last
            others = (machine - machine_before) - (own - own_before)
            self._busy = others >= self.share * cores * (now - at)
        self._last = (now, machine, own)
        return self._busy
