"""`agora serve` as a real process on a free port with its own fresh database, for tests that
drive Agora with real Mastodon clients (Mastodon.py, toot)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

import httpx

AGORA = [sys.executable, "-m", "agora.cli.main"]
PG_ADMIN_URL = os.environ.get("AGORA_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
T = TypeVar("T")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_admin(sql: str) -> None:
    """Run one statement on the PostgreSQL admin database (on a private event loop, so the
    loop pytest-asyncio has installed stays untouched)."""
    import asyncio

    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run())
    finally:
        loop.close()


def wait_for(check: Callable[[], T | None], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll `check` every 50 ms until it returns something truthy; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def sign_up_token(server: LiveServer, keys: tuple[str, str], username: str) -> str:
    """A new account `username` signed up through Mastodon.py with the app `keys`; its
    token (the Node clients' scenarios are given tokens made so)."""
    from mastodon import Mastodon

    api = Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=server.url)
    email = f"{username}@example.org"
    token: str = api.create_account(username, "correct horse battery", email, agreement=True)
    return token


@dataclass
class LiveServer:
    """One `agora serve` process and the database it owns."""

    backend: str
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="agora-live-")))
    port: int = field(default_factory=free_port)
    pg_name: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)  # more AGORA_* settings
    process: subprocess.Popen[bytes] | None = None
    output: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        if self.pg_name:
            host = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            return f"{host}/{self.pg_name}"
        return f"sqlite+aiosqlite:///{self.workdir / 'agora.db'}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "AGORA_DATABASE_URL": self.database_url,
            "AGORA_BASE_URL": self.url,
            "AGORA_DOMAIN": f"127.0.0.1:{self.port}",
            "AGORA_INPROCESS_WORKERS": "1",
            "AGORA_REGISTRATIONS": "open",
            "AGORA_MEDIA_DIR": str(self.workdir / "media"),
            "AGORA_LOG_LEVEL": os.environ.get("AGORA_LOG_LEVEL", "warning"),
            "COLUMNS": "200",
            **self.extra_env,
        }

    def start(self, timeout: float = 90.0) -> None:
        """Create the database, start the server and wait until it answers (a loaded 2-core
        machine can take tens of seconds to import and migrate)."""
        self.launch()
        self.wait_until_ready(timeout)

    def launch(self) -> None:
        """Create the database and start the server, without waiting for it."""
        if self.backend == "postgresql":
            self.pg_name = f"agora_live_{os.getpid()}_{secrets.token_hex(3)}"
            _pg_admin(f'CREATE DATABASE "{self.pg_name}"')
        self.output = open(self.workdir / "server.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [*AGORA, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
        )

    def wait_until_ready(self, timeout: float = 90.0) -> None:
        """Wait until the launched server answers; stop it and fail with its log if not."""
        try:
            wait_for(self._ready, timeout, "agora serve to answer")
        except AssertionError as exc:
            output = self.log()
            self.stop()
            raise AssertionError(f"agora serve did not start ({exc}):\n{output}") from None

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"it exited with status {self.process.returncode}")
        try:
            return httpx.get(f"{self.url}/api/v1/agora/ping", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def log(self) -> str:
        """What the server wrote to stdout and stderr so far."""
        return (self.workdir / "server.log").read_text(errors="replace")

    def stop(self) -> None:
        """Stop the server and drop its database."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.output is not None:
            self.output.close()
        if self.pg_name:
            _pg_admin(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
            self.pg_name = None
        shutil.rmtree(self.workdir, ignore_errors=True)

    def cli(self, *args: str) -> str:
        """Run an `agora` command against this server's database; its output."""
        done = subprocess.run(
            [*AGORA, *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@contextmanager
def started_together(servers: list[LiveServer]) -> Iterator[list[LiveServer]]:
    """Start `servers` at once (their imports and migrations overlap instead of queueing),
    wait until each answers, and stop them all at the end, also when one fails to start."""
    try:
        for live in servers:
            live.launch()
        for live in servers:
            live.wait_until_ready()
        yield servers
    finally:
        for live in servers:
            live.stop()
