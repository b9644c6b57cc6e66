"""The `agora` command, run as a real process on its own SQLite database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    assert "suspended" in cli("user", "suspend", "alice").stdout
    assert "unsuspended" in cli("user", "suspend", "alice", "--undo").stdout
    assert (
        "changed" in cli("user", "set-password", "alice", "--password", "another long one").stdout
    )
    missing = cli("user", "suspend", "nobody", ok=False)
    assert missing.returncode == 1 and "No such account" in missing.stdout
    jobs = cli("jobs").stdout
    assert "pending" in jobs and "dead" in jobs
    assert "ran" in cli("jobs", "run").stdout
    assert "re-queued 0" in cli("jobs", "retry").stdout
