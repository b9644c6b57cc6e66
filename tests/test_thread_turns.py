"""thread_turns.py: the switch interval is a started process's, never an import's.

What it buys is measured, not asserted here: how soon a thread wins the GIL depends on the
machine's load (with the other core busy, the OS deschedules the loop's thread and the
waiter runs anyway), so a test of it would pass or fail with the machine. bench/README.md
("Stop 25") has the figures: SQLite's statements beside a busy event loop, and the
topology's p99s, with CPython's 5 ms and with `GIL_SWITCH_SECONDS`.
"""

from __future__ import annotations

import subprocess
import sys

from agora.thread_turns import GIL_SWITCH_SECONDS, give_threads_their_turn


def test_importing_the_app_keeps_cpython_s_interval():
    code = "import sys, agora.app, agora.cli.main; print(sys.getswitchinterval())"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    assert float(found.stdout) == 0.005  # CPython's default


def test_giving_threads_their_turn_sets_the_interval_to_ours():
    default = sys.getswitchinterval()
    try:
        give_threads_their_turn()
        assert abs(sys.getswitchinterval() - GIL_SWITCH_SECONDS) < 1e-6  # kept in microseconds
    finally:
        sys.setswitchinterval(default)
