"""bovine-herd as a real peer for the interop tests: its own Python environment (bovine pins
versions Agora's cannot share: cryptography < 46, aiosqlite < 0.21), its own SQLite database,
served by hypercorn on a loopback port over plain http, and one user driven through
bovine's client-to-server API (tests/peers/bovine_drive.py).

The environment is made by `make peers` (`.venv-bovine`, pinned in
tests/peers/bovine-requirements.txt); `AGORA_TEST_BOVINE_PYTHON` names another interpreter.
Plain http needs no special setting: bovine builds its actors' ids from the domain its users
are registered with (`http://127.0.0.1:PORT`), and fetches and delivers to whatever URL it is
given. What it does need from a peer is a signed GET: its actor documents answer 401 to an
unsigned fetch (secure mode), so Agora signs its fetches.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from live_server import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(__file__).resolve().parent / "peers"
PYTHON = Path(os.environ.get("AGORA_TEST_BOVINE_PYTHON", ROOT / ".venv-bovine" / "bin" / "python"))


def available() -> bool:
    """Whether the bovine environment is installed (`make peers`)."""
    return PYTHON.exists()


@dataclass
class BovinePeer:
    """One bovine-herd server with one user (`name`), and its client-to-server secret."""

    name: str = "moo"
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bovine-")))
    port: int = field(default_factory=free_port)
    secret: str = ""
    process: subprocess.Popen[bytes] | None = None
    output: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def handle(self) -> str:
        return f"@{self.name}@127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Its settings; every command runs in `workdir`, where bovine also keeps its JSON-LD
        cache (`bovine_jsonld_cache.sqlite`), and imports tests/peers/bovine_app.py."""
        return {
            **os.environ,
            "BOVINE_DB_URL": f"sqlite://{self.workdir / 'bovine.sqlite3'}",
            "PYTHONPATH": str(PEERS),
        }

    def _store(self, *args: str) -> str:
        done = subprocess.run(
            [str(PYTHON), "-m", "bovine_store", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self) -> None:
        """Create the database and the user (with an Ed25519 key for the client API), then
        serve it and wait until it answers."""
        self._store("create")
        self._store("register", "--domain", self.url, "--handle", self.name)
        bovine_name = self._store("actor").split()[0]
        self.secret = self._store("key", "--new", bovine_name).split(":", 1)[1].strip()
        self.output = open(self.workdir / "server.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(PYTHON), "-m", "hypercorn", "--bind", f"127.0.0.1:{self.port}", "bovine_app:app"],
            env=self.env,
            cwd=self.workdir,
            stdout=self.output,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._ready, 30, "bovine-herd to answer")

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"bovine exited ({self.process.returncode}):\n{self.log()}")
        try:
            answer = httpx.get(f"{self.url}/.well-known/nodeinfo", timeout=1)
        except httpx.TransportError:
            return False
        return answer.status_code == 200

    @property
    def actor(self) -> str:
        """The user's actor id, found by WebFinger as any peer finds it."""
        finger = httpx.get(
            f"{self.url}/.well-known/webfinger",
            params={"resource": f"acct:{self.name}@127.0.0.1:{self.port}"},
        ).json()
        return str(next(link["href"] for link in finger["links"] if link["rel"] == "self"))

    def drive(self, command: str, *args: str) -> Any:
        """Run one client-to-server command as the user (tests/peers/bovine_drive.py)."""
        done = subprocess.run(
            [str(PYTHON), str(PEERS / "bovine_drive.py"), self.url, self.secret, command, *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    def log(self) -> str:
        return (self.workdir / "server.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.output is not None:
            self.output.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
