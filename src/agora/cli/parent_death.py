"""Server processes that exit with the process that started them.

`agora serve --workers N` is a uvicorn supervisor with N children that share its listening
socket. If the supervisor is killed (`kill -9`, the OOM killer), orphaned children would go on
serving and hold the port: a restart then fails with "address already in use". Each child
therefore asks the kernel for SIGTERM when its parent dies (Linux's PR_SET_PDEATHSIG), and
checks once that the parent it was started by is still its parent (it may have died before
the request). Elsewhere a thread polls the parent's pid each second instead.

SIGTERM is uvicorn's graceful stop: the child closes its streams and its job loops and exits.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

SUPERVISOR_PID = "AGORA_SUPERVISOR_PID"  # set by `agora serve` for its children
PR_SET_PDEATHSIG = 1


def _stop_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    _stop_self()


def die_with_parent() -> None:
    """Make this process receive SIGTERM when the process that started it dies. A no-op
    outside a supervised child (SUPERVISOR_PID unset)."""
    expected = int(os.environ.get(SUPERVISOR_PID) or 0)
    if not expected:
        return
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    else:
        threading.Thread(target=_watch, args=(expected,), daemon=True).start()
    if os.getppid() != expected:  # the parent died before the request above
        _stop_self()
