"""The ActivityPub door on one server (both databases): actor documents and content
negotiation, WebFinger, the keys, the inbox's refusals, the outgoing client's SSRF guard and
search resolving a handle that cannot be reached."""

from __future__ import annotations

import pytest

from agora.config import get_settings
from agora.federation.client import FederationError, check_url

AP = "application/activity+json"
LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
BASE = get_settings().base_url


async def test_actor_document_by_content_negotiation(client, make_person) -> None:
    alice = await make_person("alice", locked=True)
    r = await client.patch(
        "/api/v1/agora/data_reuse", json={"bulkDataset": False}, headers=alice.headers
    )
    assert r.status_code == 200
    docs = []
    for path, accept in (("/users/alice", AP), ("/@alice", AP), ("/@alice", LD)):
        r = await client.get(path, headers={"Accept": accept})
        assert r.status_code == 200 and r.headers["content-type"].startswith(AP), (path, r.text)
        docs.append(r.json())
    doc = docs[0]
    actor = f"{BASE}/users/alice"
    assert doc["id"] == actor and doc["type"] == "Person"
    assert doc["inbox"] == f"{actor}/inbox" and doc["outbox"] == f"{actor}/outbox"
    assert doc["followers"] == f"{actor}/followers" and doc["following"] == f"{actor}/following"
    assert doc["endpoints"]["sharedInbox"] == f"{BASE}/inbox"
    assert doc["publicKey"]["id"] == f"{actor}#main-key" and doc["publicKey"]["owner"] == actor
    assert doc["manuallyApprovesFollowers"] is True
    assert doc["discoverable"] is True and doc["indexable"] is True
    assert doc["icon"]["url"].startswith(BASE)
    assert doc["dataReuse"]["bulkDataset"]["allow"] is False
    assert "syntheticContentGeneration" not in doc["dataReuse"]  # unset: left out
    # the key is made once: every fetch publishes the same one
    assert {d["publicKey"]["publicKeyPem"] for d in docs} == {doc["publicKey"]["publicKeyPem"]}
    # HTML clients get the profile page
    html = await client.get("/@alice", headers={"Accept": "text/html"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    moved = await client.get("/users/alice", headers={"Accept": "text/html"})
    assert moved.status_code == 302 and moved.headers["location"] == "/@alice"


async def test_actor_document_carries_the_consent_headers(client, make_person) -> None:
    await make_person("alice")
    r = await client.get("/users/alice", headers={"Accept": AP})
    page = await client.get("/@alice", headers={"Accept": "text/html"})
    assert r.headers["x-robots-tag"] == "noai, noimageai"  # training not allowed by default
    for header in ("content-usage", "x-robots-tag", "tdm-reservation"):
        assert r.headers.get(header) == page.headers.get(header), header


async def test_every_activitypub_answer_carries_the_pages_headers(client, make_person) -> None:
    """Actor, outbox, followers, following and a Note: the same Content-Usage, X-Robots-Tag
    and tdm-reservation headers as the account's (or post's) web page."""
    from helpers import post_status

    alice = await make_person("alice")
    r = await client.patch(
        "/api/v1/agora/data_reuse", json={"syntheticContentGeneration": True}, headers=alice.headers
    )
    assert r.status_code == 200
    names = ("content-usage", "x-robots-tag", "tdm-reservation")
    page = await client.get("/@alice", headers={"Accept": "text/html"})
    assert page.headers["content-usage"] == "train-ai=y"  # images and TDM still reserved
    for path in ("/users/alice", "/users/alice/outbox", "/users/alice/followers", "/@alice"):
        r = await client.get(path, headers={"Accept": AP})
        assert r.status_code == 200, path
        assert [r.headers.get(h) for h in names] == [page.headers.get(h) for h in names], path
    opted_out = await post_status(client, alice, "not for training", no_ai_reuse="true")
    post_page = await client.get(f"/@alice/{opted_out['id']}", headers={"Accept": "text/html"})
    note = await client.get(f"/users/alice/statuses/{opted_out['id']}", headers={"Accept": AP})
    assert note.json()["dataReuse"] == {"noAiReuse": True}
    assert note.headers["content-usage"] == "train-ai=n"
    assert [note.headers.get(h) for h in names] == [post_page.headers.get(h) for h in names]
    following = await client.get("/users/alice/following", headers={"Accept": AP})
    assert following.headers["content-usage"] == "train-ai=y"


async def test_assistant_actor_is_a_service(client, make_person) -> None:
    await make_person(get_settings().assistant_username, bot=True)
    r = await client.get(f"/users/{get_settings().assistant_username}", headers={"Accept": AP})
    assert r.json()["type"] == "Service"


async def test_unknown_actor_is_404(client) -> None:
    r = await client.get("/users/nobody", headers={"Accept": AP})
    assert r.status_code == 404 and r.json() == {"error": "Record not found"}


async def test_webfinger_points_at_the_actor(client, make_person) -> None:
    await make_person("alice")
    domain = get_settings().domain
    r = await client.get("/.well-known/webfinger", params={"resource": f"acct:alice@{domain}"})
    links = {link["rel"]: link for link in r.json()["links"]}
    assert links["self"] == {"rel": "self", "type": AP, "href": f"{BASE}/users/alice"}
    actor = await client.get(links["self"]["href"].removeprefix(BASE), headers={"Accept": AP})
    assert actor.json()["id"] == links["self"]["href"]


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"not json", {}, 400),
        (b"[1, 2]", {}, 422),
        (b'{"type": "Create"}', {}, 422),
        (
            b'{"id": "https://a.example/1", "type": "Create", "actor": "https://a.example/u"}',
            {},
            401,
        ),
        (b"{" + b" " * 1_000_000 + b"}", {}, 413),  # over max_body_bytes (1 MB)
    ],
)
async def test_inbox_refuses_bad_input(client, db, body, headers, status) -> None:
    from sqlalchemy import func, select

    from agora.db.models import InboxActivity, Job

    for path in ("/inbox",):
        r = await client.post(path, content=body, headers={"Content-Type": AP, **headers})
        assert r.status_code == status and "error" in r.json(), r.text
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(InboxActivity)) == 0
        assert await session.scalar(select(func.count()).select_from(Job)) == 0


