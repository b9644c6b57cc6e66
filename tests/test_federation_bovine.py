"""Interop with an independent implementation: bovine-herd (bovine 0.5.19, from PyPI) as a real
peer server on a loopback port (tests/bovine_peer.py), against an Agora server process.

alice (Agora) follows moo (bovine) and is followed by it; Notes travel both ways: moo's public
Note reaches alice's home timeline, alice's public post reaches moo's inbox. bovine answers only
signed GETs, so this also proves Agora signs its fetches. Runs in the SQLite pass (bovine keeps
its own SQLite database either way).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import bovine_peer
from bovine_peer import BovinePeer
from federation_servers import Person, home_texts, person, start
from helpers import ON_POSTGRES
from live_server import LiveServer, wait_for

pytestmark = [
    pytest.mark.skipif(ON_POSTGRES, reason="the bovine interop test runs in the SQLite pass"),
    pytest.mark.skipif(not bovine_peer.available(), reason="bovine not installed: make peers"),
]


@pytest.fixture(scope="module")
def peers() -> Iterator[tuple[LiveServer, BovinePeer]]:
    agora, bovine = start("sqlite"), BovinePeer()
    try:
        bovine.start()
        yield agora, bovine
    finally:
        agora.stop()
        bovine.stop()


@pytest.fixture(scope="module")
def alice(peers: tuple[LiveServer, BovinePeer]) -> Person:
    return person(peers[0], "alice")


def _inbox_objects(bovine: BovinePeer) -> list[dict]:
    items = bovine.drive("inbox")
    return [i for i in items if isinstance(i, dict)]


def _id(value: object) -> object:
    return value.get("id") if isinstance(value, dict) else value


def test_an_agora_account_follows_a_bovine_actor(
    peers: tuple[LiveServer, BovinePeer], alice: Person
) -> None:
    _, bovine = peers
    found = alice.api.search_v2(bovine.handle, resolve=True, result_type="accounts")
    assert [a.acct for a in found.accounts] == [bovine.handle.lstrip("@")]
    moo = found.accounts[0].id
    alice.api.account_follow(moo)
    wait_for(
        lambda: any(i.get("type") == "Follow" for i in _inbox_objects(bovine)),
        20,
        "alice's Follow in moo's inbox",
    )
    bovine.drive("accept")
    wait_for(
        lambda: alice.api.account_relationships(moo)[0].following,
        20,
        "bovine's Accept to make alice's follow real",
    )
    bovine.drive("post", "Moo from bovine to the fediverse")
    wait_for(
        lambda: any("Moo from bovine" in t for t in home_texts(alice)),
        20,
        "moo's Note in alice's home timeline",
    )
    arrived = next(s for s in alice.api.timeline_home() if "Moo from bovine" in s.content)
    assert arrived.account.acct == bovine.handle.lstrip("@") and arrived.visibility == "public"


def test_a_bovine_actor_follows_an_agora_account(
    peers: tuple[LiveServer, BovinePeer], alice: Person
) -> None:
    _, bovine = peers
    bovine.drive("follow", f"{alice.server.url}/users/alice")
    followers = wait_for(
        lambda: alice.api.account_followers(alice.id) or None, 20, "moo among alice's followers"
    )
    assert [f.acct for f in followers] == [bovine.handle.lstrip("@")]
    status = alice.api.status_post("Hello bovine, from Agora")
    wait_for(
        lambda: any(
            i.get("type") == "Create" and _id(i.get("object")) == status.uri
            for i in _inbox_objects(bovine)
        ),
        20,
        "alice's Create in moo's inbox",
    )
