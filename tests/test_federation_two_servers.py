"""Federation between real Agora servers: three `agora serve` processes on loopback ports,
each with its own database, driven over HTTP with Mastodon.py (see live_server.py).

A (alice) is followed by bob on B; carol on C only looks alice up. So: the follow travels
(Follow, Accept), alice's posts reach bob's home timeline on B and never C (a followers-only
post is not even delivered there), a deleted post leaves B. The inbox refuses bad input:
each bad delivery is answered 4xx and leaves nothing in B's database.

The servers run on SQLite only (the federation code is the same on both backends; the
single-server federation tests run on both), in the SQLite pass, as the browser tests do.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from mastodon import Mastodon

from agora.federation.signatures import sign_cavage
from live_server import LiveServer, wait_for

ON_POSTGRES = os.environ.get("AGORA_TEST_DATABASE", "sqlite") == "postgresql"
pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="multi-server tests run in the SQLite pass")
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


def _start() -> LiveServer:
    live = LiveServer("sqlite", extra_env=FEDERATION)
    live.start()
    return live


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[LiveServer, LiveServer, LiveServer]]:
    started: list[LiveServer] = []
    try:
        for _ in range(3):
            started.append(_start())
        yield started[0], started[1], started[2]
    finally:
        for live in started:
            live.stop()


def _person(server: LiveServer, name: str) -> Person:
    keys = Mastodon.create_app("federation tests", api_base_url=server.url)
    api = Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=server.url)
    api.create_account(name, PASSWORD, f"{name}@example.org", agreement=True)
    me = api.account_verify_credentials()
    return Person(server, api, str(me.id), me.username)


@pytest.fixture(scope="module")
def people(servers: tuple[LiveServer, LiveServer, LiveServer]) -> dict[str, Person]:
    a, b, c = servers
    return {"alice": _person(a, "alice"), "bob": _person(b, "bob"), "carol": _person(c, "carol")}


def _resolve(person: Person, other: Person) -> str:
    """The id, on `person`'s server, of `other` found by handle with resolve=true."""
    found = person.api.search_v2(other.handle, resolve=True, result_type="accounts")
    assert [a.acct for a in found.accounts] == [other.handle.lstrip("@")]
    return str(found.accounts[0].id)


def _db(server: LiveServer) -> sqlite3.Connection:
    return sqlite3.connect(server.workdir / "agora.db")


def _remote_posts(server: LiveServer, origin: LiveServer) -> list[str]:
    with _db(server) as conn:
        rows = conn.execute("SELECT uri FROM posts WHERE uri LIKE ?", (f"{origin.url}/%",))
        return [r[0] for r in rows]


def _home_texts(person: Person) -> list[str]:
    return [s.content for s in person.api.timeline_home(limit=40)]


@pytest.fixture(scope="module")
def followed(people: dict[str, Person]) -> dict[str, Person]:
    """bob (B) follows alice (A) through search + follow; carol (C) only resolves her."""
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    remote_alice = _resolve(bob, alice)
    bob.api.account_follow(remote_alice)
    wait_for(
        lambda: bob.api.account_relationships(remote_alice)[0].following,
        15,
        "the Accept to make bob's follow real",
    )
    _resolve(carol, alice)
    return people


def test_webfinger_and_actor_document(people: dict[str, Person]) -> None:
    alice = people["alice"]
    finger = httpx.get(
        f"{alice.server.url}/.well-known/webfinger",
        params={"resource": f"acct:alice@127.0.0.1:{alice.server.port}"},
    ).json()
    self_link = next(link for link in finger["links"] if link["rel"] == "self")
    assert self_link["href"] == alice.actor
    for path in ("/@alice", "/users/alice"):
        doc = httpx.get(
            alice.server.url + path, headers={"Accept": "application/activity+json"}
        ).json()
        assert doc["id"] == alice.actor and doc["type"] == "Person"
        assert doc["publicKey"]["owner"] == alice.actor
        assert doc["endpoints"]["sharedInbox"] == f"{alice.server.url}/inbox"
    html = httpx.get(f"{alice.server.url}/@alice", headers={"Accept": "text/html"})
    assert html.headers["content-type"].startswith("text/html")


def test_follow_across_servers(followed: dict[str, Person]) -> None:
    alice, bob = followed["alice"], followed["bob"]
    followers = wait_for(
        lambda: alice.api.account_followers(alice.id) or None, 10, "alice's remote follower"
    )
    assert [f.acct for f in followers] == [bob.handle.lstrip("@")]
    assert alice.api.account(alice.id).followers_count == 1


def test_public_post_reaches_the_follower_and_no_other_server(
    followed: dict[str, Person],
) -> None:
    alice, bob, carol = followed["alice"], followed["bob"], followed["carol"]
    status = alice.api.status_post("Hello from server A, fediverse!")
    wait_for(
        lambda: any("Hello from server A" in t for t in _home_texts(bob)),
        15,
        "alice's public post in bob's home timeline on B",
    )
    arrived = next(s for s in bob.api.timeline_home() if "Hello from server A" in s.content)
    assert arrived.account.acct == alice.handle.lstrip("@")
    assert arrived.uri == status.uri and arrived.visibility == "public"
    assert _remote_posts(carol.server, alice.server) == []
    # on B it is a remote post: on the federated timeline, not on B's local one
    ids = {str(s.id) for s in bob.api.timeline_public(remote=True)}
    assert str(arrived.id) in ids
    assert str(arrived.id) not in {str(s.id) for s in bob.api.timeline_local()}
    assert str(arrived.id) in {str(s.id) for s in bob.api.timeline_public()}
    page = httpx.get(f"{bob.server.url}/local", timeout=10)
    assert page.status_code == 200 and "Hello from server A" not in page.text


