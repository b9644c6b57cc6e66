"""What the multi-server federation tests share: Agora servers started as real processes
(live_server.LiveServer, with federation to loopback addresses allowed) on the database of
the test pass (`AGORA_TEST_DATABASE`: SQLite or PostgreSQL), people signed in with
Mastodon.py on them, and the handful of reads (`db`, the same SQL on either database) and
signed deliveries the tests make."""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any

import httpx
from mastodon import Mastodon

from agora.federation.signatures import sign_cavage
from live_server import LiveServer

PASSWORD = "correct horse battery"
FEDERATION = {"AGORA_FEDERATION_ALLOW_PRIVATE_ADDRESSES": "true"}
BACKEND = os.environ.get("AGORA_TEST_DATABASE", "sqlite")


@dataclass
class Person:
    """A signed-in Mastodon.py client on one server."""

    server: LiveServer
    api: Mastodon
    id: str
    username: str

    @property
    def handle(self) -> str:
        return f"@{self.username}@127.0.0.1:{self.server.port}"

    @property
    def actor(self) -> str:
        return f"{self.server.url}/users/{self.username}"


def federating(backend: str | None = None) -> LiveServer:
    """An Agora server (not started yet) that may federate with loopback addresses, on the
    database of the test pass (or `backend`: "sqlite" / "postgresql")."""
    return LiveServer(backend or BACKEND, extra_env=FEDERATION)


def start(backend: str | None = None) -> LiveServer:
    """`federating(backend)`, started."""
    live = federating(backend)
    live.start()
    return live


def person(server: LiveServer, name: str) -> Person:
    keys = Mastodon.create_app("federation tests", api_base_url=server.url)
    api = Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=server.url)
    api.create_account(name, PASSWORD, f"{name}@example.org", agreement=True)
    me = api.account_verify_credentials()
    return Person(server, api, str(me.id), me.username)


def resolve(person: Person, other: Person) -> str:
    """The id, on `person`'s server, of `other` found by handle with resolve=true."""
    found = person.api.search_v2(other.handle, resolve=True, result_type="accounts")
    assert [a.acct for a in found.accounts] == [other.handle.lstrip("@")]
    return str(found.accounts[0].id)


@dataclass
class Rows:
    """The rows of one statement (as tuples), as sqlite3's cursor gives them."""

    rows: list[tuple[Any, ...]]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)


@dataclass
class PgReader:
    """Reads a live server's PostgreSQL database with sqlite3's calling convention
    (`with db(server) as conn: conn.execute(sql, params).fetchall()`, `?` placeholders), on
    a private event loop, so a test's SQL runs unchanged on either database."""

    url: str
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    conn: Any = None

    def __enter__(self) -> PgReader:
        import asyncpg

        self.conn = self.loop.run_until_complete(asyncpg.connect(self.url))
        return self

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        numbered = iter(range(1, len(params) + 1))
        query = re.sub(r"\?", lambda _: f"${next(numbered)}", sql)
        found = self.loop.run_until_complete(self.conn.fetch(query, *params))
        return Rows([tuple(r) for r in found])

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


def db(server: LiveServer) -> sqlite3.Connection | PgReader:
    """A reader of the server's own database, used as `with db(server) as conn:`."""
    if server.backend == "postgresql":
        return PgReader(server.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    return sqlite3.connect(server.workdir / "agora.db")


def remote_posts(server: LiveServer, origin: LiveServer) -> list[str]:
    with db(server) as conn:
        rows = conn.execute("SELECT uri FROM posts WHERE uri LIKE ?", (f"{origin.url}/%",))
        return [r[0] for r in rows]


def home_texts(person: Person) -> list[str]:
    return [s.content for s in person.api.timeline_home(limit=40)]


def alice_key(alice: Person) -> str:
    """alice's private key, read from A's database (it exists: she signed deliveries)."""
    with db(alice.server) as conn:
        (pem,) = conn.execute(
            "SELECT private_key_pem FROM account_keys JOIN accounts ON id = account_id "
            "WHERE username = 'alice'"
        ).fetchone()
    return str(pem)


def create(alice: Person, text: str, actor: str | None = None) -> dict[str, object]:
    note_id = f"{alice.actor}/statuses/{abs(hash(text))}"
    public = "https://www.w3.org/ns/activitystreams#Public"
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{note_id}/activity",
        "type": "Create",
        "actor": actor or alice.actor,
        "to": [public],
        "object": {
            "id": note_id,
            "type": "Note",
            "attributedTo": actor or alice.actor,
            "content": f"<p>{text}</p>",
            "to": [public],
            "cc": [f"{alice.actor}/followers"],
        },
    }


def post(inbox: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        inbox, content=body, headers={"Content-Type": "application/activity+json", **headers}
    )


def signed(alice: Person, inbox: str, body: bytes, now: datetime | None = None) -> dict[str, str]:
    return sign_cavage(
        "POST",
        inbox,
        body,
        key_id=f"{alice.actor}#main-key",
        private_pem=alice_key(alice),
        now=now,
    )
