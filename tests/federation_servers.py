"""What the multi-server federation tests share: Agora servers started as real processes
(live_server.LiveServer, with federation to loopback addresses allowed), people signed in
with Mastodon.py on them, and the handful of reads and signed deliveries the tests make."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

import httpx
from mastodon import Mastodon

from agora.federation.signatures import sign_cavage
from live_server import LiveServer

PASSWORD = "correct horse battery"
FEDERATION = {"AGORA_FEDERATION_ALLOW_PRIVATE_ADDRESSES": "true"}


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


def start() -> LiveServer:
    """A started Agora server on SQLite that may federate with loopback addresses."""
    live = LiveServer("sqlite", extra_env=FEDERATION)
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


def db(server: LiveServer) -> sqlite3.Connection:
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
