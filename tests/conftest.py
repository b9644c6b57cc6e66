"""Test fixtures: a fresh database per test session (SQLite file or a new PostgreSQL database),
emptied between tests; an in-process API client; helpers to make people and run jobs.

Set AGORA_TEST_DATABASE=postgresql to run the suite on PostgreSQL (127.0.0.1:5432).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from agora.config import get_settings

PG_ADMIN_URL = os.environ.get("AGORA_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKEND = os.environ.get("AGORA_TEST_DATABASE", "sqlite")


def _new_database_url() -> tuple[str, str | None]:
    if BACKEND == "postgresql":
        name = f"agora_test_{os.getpid()}_{secrets.token_hex(3)}"
        return PG_ADMIN_URL.rsplit("/", 1)[0].replace(
            "postgresql://", "postgresql+asyncpg://"
        ) + f"/{name}", name
    path = Path(tempfile.mkdtemp(prefix="agora-test-")) / "agora.db"
    return f"sqlite+aiosqlite:///{path}", None


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


DATABASE_URL, PG_NAME = _new_database_url()
os.environ.update(
    AGORA_DATABASE_URL=DATABASE_URL,
    AGORA_BASE_URL="http://testserver",
    AGORA_DOMAIN="testserver",
    AGORA_INPROCESS_WORKERS="0",
    AGORA_REGISTRATIONS="open",
    AGORA_MEDIA_DIR=tempfile.mkdtemp(prefix="agora-test-media-"),
    AGORA_ARCHIVE_DIR=tempfile.mkdtemp(prefix="agora-test-archives-"),
    # The suite makes many requests from one address: generous limits, still counted (the
    # rate-limit tests set small ones through Settings).
    AGORA_RATELIMIT_READS="100000/minute",
    AGORA_RATELIMIT_WRITES="100000/minute",
    AGORA_RATELIMIT_PER_IP="100000/minute",
    AGORA_RATELIMIT_SIGN_IN_IP="100000/minute",
    AGORA_RATELIMIT_SIGN_IN_ACCOUNT="100000/minute",
    AGORA_RATELIMIT_MEDIA="100000/minute",
)
get_settings.cache_clear()


class _RememberingHasher:
    """argon2 as the server runs it, remembered per password for this test process: the suite
    signs up thousands of people with one password, and each argon2 hash or check costs about
    170 ms of CPU (minutes per pass). The first hash of a password and the first check of a
    (hash, password) pair run real argon2; a repeat answers what argon2 answered. Failed
    checks always run argon2. Tests that watch the hasher replace it (test_sign_in_locks)."""

    def __init__(self, real: object) -> None:
        self._real = real
        self._hashes: dict[str, str] = {}
        self._matches: set[tuple[str, str]] = set()

    def hash(self, password: str) -> str:
        if password not in self._hashes:
            self._hashes[password] = self._real.hash(password)  # type: ignore[attr-defined]
        return self._hashes[password]

    def verify(self, password_hash: str, password: str) -> bool:
        if (password_hash, password) in self._matches:
            return True
        matched: bool = self._real.verify(password_hash, password)  # type: ignore[attr-defined]
        self._matches.add((password_hash, password))
        return matched


def _remember_password_hashes() -> None:
    from agora.auth import credentials

    credentials._hasher = _RememberingHasher(credentials._hasher)  # type: ignore[assignment]


_remember_password_hashes()


def pytest_report_header() -> str:
    return f"agora test database: {DATABASE_URL}"


@pytest.fixture(scope="session")
async def db() -> AsyncIterator[object]:
    from agora.db.engine import Database
    from agora.db.migrate import upgrade

    if PG_NAME:
        await _pg_admin(f'CREATE DATABASE "{PG_NAME}"')
    database = Database(DATABASE_URL)
    await upgrade(database.engine)
    yield database
    await database.dispose()
    if PG_NAME:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')


@pytest.fixture(autouse=True)
async def clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Empty every table before each test that uses the database."""
    if "db" not in request.fixturenames:
        yield
        return
    database = request.getfixturevalue("db")
    from agora.db.models import Base

    # children before parents; DELETE, not TRUNCATE: a TRUNCATE of every table costs
    # PostgreSQL about half a second (a lock and new files per table), a DELETE of the few
    # rows a test leaves about 25 ms in all
    names = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with database.engine.begin() as conn:
        for name in names:
            await conn.execute(text(f"DELETE FROM {name}"))
    yield


@pytest.fixture
async def app(db: object) -> object:
    from agora.app import create_app

    application = create_app(migrate=False)
    application.state.db = db
    return application


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class Person:
    """A signed-up account with a full-scope token."""

    id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
async def make_person(db: object):  # type: ignore[no-untyped-def]
    from agora.auth import oauth
    from agora.social.people.accounts import create_account

    app_row = None

    async def make(
        username: str,
        *,
        locked: bool = False,
        scopes: str = "read write follow push",
        bot: bool = False,
    ) -> Person:
        nonlocal app_row
        async with db.session(write=True) as session:  # type: ignore[attr-defined]
            if app_row is None:
                app_row = await oauth.register_app(
                    session,
                    name="tests",
                    redirect_uris=oauth.OOB,
                    scopes="read write follow push",
                    website=None,
                )
            account = await create_account(
                session,
                username=username,
                email=f"{username}@example.org",
                password="correct horse battery",
                bot=bot,
            )
            account.locked = locked
            await session.commit()
            issued = await oauth.issue_token(session, app_row, account.id, scopes.split())
        return Person(account.id, username, issued.token)

    return make


@pytest.fixture
async def run_jobs(db: object):  # type: ignore[no-untyped-def]
    from agora.job_registry import register_all_jobs
    from agora.jobs.worker import Worker

    register_all_jobs()

    async def run() -> int:
        return await Worker(db).run_until_idle()  # type: ignore[arg-type]

    return run


@pytest.fixture
async def harness(db: object) -> AsyncIterator[object]:
    """A streaming hub fed by hand (tests/streaming_support.py)."""
    from agora.events.process_bus import get_bus
    from streaming_support import Harness

    subscription = get_bus().subscribe()
    try:
        yield Harness(db, subscription)
    finally:
        subscription.close()


@pytest.fixture(scope="module")
def server() -> Iterator[object]:
    """`agora serve` as a real process for a module's real-client tests (live_server.py), on
    this pass's database; a module needing other settings defines its own `server`."""
    from live_server import LiveServer

    live = LiveServer(BACKEND)
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[object]:
    """A headless Debian chromium for the module's browser flows (tests/browser_support.py)."""
    from browser_support import launched_chromium

    async with launched_chromium() as chromium:
        yield chromium
