"""`agora serve --workers 2` as real processes: /metrics sums the requests of both workers
(multiprocess mode), logs are JSON lines with request ids; when the supervisor is killed
with SIGKILL, its children exit too, the port is free within seconds and a new server starts
on it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import BACKEND
from live_server import free_port, wait_for

SLOW = 30.0  # seconds a request may take on a loaded machine (httpx's default is 5)
pytestmark = pytest.mark.skipif(
    BACKEND == "postgresql", reason="processes, not the database: run in the SQLite pass"
)


def _children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _workers(pid: int) -> set[int]:
    """The children of `pid` that are uvicorn's workers (multiprocessing's spawned processes),
    not multiprocessing's resource tracker, which is a child of the supervisor too."""
    found = set()
    for child in _children(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in command:
            found.add(child)
    return found


def _both_started(supervisor: int, log: Path) -> set[int] | None:
    """The two workers, once both have finished their start (two "Application startup
    complete." in the log) and are still the supervisor's workers: uvicorn replaces a
    worker that does not answer its health check within 5 s, which a loaded machine can
    cause while the worker imports."""
    if log.read_text(errors="replace").count("Application startup complete.") < 2:
        return None
    workers = _workers(supervisor)
    return workers if len(workers) == 2 else None


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _serve(port: int, workdir: Path, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AGORA_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'agora.db'}",
        "AGORA_MEDIA_DIR": str(workdir / "media"),
        "AGORA_BASE_URL": f"http://127.0.0.1:{port}",
        "AGORA_DOMAIN": f"127.0.0.1:{port}",
        "AGORA_LOG_LEVEL": "info",
        "AGORA_LOG_FORMAT": "json",
        "AGORA_METRICS_TOKEN": "scrape",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-m", "agora.cli.main", "serve", "--port", str(port)]
    log = open(workdir / f"serve-{workers}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [*command, "--workers", str(workers)], env=env, stdout=log, stderr=subprocess.STDOUT
    )


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/v1/agora/ping", timeout=1).is_success
    except httpx.TransportError:
        return False


def test_children_exit_with_a_killed_supervisor_and_the_port_is_free_again() -> None:
    port, workdir = free_port(), Path(tempfile.mkdtemp(prefix="agora-workers-"))
    base = f"http://127.0.0.1:{port}"
    supervisor = _serve(port, workdir, workers=2)
    children: set[int] = set()
    restarted = None
    try:
        # the real events, with bounds a loaded 2-core machine meets (a worker imports the
        # application in about 10 s at load 8): both workers started, not merely one answering
        workers = wait_for(
            lambda: _both_started(supervisor.pid, workdir / "serve-2.log"),
            120,
            "both workers of agora serve --workers 2 to start",
        )
        for n in range(20):  # a new connection each: both workers answer some
            probe = {"X-Request-Id": f"probe-{n}"}
            answer = httpx.get(f"{base}/health/live", headers=probe, timeout=SLOW)
            assert answer.is_success
        scrape = {"Authorization": "Bearer scrape"}
        for _ in range(2):  # whichever worker answers, it counts both workers' requests
            metrics = httpx.get(f"{base}/metrics", headers=scrape, timeout=SLOW).text
            line = 'agora_http_requests_total{method="GET",route="/health/live",status="200"}'
            assert f"{line} 20.0" in metrics
        lines = [
            json.loads(text)
            for text in (workdir / "serve-2.log").read_text().splitlines()
            if text.startswith("{")
        ]
        access = [line for line in lines if line.get("request_id") == "probe-7"]
        assert access and access[0]["path"] == "/health/live" and access[0]["status"] == 200
        _a_revoked_token_is_refused_by_every_worker(base)
        _a_burst_of_connections_is_spread_over_both_workers(port, workers)
        # the workers and multiprocessing's resource tracker, as they are now
        children = _children(supervisor.pid) | workers
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait(5)
        # started workers stop gracefully in well under a second (0.2 s at load 8); the bound
        # is for a loaded machine, and an orphan that would serve on never meets it
        wait_for(lambda: not any(_alive(pid) for pid in children), 30, "the children to exit")
        wait_for(lambda: _port_free(port), 5, "the port to be free")
        restarted = _serve(port, workdir, workers=1)
        wait_for(lambda: _answers(port), 120, "a new agora serve on the same port")
    finally:
        for pid in children:  # only if the test failed: they are ours
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        for process in (supervisor, restarted):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(15)


def _a_revoked_token_is_refused_by_every_worker(base: str) -> None:
    """Without Redis the workers share no bus: none may keep a token it has seen (each
    request a new connection, so both workers answer some)."""
    app = httpx.post(
        f"{base}/api/v1/apps",
        data={"client_name": "w", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"},
        timeout=SLOW,
    ).json()
    client = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    token = httpx.post(
        f"{base}/oauth/token", data={**client, "grant_type": "client_credentials"}, timeout=SLOW
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    verify = f"{base}/api/v1/apps/verify_credentials"
    assert all(httpx.get(verify, headers=bearer, timeout=SLOW).is_success for _ in range(10))
    revoke = {**client, "token": token}
    assert httpx.post(f"{base}/oauth/revoke", data=revoke, timeout=SLOW).is_success
    codes = [httpx.get(verify, headers=bearer, timeout=SLOW).status_code for _ in range(10)]
    assert codes == [401] * 10


def _sockets(pid: int) -> set[str]:
    """The socket inodes a process holds open (from /proc)."""
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


def _a_burst_of_connections_is_spread_over_both_workers(port: int, workers: set[int]) -> None:
    """64 connections opened together while one worker is busy (stopped, as a process is
    between two looks at its sockets), each asking once and staying open (keep-alive, as a
    load generator's or nginx's upstream connections): each worker holds a share of them
    (cli/worker_sockets.py). With one socket shared by the workers, the worker awake accepts
    every waiting connection and serves them all alone. By the kernel's hash of 64
    connections over two sockets, a share under 8 has a probability of about 1e-9."""
    before = {pid: _sockets(pid) for pid in workers}
    busy = min(workers)
    burst = [socket.socket() for _ in range(64)]
    os.kill(busy, signal.SIGSTOP)
    try:
        for connection in burst:  # within a millisecond, none waiting for its accept
            connection.setblocking(False)
            connection.connect_ex(("127.0.0.1", port))
        for connection in burst:
            connection.settimeout(SLOW)
            connection.getpeername()  # connected by the kernel (an error here: refused)
        time.sleep(0.2)  # the worker awake has taken what it may
        os.kill(busy, signal.SIGCONT)
        ask = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        for connection in burst:
            connection.sendall(ask)
        for connection in burst:
            assert connection.recv(4096).startswith(b"HTTP/1.1 200")
        held = {pid: len(_sockets(pid) - before[pid]) for pid in workers}
    finally:
        os.kill(busy, signal.SIGCONT)
        for connection in burst:
            connection.close()
    assert sum(held.values()) >= 64, held
    assert all(count >= 8 for count in held.values()), held


DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy"


def _commands() -> list[list[str]]:
    """The `agora …` command lines of the systemd units and the Procfile."""
    found = []
    for path in [*DEPLOY.glob("*.service"), DEPLOY / "Procfile"]:
        for line in path.read_text().splitlines():
            if line.startswith("ExecStart=") or (":" in line and not line.startswith("#")):
                words = line.split()
                starts = [i for i, word in enumerate(words) if word.endswith("agora")]
                if starts and len(words) > starts[0] + 1:
                    found.append(words[starts[0] + 1 :])
    return found


def test_the_deploy_files_run_real_commands_and_stop_whole_groups() -> None:
    import typer

    from agora.cli.main import app

    group: Any = typer.main.get_command(app)
    commands = _commands()
    assert {words[0] for words in commands} == {"serve", "worker"}
    for words in commands:
        command = group.commands[words[0]]
        options = {name for param in command.params for name in param.opts}
        for word in words[1:]:
            if word.startswith("--"):
                assert word in options, f"agora {words[0]} has no {word}"
    for unit in DEPLOY.glob("*.service"):
        assert "KillMode=control-group" in unit.read_text(), unit.name
    if shutil.which("systemd-analyze"):
        for unit in ("agora-web.service", "agora-worker.service"):
            done = subprocess.run(
                ["systemd-analyze", "verify", str(DEPLOY / unit)], capture_output=True, text=True
            )
            problems = [
                line
                for line in done.stderr.splitlines()
                if "is not executable" not in line and "agora.env" not in line
            ]
            assert not problems, problems