async def test_personal_inbox_of_nobody_is_404(client) -> None:
    r = await client.post("/users/nobody/inbox", content=b"{}", headers={"Content-Type": AP})
    assert r.status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/users/x",
        "http://10.1.2.3/users/x",
        "http://[::1]/users/x",
        "http://169.254.169.254/latest/meta-data",
        "ftp://example.org/users/x",
        "file:///etc/passwd",
    ],
)
async def test_outgoing_client_refuses_private_addresses(url) -> None:
    assert get_settings().federation_allow_private_addresses is False
    with pytest.raises(FederationError, match="Refusing"):
        await check_url(url)


async def test_search_resolve_of_an_unreachable_handle_finds_nothing(client, make_person) -> None:
    alice = await make_person("alice")
    r = await client.get(
        "/api/v2/search",
        params={"q": "@bob@127.0.0.1:9", "resolve": "true", "type": "accounts"},
        headers=alice.headers,
    )
    assert r.status_code == 200 and r.json()["accounts"] == []


async def _remote_bob(db):  # type: ignore[no-untyped-def]
    from agora.federation.actors import RemoteActor, store_actor
    from agora.federation.keys import generate_key_pair

    actor = RemoteActor(
        uri="https://remote.example/users/bob",
        username="bob",
        domain="remote.example",
        display_name="Remote Bob",
        note_html="",
        url="https://remote.example/@bob",
        inbox="https://remote.example/users/bob/inbox",
        shared_inbox="https://remote.example/inbox",
        followers="https://remote.example/users/bob/followers",
        public_key_pem=generate_key_pair().public_pem,
        locked=False,
        bot=False,
        discoverable=True,
    )
    async with db.session(write=True) as session:
        account = await store_actor(session, actor)
        await session.commit()
        return account


async def test_remote_account_is_not_local(client, db, make_person) -> None:
    """A stored remote account keeps its handle and never answers for a local name: not in
    WebFinger, not as an actor here, not in the instance's own counts."""
    alice = await make_person("alice")
    bob = await _remote_bob(db)
    r = await client.get(f"/api/v1/accounts/{bob.id}", headers=alice.headers)
    body = r.json()
    assert (body["acct"], body["uri"], body["url"]) == (
        "bob@remote.example",
        "https://remote.example/users/bob",
        "https://remote.example/@bob",
    )
    assert (await client.get("/users/bob", headers={"Accept": AP})).status_code == 404
    domain = get_settings().domain
    finger = await client.get("/.well-known/webfinger", params={"resource": f"acct:bob@{domain}"})
    assert finger.status_code == 404
    stats = (await client.get("/api/v1/instance")).json()["stats"]
    assert stats["user_count"] == 1
    found = await client.get(
        "/api/v2/search", params={"q": "@bob@remote.example"}, headers=alice.headers
    )
    assert [a["id"] for a in found.json()["accounts"]] == [str(bob.id)]


async def test_a_name_resolving_to_loopback_is_refused_where_the_connection_is_made(
    monkeypatch,
) -> None:
    """DNS rebinding: the address is checked where the connection is made, from the one
    resolution that connection uses. `localhost` (127.0.0.1) is refused with private
    addresses not allowed, and the server listening there never sees a connection; allowed,
    the same fetch reaches it, by the address resolved, with the name kept in Host."""
    import asyncio

    from agora.federation.client import fetch_json

    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        body = b'{"ok": true}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        assert get_settings().federation_allow_private_addresses is False
        with pytest.raises(FederationError, match="Refusing"):
            await fetch_json(f"http://localhost:{port}/users/x")
        assert seen == []
        monkeypatch.setattr(get_settings(), "federation_allow_private_addresses", True)
        assert await fetch_json(f"http://localhost:{port}/users/x") == {"ok": True}
        assert len(seen) == 1 and f"host: localhost:{port}".encode() in seen[0].lower()
        # the connection goes where the check said, never to a second answer of the name:
        # a name nothing resolves is reached through the address its one check gave
        from agora.federation import client as federation_client

        checked: list[str] = []

        async def one_answer(host: str, port: int) -> str:
            checked.append(host)
            return "127.0.0.1"

        monkeypatch.setattr(federation_client, "checked_address", one_answer)
        assert await fetch_json(f"http://rebind.invalid:{port}/users/x") == {"ok": True}
        assert checked == ["rebind.invalid"] and b"rebind.invalid" in seen[1]
    finally:
        server.close()
        await server.wait_closed()
