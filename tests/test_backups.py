"""`agora backup` / `agora restore` round trips on the session's backend: a database and media
seeded through the API, backed up, restored into a new database and media directory, which
then serve the same timelines and files; a non-empty target is refused unless replaced; a
backup of the other backend is refused."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from agora.config import get_settings
from agora.db.backups import BackupError, backup, restore
from agora.db.engine import Database
from conftest import BACKEND, DATABASE_URL, PG_ADMIN_URL, _pg_admin
from helpers import follow, post_status_id
from test_db_copy import _png

PAGES = ("/api/v1/timelines/home", "/api/v1/accounts/verify_credentials")


@pytest.fixture
async def fresh_url() -> AsyncIterator[str]:
    """A new database of the session's backend, dropped after the test."""
    if BACKEND != "postgresql":
        yield f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='agora-restore-')}/agora.db"
        return
    name = f"agora_restore_{os.getpid()}_{secrets.token_hex(3)}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    host = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    yield f"{host}/{name}"
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _seed(client: Any, make_person: Any, run_jobs: Any) -> tuple[Any, str]:
    alice, bob = await make_person("alice"), await make_person("bob")
    await follow(client, alice, bob)
    media = await client.post(
        "/api/v2/media", headers=bob.headers, files={"file": ("a.png", _png(), "image/png")}
    )
    assert media.status_code in (200, 202), media.text
    await post_status_id(client, bob, "kept safe", **{"media_ids[]": media.json()["id"]})
    await run_jobs()
    return alice, media.json()["url"]


async def _served(url: str | None, client: Any, person: Any, media_url: str) -> list[Any]:
    """The pages and the media file as served from `url` (None: the test's own client)."""

    async def read(c: httpx.AsyncClient) -> list[Any]:
        found: list[Any] = [(await c.get(path, headers=person.headers)).json() for path in PAGES]
        found.append((await c.get(httpx.URL(media_url).path)).content)
        return found

    if url is None:
        return await read(client)
    from agora.app import create_app

    application = create_app(migrate=False)
    database = Database(url)
    application.state.db = database
    try:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await read(c)
    finally:
        await database.dispose()


@pytest.mark.parametrize("name", ["backup", "backup.tar.gz"])
async def test_backup_and_restore_round_trip(
    client: Any,
    make_person: Any,
    run_jobs: Any,
    fresh_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    alice, media_url = await _seed(client, make_person, run_jobs)
    before = await _served(None, client, alice, media_url)
    assert before[0][0]["content"] == "<p>kept safe</p>" and before[2].startswith(b"\x89PNG")
    media_dir = get_settings().media_dir
    summary = await backup(DATABASE_URL, media_dir, tmp_path / name)
    assert summary.backend == BACKEND and summary.media_files >= 2  # original + preview
    restored_media = tmp_path / "restored-media"
    await restore(tmp_path / name, fresh_url, restored_media)
    if BACKEND == "postgresql":  # restored with the planner's statistics
        restored = Database(fresh_url)
        try:
            async with restored.engine.connect() as conn:
                found = await conn.execute(
                    text("SELECT count(*) FROM pg_stats WHERE tablename = 'posts'")
                )
                assert found.scalar_one() > 0
        finally:
            await restored.dispose()
    assert sorted(p.name for p in restored_media.rglob("*") if p.is_file()) == sorted(
        p.name for p in media_dir.rglob("*") if p.is_file()
    )
    monkeypatch.setenv("AGORA_MEDIA_DIR", str(restored_media))
    get_settings.cache_clear()
    try:
        assert await _served(fresh_url, client, alice, media_url) == before
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    with pytest.raises(BackupError, match="not empty"):
        await restore(tmp_path / name, fresh_url, tmp_path / "other-media")
    await restore(tmp_path / name, fresh_url, restored_media, replace=True)  # replaced: fine
    with pytest.raises(BackupError, match="exists already"):
        await backup(DATABASE_URL, media_dir, tmp_path / name)


async def test_restore_refuses_another_backend_and_what_is_no_backup(
    db: Any, tmp_path: Path
) -> None:
    made = await backup(DATABASE_URL, tmp_path / "no-media", tmp_path / "b")
    assert made.media_files == 0
    other = (
        "sqlite+aiosqlite:///" + str(tmp_path / "x.db")
        if BACKEND == "postgresql"
        else "postgresql+asyncpg://postgres@127.0.0.1/nowhere"
    )
    with pytest.raises(BackupError, match="agora db copy"):
        await restore(tmp_path / "b", other, tmp_path / "m")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackupError, match="not an Agora backup"):
        await restore(tmp_path / "empty", other, tmp_path / "m")


@pytest.mark.skipif(BACKEND == "postgresql", reason="the commands: run in the SQLite pass")
def test_the_commands(tmp_path: Path, fresh_url: str) -> None:
    """`agora backup` then `agora restore --replace` as processes (pg_dump and pg_restore are
    run by the round trip above in the PostgreSQL pass)."""
    media = tmp_path / "media"
    env = {
        **os.environ,
        "AGORA_DATABASE_URL": fresh_url,
        "AGORA_MEDIA_DIR": str(media),
        "COLUMNS": "200",
    }

    def agora(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "agora.cli.main", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    assert agora("init").returncode == 0
    media.mkdir()
    (media / "a.txt").write_text("a file")
    made = agora("backup", str(tmp_path / "b.tar"))
    assert made.returncode == 0 and "1 media files" in made.stdout, made.stdout + made.stderr
    refused = agora("restore", str(tmp_path / "b.tar"))
    assert refused.returncode == 1 and "not empty" in refused.stdout
    (media / "a.txt").write_text("changed")
    done = agora("restore", str(tmp_path / "b.tar"), "--replace")
    assert done.returncode == 0 and "restored" in done.stdout, done.stdout + done.stderr
    assert (media / "a.txt").read_text() == "a file"
    listed = agora("user", "list")
    assert "assistant" in listed.stdout
