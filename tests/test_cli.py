"""The `agora` command, run as a real process on its own SQLite database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from helpers import ON_POSTGRES
from live_server import LiveServer

AGORA = [sys.executable, "-m", "agora.cli.main"]


@pytest.fixture
def cli(tmp_path: Path):
    env = {
        **os.environ,
        "AGORA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "COLUMNS": "200",
    }

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*AGORA, *args], env=env, capture_output=True, text=True, timeout=120)
        if ok:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    return run


@pytest.mark.skipif(
    ON_POSTGRES, reason="a SQLite file of its own: the PostgreSQL pass would repeat it"
)
def test_init_users_and_jobs(cli):
    assert "database ready" in cli("init").stdout
    cli("init")  # idempotent: migrations and the assistant account are not duplicated
    created = cli(
        "user", "create", "alice", "alice@example.org", "--password", "long password", "--admin"
    )
    assert "created @alice" in created.stdout
    dup = cli("user", "create", "Alice", "x@example.org", "--password", "long password", ok=False)
    assert dup.returncode == 1 and "already been taken" in dup.stdout
    short = cli("user", "create", "bob", "bob@example.org", "--password", "short", ok=False)
    assert short.returncode == 1 and "too short" in short.stdout
    listing = cli("user", "list").stdout
    assert "alice" in listing and "assistant" in listing
    assert "0 ratings, 0 notes scored, 0 statuses changed" in cli("notes", "rescore").stdout
    assert "suspended" in cli("user", "suspend", "alice").stdout
    assert "unsuspended" in cli("user", "suspend", "alice", "--undo").stdout
    assert (
        "changed" in cli("user", "set-password", "alice", "--password", "another long one").stdout
    )
    reset = cli("user", "reset-password", "alice").stdout
    assert "/auth/password/edit?reset_password_token=" in reset and "works once" in reset
    nobody = cli("user", "reset-password", "nobody", ok=False)
    assert nobody.returncode == 1 and "No such user" in nobody.stdout
    assert "was already off" in cli("user", "disable-2fa", "alice").stdout
    no_2fa = cli("user", "disable-2fa", "nobody", ok=False)
    assert no_2fa.returncode == 1 and "No such user" in no_2fa.stdout
    missing = cli("user", "suspend", "nobody", ok=False)
    assert missing.returncode == 1 and "No such account" in missing.stdout
    jobs = cli("jobs").stdout
    assert "pending" in jobs and "dead" in jobs
    assert "ran" in cli("jobs", "run").stdout
    assert "re-queued 0" in cli("jobs", "retry").stdout


class _ServerWithoutPublicUrl(LiveServer):
    """`agora serve --host 127.0.0.1 --port P` with neither AGORA_BASE_URL nor AGORA_DOMAIN
    (nor a config file) set."""

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        for name in ("AGORA_BASE_URL", "AGORA_DOMAIN", "AGORA_CONFIG"):
            env.pop(name, None)
        return env


def test_serve_without_a_public_url_advertises_the_address_it_listens_on():
    server = _ServerWithoutPublicUrl(os.environ.get("AGORA_TEST_DATABASE", "sqlite"))
    server.start()
    try:
        here = f"http://127.0.0.1:{server.port}"
        metadata = httpx.get(f"{here}/.well-known/oauth-authorization-server").json()
        assert metadata["issuer"] == f"{here}/"
        assert metadata["authorization_endpoint"] == f"{here}/oauth/authorize"
        assert metadata["token_endpoint"] == f"{here}/oauth/token"
        instance = httpx.get(f"{here}/api/v1/instance").json()
        assert instance["uri"] == f"127.0.0.1:{server.port}"
        assert instance["urls"]["streaming_api"] == f"ws://127.0.0.1:{server.port}"
        assert "no mail server (AGORA_SMTP_HOST not set)" in " ".join(server.log().split())
    finally:
        server.stop()
