"""`agora consent show`, `agora export dataset` and `agora export grant` as real processes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ON_POSTGRES

AGORA = [sys.executable, "-m", "agora.cli.main"]

# its commands run on a SQLite file of their own: the PostgreSQL pass would only repeat it
pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="SQLite file of its own: run once")


def test_consent_export_and_grant(tmp_path: Path) -> None:
    database = tmp_path / "cli.db"
    env = {**os.environ, "AGORA_DATABASE_URL": f"sqlite+aiosqlite:///{database}", "COLUMNS": "200"}

    def cli(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*AGORA, *args], env=env, capture_output=True, text=True, timeout=120)
        assert (done.returncode == 0) == ok, done.stdout + done.stderr
        return done

    cli("init")
    cli("demo", "--users", "30", "--posts", "400", "--seed", "3")
    shown = cli("consent", "show", "demo0").stdout
    assert "syntheticContentGeneration" in shown and "assistantContext" in shown
    assert "no account" in cli("consent", "show", "nobody", ok=False).stdout

    out = tmp_path / "export"
    done = cli("export", "dataset", "--purpose", "genai-text", "--out", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    assert f"exported {manifest['counts']['posts']} posts" in done.stdout
    assert manifest["counts"]["posts"] > 0
    again = cli("export", "dataset", "--purpose", "genai-text", "--out", str(out), ok=False)
    assert "already holds a dataset" in again.stdout
    bad = cli(
        "export", "dataset", "--purpose", "everything", "--out", str(tmp_path / "x"), ok=False
    )
    assert "Unknown purpose" in bad.stdout

    granted = cli("export", "grant", "Example Lab").stdout
    assert "read:datasets" in granted and "access_token" in granted
    with sqlite3.connect(database) as conn:
        scopes = conn.execute("SELECT scopes FROM oauth_apps WHERE name = 'Example Lab'").fetchone()
    assert scopes == ("read:datasets",)