def test_followers_only_post_reaches_only_the_server_with_a_follower(
    followed: dict[str, Person],
) -> None:
    alice, bob, carol = followed["alice"], followed["bob"], followed["carol"]
    status = alice.api.status_post("Only for my followers", visibility="private")
    wait_for(
        lambda: any("Only for my followers" in t for t in _home_texts(bob)),
        15,
        "the followers-only post in bob's home on B",
    )
    assert status.uri in _remote_posts(bob.server, alice.server)
    # C has no follower of alice: nothing was delivered there (after B got it, C would too)
    assert status.uri not in _remote_posts(carol.server, alice.server)
    assert _remote_posts(carol.server, alice.server) == []
    # and a stranger on B does not see it either: the visibility rule holds for remote posts
    dave = _person(bob.server, "dave")
    found = dave.api.account_statuses(_resolve(dave, alice))
    assert "Only for my followers" not in [s.content for s in found]


def test_deleted_post_leaves_the_remote_server(followed: dict[str, Person]) -> None:
    alice, bob = followed["alice"], followed["bob"]
    status = alice.api.status_post("This one will be deleted")
    wait_for(lambda: any("will be deleted" in t for t in _home_texts(bob)), 15, "the post on B")
    alice.api.status_delete(status.id)
    wait_for(
        lambda: not any("will be deleted" in t for t in _home_texts(bob)),
        15,
        "the post to leave bob's home on B",
    )


# --- bad input at the inbox ---------------------------------------------------------------


def _alice_key(alice: Person) -> str:
    """alice's private key, read from A's database (it exists: she signed deliveries)."""
    with _db(alice.server) as conn:
        (pem,) = conn.execute(
            "SELECT private_key_pem FROM account_keys JOIN accounts ON id = account_id "
            "WHERE username = 'alice'"
        ).fetchone()
    return str(pem)


def _create(alice: Person, text: str, actor: str | None = None) -> dict[str, object]:
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


def _post(inbox: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        inbox, content=body, headers={"Content-Type": "application/activity+json", **headers}
    )


def _signed(alice: Person, inbox: str, body: bytes, now: datetime | None = None) -> dict[str, str]:
    return sign_cavage(
        "POST",
        inbox,
        body,
        key_id=f"{alice.actor}#main-key",
        private_pem=_alice_key(alice),
        now=now,
    )


def test_inbox_refuses_bad_deliveries_and_stores_nothing(followed: dict[str, Person]) -> None:
    alice, bob = followed["alice"], followed["bob"]
    inbox = f"{bob.server.url}/inbox"
    stale = datetime.now(UTC) - timedelta(hours=13)

    def bad(text: str, actor: str | None = None) -> bytes:
        return json.dumps(_create(alice, text, actor)).encode()

    def refused(body: bytes, headers: dict[str, str], status: int, why: str) -> None:
        answer = _post(inbox, body, headers)
        assert (answer.status_code, why in answer.json()["error"]) == (status, True), answer.text

    body = bad("unsigned")
    refused(body, {}, 401, "not signed")
    body = bad("badly signed")
    headers = _signed(alice, inbox, body)
    headers["Signature"] = headers["Signature"].replace('signature="', 'signature="AAAA')
    refused(body, headers, 401, "does not verify")
    body = bad("stale date")
    refused(body, _signed(alice, inbox, body, now=stale), 401, "more than 12 hours")
    body = bad("wrong digest")
    refused(bad("wrong digest, changed"), _signed(alice, inbox, body), 401, "digest")
    body = bad("spoofed actor", actor=f"{alice.server.url}/users/mallory")
    refused(body, _signed(alice, inbox, body), 401, "not the key's owner")
    refused(b"not json", _signed(alice, inbox, b"not json"), 400, "not JSON")
    with _db(bob.server) as conn:
        stored = conn.execute("SELECT content_html FROM posts").fetchall()
    assert not any(
        word in html
        for (html,) in stored
        for word in ("unsigned", "badly signed", "stale date", "wrong digest", "spoofed")
    )
    # the same delivery, correctly signed, is accepted once and stored: the checks above
    # refused the faults, not the deliveries
    body = bad("correctly signed")
    assert _post(inbox, body, _signed(alice, inbox, body)).status_code == 202
    assert _post(inbox, body, _signed(alice, inbox, body)).status_code == 202  # redelivery
    wait_for(
        lambda: any("correctly signed" in t for t in _home_texts(bob)), 15, "the good delivery"
    )
    with _db(bob.server) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM posts WHERE content_html LIKE '%correctly signed%'"
        ).fetchone()
    assert count == 1
