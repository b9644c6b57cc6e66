"""bench/topology.py's fault bookkeeping, with real processes (both passes, seconds): a fault
whose process comes back is recorded with no error; one whose process exits as it starts is
recorded with that error, and the `every_fault_recovered` check fails on it, as it does on a
fault missing from the run (the CI failure that lost "kill -9 web-1" with no reason) and on a
process that exited after its fault (a worker has no readiness to wait for)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from live_server import free_port

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is not installed
from bench.topology import FAULT_NAMES, Process, _kill_and_restart, _port_ready, _timed, recovered

FAULTS_ON = argparse.Namespace(no_faults=False, single_sqlite=False)


def _server(logs: Path) -> Process:
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    return Process("web-1", command, {}, logs, ready=_port_ready(port))


def test_a_killed_process_that_comes_back_is_a_recovered_fault(tmp_path: Path) -> None:
    web = _server(tmp_path)
    web.start()
    try:
        first = web.popen
        fault = _timed(FAULT_NAMES[0], _kill_and_restart(web))
        assert fault.error == ""
        assert web.popen is not first and web.popen is not None and web.popen.poll() is None
        assert first is not None and first.returncode == -9
        assert fault.recovered >= fault.started
        others = [_timed(name, lambda: None) for name in FAULT_NAMES[1:]]
        assert recovered([fault, *others], FAULTS_ON, [web]) == {
            "ok": True, "done": 4, "missing": [], "errors": {}, "exited": [],
        }  # fmt: skip
    finally:
        web.stop()


def test_a_process_that_exits_as_it_starts_fails_the_check_with_its_error(tmp_path: Path) -> None:
    web = _server(tmp_path)
    web.start()
    try:
        web.command = [sys.executable, "-c", "print('startup failed'); raise SystemExit(3)"]
        fault = _timed(FAULT_NAMES[0], _kill_and_restart(web))
        assert fault.error.startswith("RuntimeError: web-1 exited with 3")
        assert "startup failed" in fault.error  # the end of its log comes with it
        others = [_timed(name, lambda: None) for name in FAULT_NAMES[1:]]
        check = recovered([fault, *others], FAULTS_ON, [web])
        assert not check["ok"] and check["errors"] == {FAULT_NAMES[0]: fault.error}
        assert check["exited"] == ["web-1"]
    finally:
        web.stop()


def test_a_fault_missing_from_the_run_fails_the_check() -> None:
    done = [_timed(name, lambda: None) for name in FAULT_NAMES[1:]]
    check = recovered(done, FAULTS_ON, [])
    assert not check["ok"] and check["missing"] == [FAULT_NAMES[0]]
    quiet = argparse.Namespace(no_faults=True, single_sqlite=False)
    assert recovered([], quiet, [])["ok"]


def test_a_process_that_exited_after_its_fault_fails_the_check(tmp_path: Path) -> None:
    """A worker is started again with nothing to ask whether it is ready (its fault has no
    error); if it exits afterwards (its start failed), the check fails on it."""
    worker = Process("worker-1", [sys.executable, "-c", "raise SystemExit(1)"], {}, tmp_path)
    fault = _timed(FAULT_NAMES[1], lambda: worker.start())
    assert fault.error == ""
    assert worker.popen is not None and worker.popen.wait(60) == 1
    done = [fault, *(_timed(name, lambda: None) for name in FAULT_NAMES if name != fault.name)]
    check = recovered(done, FAULTS_ON, [worker])
    assert not check["ok"] and check["exited"] == ["worker-1"] and not check["errors"]
