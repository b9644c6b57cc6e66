"""`agora reports` and `agora user silence / admin`, as real processes (the set-up and the
checks of their effects go through the service layer, to keep process starts few)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import ON_POSTGRES

AGORA = [sys.executable, "-m", "agora.cli.main"]

# its commands run on a SQLite file of their own: the PostgreSQL pass would only repeat it
pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="SQLite file of its own: run once")


def _in_process(url: str, fn: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run `fn(session)` on the CLI's database, on a private event loop."""
    from agora.db.engine import Database
    from agora.db.migrate import upgrade

    async def go() -> Any:
        db = Database(url)
        try:
            await upgrade(db.engine)
            async with db.session(write=True) as session:
                return await fn(session)
        finally:
            await db.dispose()

    loop = asyncio.new_event_loop()  # pytest-asyncio's loop stays untouched
    try:
        return loop.run_until_complete(go())
    finally:
        loop.close()


async def _alice_reports_troll(session: Any) -> None:
    from agora.social.people import reports
    from agora.social.people.accounts import create_account

    alice, troll = [
        await create_account(session, username=n, email=f"{n}@example.org", password="long pass")
        for n in ("alice", "troll")
    ]
    await session.commit()
    await reports.create_report(
        session, alice, reports.ReportInput(target_id=troll.id, status_ids=[], comment="spam")
    )


async def _pending_signup(session: Any) -> None:
    from agora.social.people.accounts import create_account

    await create_account(
        session, username="waiting", email="w@example.org", password="long pass", approved=False
    )
    await session.commit()


async def _approved(session: Any) -> bool:
    from agora.social.people.moderation import member_by_username

    return bool((await member_by_username(session, "waiting")).user.approved)


async def _state(session: Any) -> dict[str, Any]:
    from agora.social.people.moderation import member_by_username

    troll, alice = (
        await member_by_username(session, "troll"),
        await member_by_username(session, "alice"),
    )
    return {"silenced": troll.account.silenced_at is not None, "admin": alice.is_admin}


def test_reports_and_moderation_commands(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "AGORA_DATABASE_URL": url, "COLUMNS": "200"}

    def cli(*args: str, code: int = 0) -> str:
        done = subprocess.run([*AGORA, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == code, done.stdout + done.stderr
        return done.stdout

    _in_process(url, _alice_reports_troll)
    listing = cli("reports", "list")
    assert "@alice" in listing and "@troll" in listing and "spam" in listing
    report_id = re.search(r"(\d{10,})\s.*@alice", listing).group(1)  # the row's id column
    assert "resolved" in cli("reports", "resolve", report_id)
    assert "@alice" in cli("reports", "list", "--resolved")
    assert "silenced" in cli("user", "silence", "troll", "--reason", "spam")
    assert "is now an admin" in cli("user", "admin", "alice")
    assert "No such account" in cli("user", "silence", "nobody", code=1)
    assert _in_process(url, _state) == {"silenced": True, "admin": True}
    _in_process(url, _pending_signup)
    assert not _in_process(url, _approved)
    assert "approved" in cli("user", "approve", "waiting")
    assert _in_process(url, _approved)
    assert "not pending approval" in cli("user", "approve", "waiting", code=1)


async def _remote_account(session: Any) -> int:
    from agora.federation.actors import RemoteActor, store_actor

    account = await store_actor(
        session,
        RemoteActor(
            uri="https://bad.example/users/spammer",
            username="spammer",
            domain="bad.example",
            display_name="",
            note_html="",
            url=None,
            inbox="https://bad.example/inbox",
            shared_inbox=None,
            followers=None,
            public_key_pem="-",
            locked=False,
            bot=False,
            discoverable=True,
        ),
    )
    await session.commit()
    return account.id


async def _suspended(session: Any) -> bool:
    from agora.social.people.moderation import member_by_username

    return (
        await member_by_username(session, "spammer@bad.example")
    ).account.suspended_at is not None


async def _domain_log(session: Any) -> list[str]:
    from agora.social.people.moderation import domain_history

    return [entry.action for entry in await domain_history(session, "bad.example")]


def test_domain_block_commands(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "AGORA_DATABASE_URL": url, "COLUMNS": "200"}

    def cli(*args: str, code: int = 0) -> str:
        done = subprocess.run([*AGORA, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == code, done.stdout + done.stderr
        return done.stdout

    _in_process(url, _remote_account)
    added = cli(
        "domain-blocks",
        "add",
        "Bad.Example",
        "--severity",
        "suspend",
        "--reject-media",
        "--public-comment",
        "spam",
    )
    assert "bad.example blocked (suspend)" in added
    assert _in_process(url, _suspended)
    listing = cli("domain-blocks", "list")
    assert "bad.example" in listing and "suspend" in listing and "rejected" in listing
    assert "already blocked" in cli("domain-blocks", "add", "bad.example", code=1)
    assert "not a valid domain" in cli("domain-blocks", "add", "no such thing", code=1)
    assert "severity must be" in cli("domain-blocks", "add", "x.example", "--severity", "x", code=1)
    assert "no longer blocked" in cli("domain-blocks", "remove", "bad.example")
    assert not _in_process(url, _suspended)
    assert "not blocked" in cli("domain-blocks", "remove", "bad.example", code=1)
    assert "bad.example" not in cli("domain-blocks", "list")
    assert _in_process(url, _domain_log) == ["block_domain", "unblock_domain"]


async def _nora(session: Any) -> None:
    from agora.social.people.accounts import create_account

    await create_account(session, username="nora", email="nora@example.org", password="long pass")
    await session.commit()


async def _aliases(session: Any) -> list[str] | None:
    from agora.social.people.moderation import member_by_username

    return (await member_by_username(session, "nora")).account.also_known_as


def test_user_alias_command(tmp_path: Path) -> None:
    """`agora user alias` names a former identity, published as alsoKnownAs (a Move from
    there is then accepted by other servers)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    env = {**os.environ, "AGORA_DATABASE_URL": url, "COLUMNS": "200"}

    def cli(*args: str, code: int = 0) -> str:
        done = subprocess.run([*AGORA, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == code, done.stdout + done.stderr
        return done.stdout

    _in_process(url, _nora)
    old = "https://old.example/users/nora"
    assert old in cli("user", "alias", "nora", old)
    assert _in_process(url, _aliases) == [old]
    assert "another server" in cli("user", "alias", "nora", "not a url", code=1)
    assert "No such account" in cli("user", "alias", "nobody", old, code=1)
    assert "nobody else" in cli("user", "alias", "nora", old, "--undo")
    assert _in_process(url, _aliases) is None
