"""Followers collection synchronisation (FEP-8fcf, federation/followers_sync.py), in process:
the digest, the signed header both ways, the partial collection served to a signed fetch
only, and a remote server's list reconciling the local follows of its actor (its partial
collection served by a real HTTP server on a loopback port)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from agora.config import get_settings
from agora.db.models import Account, Follow, FollowRequest
from agora.federation import followers_sync
from agora.federation.followers_sync import SYNC_HEADER, partial_digest
from agora.federation.signatures import (
    sign_cavage,
    sign_rfc9421,
    signature_covers,
    verify_request,
)
from agora.social.people import relationships
from federation_peers import (
    AP,
    BASE,
    PUBLIC,
    FileServer,
    Peer,
    make_peer,
    queued,
    remote_peer,
    signed_headers,
)
from helpers import post_status


def test_the_digest_is_the_feps_example() -> None:
    uris = ["https://testing.example.org/users/1", "https://testing.example.org/users/2"]
    expected = "c33f48cd341ef046a206b8a72ec97af65079f9a3a9b90eef79c5920dce45c61f"
    assert partial_digest(uris) == expected
    assert partial_digest(reversed(uris)) == expected
    assert partial_digest([]) == "0" * 64


def test_the_header_is_signed_with_either_scheme() -> None:
    from agora.federation.keys import generate_key_pair

    pair = generate_key_pair()
    url, body = f"{BASE}/inbox", b'{"type": "Create"}'
    covered = {SYNC_HEADER: 'collectionId="x", url="y", digest="z"'}
    for sign in (sign_cavage, sign_rfc9421):
        signed = sign("POST", url, body, key_id="k", private_pem=pair.private_pem, covered=covered)
        headers = {k.lower(): v for k, v in signed.items()}
        assert headers[SYNC_HEADER] == covered[SYNC_HEADER]
        verify_request("POST", url, headers, body, pair.public_pem)
        assert signature_covers(headers, SYNC_HEADER)
        plain = sign("POST", url, body, key_id="k", private_pem=pair.private_pem)
        assert not signature_covers({k.lower(): v for k, v in plain.items()}, SYNC_HEADER)


async def _follow(db: Any, follower_id: int, target_id: int, *, accepted: bool = True) -> None:
    async with db.session(write=True) as session:
        follower = await session.get(Account, follower_id)
        target = await session.get(Account, target_id)
        await relationships.follow(session, follower, target_id)
        if accepted and target.domain is not None:
            await relationships.answer_follow_request(session, target, follower_id, accept=True)
        await session.commit()


async def test_a_post_delivery_asks_for_the_header_and_the_partial_collection_is_signed_only(
    client, db, make_person, run_jobs
) -> None:
    alice, bob = await make_person("alice"), await make_person("bob")
    fan = await make_peer(db, "fan")
    other = await make_peer(db, "other", "elsewhere.example")
    for peer in (fan, other):
        await _follow(db, peer.id, alice.id)
    await post_status(client, alice, "hello")
    await run_jobs()
    sent = await queued(db, "ap_deliver")
    assert sent and all(p["synchronize_followers"] for p in sent)
    async with db.session() as session:
        author = await session.get(Account, alice.id)
        header = await followers_sync.header_for(session, author, "https://remote.example/inbox")
    assert header == (
        f'collectionId="{BASE}/users/alice/followers", '
        f'url="{BASE}/users/alice/followers_synchronization", '
        f'digest="{partial_digest([fan.uri])}"'
    )

    path = "/users/alice/followers_synchronization"
    assert (await client.get(path, headers={"Accept": AP})).status_code == 401
    r = await client.get(path, headers={"Accept": AP, **signed_headers(fan, "GET", path, None)})
    assert r.status_code == 200, r.text
    assert r.json()["orderedItems"] == [fan.uri]  # not the follower on elsewhere.example
    empty = "/users/bob/followers_synchronization"
    r = await client.get(empty, headers={"Accept": AP, **signed_headers(fan, "GET", empty, None)})
    assert r.json()["orderedItems"] == [] and r.json()["totalItems"] == 0
    missing = "/users/nobody/followers_synchronization"
    r = await client.get(missing, headers=signed_headers(fan, "GET", missing, None))
    assert r.status_code == 404
    assert bob.id  # bob has no followers: an empty list, not an error


def _create(peer: Peer, n: int) -> dict[str, Any]:
    note = {
        "id": f"{peer.uri}/notes/{n}",
        "type": "Note",
        "attributedTo": peer.uri,
        "content": f"note {n}",
        "to": [PUBLIC],
        "cc": [f"{peer.uri}/followers"],
    }
    return {**peer.create(note), "id": f"{peer.uri}/activities/{n}"}


async def _deliver_with_header(
    client: Any, peer: Peer, activity: dict[str, Any], header: str, *, signed: bool = True
) -> None:
    body = json.dumps(activity).encode()
    covered = {SYNC_HEADER: header}
    headers = sign_cavage(
        "POST",
        f"{BASE}/inbox",
        body,
        key_id=f"{peer.uri}#main-key",
        private_pem=peer.private_pem,
        covered=covered if signed else None,
    )
    r = await client.post(
        "/inbox", content=body, headers={"Content-Type": AP, **headers, SYNC_HEADER: header}
    )
    assert r.status_code == 202, r.text


async def _count(db: Any, model: Any, *where: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


async def test_a_follow_dropped_on_the_other_side_is_reconciled(
    client, db, make_person, run_jobs, monkeypatch
) -> None:
    """bob's server lists alice, erin and frank as his followers here; this server records
    alice and carol following him and erin asking to. After a delivery whose digest says
    so: carol's follow ends (and Undo(Follow) is sent), erin's request counts as accepted,
    frank (who never followed) is sent Undo(Follow), alice stays. A header that is not
    signed, names another collection or agrees with this server changes nothing."""
    alice, carol, erin, frank = [await make_person(n) for n in ("alice", "carol", "erin", "frank")]
    listed = [f"{BASE}/users/{name}" for name in ("alice", "erin", "frank")]
    monkeypatch.setattr(get_settings(), "federation_allow_private_addresses", True)
    files: dict[str, tuple[str, bytes]] = {}
    server = FileServer(files)
    try:
        bob = await remote_peer(db, f"{server.url}/users/bob", dead_inbox=True)
        sync_url = f"{bob.uri}/followers_synchronization"
        partial = {"type": "OrderedCollection", "id": sync_url, "orderedItems": listed}
        files["/users/bob/followers_synchronization"] = (AP, json.dumps(partial).encode())
        for person in (alice, carol):
            await _follow(db, person.id, bob.id)
        await _follow(db, erin.id, bob.id, accepted=False)
        await run_jobs()

        def header(digest: str, collection: str = f"{bob.uri}/followers") -> str:
            return f'collectionId="{collection}", url="{sync_url}", digest="{digest}"'

        agreed = partial_digest([f"{BASE}/users/alice", f"{BASE}/users/carol"])
        ignored = [
            (header(partial_digest(listed)), False),  # not covered by the signature
            (header(partial_digest(listed), f"{server.url}/users/eve/followers"), True),
            (header(agreed), True),  # this server agrees
        ]
        for n, (value, signed) in enumerate(ignored):
            await _deliver_with_header(client, bob, _create(bob, n), value, signed=signed)
        assert await queued(db, "ap_sync_followers") == []
        assert server.requests == []

        await _deliver_with_header(client, bob, _create(bob, 10), header(partial_digest(listed)))
        await _deliver_with_header(client, bob, _create(bob, 11), header(partial_digest(listed)))
        assert len(await queued(db, "ap_sync_followers")) == 1  # one pending per sender
        await run_jobs()
    finally:
        server.stop()
    assert server.requests == ["/users/bob/followers_synchronization"]
    followers = await _count(db, Follow, Follow.target_account_id == bob.id)
    assert followers == 2
    for person, follows in ((alice, 1), (carol, 0), (erin, 1), (frank, 0)):
        assert await _count(db, Follow, Follow.account_id == person.id) == follows, person
    assert await _count(db, FollowRequest) == 0
    undone = [
        p["activity"]["actor"]
        for p in await queued(db, "ap_deliver")
        if p["activity"]["type"] == "Undo"
    ]
    assert sorted(undone) == [f"{BASE}/users/carol", f"{BASE}/users/frank"]
