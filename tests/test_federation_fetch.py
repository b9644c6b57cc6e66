"""What other servers GET here (both databases): the instance actor, authorized fetch
(`AGORA_AUTHORIZED_FETCH`, with a real peer whose key signs the fetches) and the paged
collections (outbox, followers, following, featured; counts only when hidden)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from agora.config import get_settings
from agora.federation.signatures import sign_cavage, sign_rfc9421
from federation_receivers import Receiver

AP = "application/activity+json"
BASE = get_settings().base_url


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setattr(get_settings(), "federation_allow_private_addresses", True)
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def authorized_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "authorized_fetch", True)


def _signed_by(peer: Receiver, path: str, sign=sign_cavage, **kw) -> dict[str, str]:  # type: ignore[no-untyped-def]
    headers = sign(
        "GET",
        f"{BASE}{path}",
        None,
        key_id=f"{peer.actor()}#main-key",
        private_pem=peer.key.private_pem,
        **kw,
    )
    return {"Accept": AP, **headers}


async def test_instance_actor_document_and_webfinger(client) -> None:
    domain = get_settings().domain
    r = await client.get("/actor", headers={"Accept": AP})
    doc = r.json()
    assert r.status_code == 200 and r.headers["content-type"].startswith(AP)
    assert (doc["id"], doc["type"], doc["preferredUsername"]) == (
        f"{BASE}/actor",
        "Application",
        domain,
    )
    assert doc["publicKey"]["id"] == f"{BASE}/actor#main-key"
    assert doc["publicKey"]["owner"] == doc["id"]
    assert doc["endpoints"]["sharedInbox"] == f"{BASE}/inbox"
    again = await client.get("/actor", headers={"Accept": AP})
    assert again.json()["publicKey"]["publicKeyPem"] == doc["publicKey"]["publicKeyPem"]
    finger = await client.get(
        "/.well-known/webfinger", params={"resource": f"acct:{domain}@{domain}"}
    )
    assert finger.status_code == 200
    assert finger.json()["links"] == [{"rel": "self", "type": AP, "href": f"{BASE}/actor"}]


async def test_authorized_fetch_refuses_unsigned_gets_and_keeps_discovery_open(
    client, make_person, authorized_fetch
) -> None:
    alice = await make_person("alice")
    r = await client.post("/api/v1/statuses", json={"status": "hi"}, headers=alice.headers)
    note = f"/users/alice/statuses/{r.json()['id']}"
    for path in (
        "/users/alice",
        "/@alice",
        note,
        "/users/alice/outbox",
        "/users/alice/outbox?page=true",
        "/users/alice/followers",
        "/users/alice/following",
        "/users/alice/collections/featured",
        "/users/alice/collections/tags",
        "/users/alice/followers_synchronization",
    ):
        answer = await client.get(path, headers={"Accept": AP})
        assert answer.status_code == 401, path
        assert answer.json() == {"error": "Request not signed"}
    domain = get_settings().domain
    for path, params in (
        ("/actor", {}),
        ("/.well-known/webfinger", {"resource": f"acct:alice@{domain}"}),
        ("/.well-known/host-meta", {}),
        ("/.well-known/host-meta.json", {}),
        ("/.well-known/nodeinfo", {}),
        ("/nodeinfo/2.1", {}),
    ):
        answer = await client.get(path, params=params, headers={"Accept": AP})
        assert answer.status_code == 200, path


async def test_authorized_fetch_accepts_a_peers_signature_in_either_scheme(
    client, make_person, authorized_fetch, peer
) -> None:
    await make_person("alice")
    for sign in (sign_cavage, sign_rfc9421):
        r = await client.get("/users/alice", headers=_signed_by(peer, "/users/alice", sign))
        assert r.status_code == 200 and r.json()["id"] == f"{BASE}/users/alice", r.text
    # /@alice is served by /users/alice, but its signer signed /@alice
    r = await client.get("/@alice", headers=_signed_by(peer, "/@alice"))
    assert r.status_code == 200 and r.json()["type"] == "Person", r.text
    # the peer's key was fetched from its own host, signed by this server's instance actor
    (fetched,) = [g for g in peer.received if g.method == "GET"]
    assert f'keyId="{BASE}/actor#main-key"' in fetched.headers["signature"]


async def test_authorized_fetch_refuses_bad_signatures(
    client, make_person, authorized_fetch, peer
) -> None:
    await make_person("alice")
    forged = _signed_by(peer, "/users/alice")
    forged["signature"] = forged.pop("Signature").replace('signature="', 'signature="AAAA')
    stale = _signed_by(peer, "/users/alice", now=datetime.now(UTC) - timedelta(hours=13))
    other_path = _signed_by(peer, "/users/bob")
    unknown = dict(_signed_by(peer, "/users/alice"))
    unknown["Signature"] = unknown["Signature"].replace(
        peer.actor(), "http://127.0.0.1:9/users/nobody"
    )
    for headers, why in (
        (forged, "does not verify"),
        (stale, "more than 12 hours"),
        (other_path, "does not verify"),
        (unknown, "cannot be fetched"),
    ):
        r = await client.get("/users/alice", headers=headers)
        assert r.status_code == 401 and why in r.json()["error"], r.text


async def test_outbox_is_paged_newest_first_with_public_posts_only(client, make_person) -> None:
    alice = await make_person("alice")
    ids = []
    for n in range(23):
        r = await client.post(
            "/api/v1/statuses", json={"status": f"post {n}"}, headers=alice.headers
        )
        ids.append(r.json()["id"])
    for visibility in ("private", "direct"):
        await client.post(
            "/api/v1/statuses",
            json={"status": f"not for the outbox {visibility}", "visibility": visibility},
            headers=alice.headers,
        )
    await client.post(
        "/api/v1/statuses",
        json={"status": "quiet", "visibility": "unlisted"},
        headers=alice.headers,
    )
    head = (await client.get("/users/alice/outbox", headers={"Accept": AP})).json()
    outbox = f"{BASE}/users/alice/outbox"
    assert (head["type"], head["totalItems"], head["first"]) == (
        "OrderedCollection",
        26,
        f"{outbox}?page=true",
    )
    first = (await client.get(head["first"].removeprefix(BASE), headers={"Accept": AP})).json()
    assert first["type"] == "OrderedCollectionPage" and first["partOf"] == outbox
    items = first["orderedItems"]
    assert len(items) == 20 and all(i["type"] == "Create" for i in items)
    contents = [i["object"]["content"] for i in items]
    assert contents[0] == "<p>quiet</p>" and contents[1] == "<p>post 22</p>"
    assert not any("not for the outbox" in c for c in contents)
    second = (await client.get(first["next"].removeprefix(BASE), headers={"Accept": AP})).json()
    rest = [i["object"]["content"] for i in second["orderedItems"]]
    assert rest == [f"<p>post {n}</p>" for n in (3, 2, 1, 0)] and "next" not in second
    bad = await client.get("/users/alice/outbox?page=true&max_id=abc", headers={"Accept": AP})
    assert bad.status_code == 200 and len(bad.json()["orderedItems"]) == 20  # ignored: first page


async def test_followers_and_following_are_paged_and_hidden_when_asked(client, make_person) -> None:
    alice = await make_person("alice")
    fans = [await make_person(f"fan{n}") for n in range(22)]
    for fan in fans:
        r = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=fan.headers)
        assert r.status_code == 200
    head = (await client.get("/users/alice/followers", headers={"Accept": AP})).json()
    assert head["totalItems"] == 22
    page = (await client.get(head["first"].removeprefix(BASE), headers={"Accept": AP})).json()
    more = (await client.get(page["next"].removeprefix(BASE), headers={"Accept": AP})).json()
    listed = page["orderedItems"] + more["orderedItems"]
    assert listed == [f"{BASE}/users/fan{n}" for n in reversed(range(22))]
    following = (await client.get("/users/fan0/following?page=true", headers={"Accept": AP})).json()
    assert following["orderedItems"] == [f"{BASE}/users/alice"]
    # alice hides her collections: counts only, even for a page
    r = await client.patch(
        "/api/v1/accounts/update_credentials",
        json={"hide_collections": True},
        headers=alice.headers,
    )
    assert r.status_code == 200 and r.json()["source"]["hide_collections"] is True
    assert r.json()["hide_collections"] is True
    # and the API lists them to alice only (Mastodon's rule), for both lists
    for which in ("followers", "following"):
        path = f"/api/v1/accounts/{alice.id}/{which}"
        assert (await client.get(path, headers=fans[0].headers)).json() == []
        assert (await client.get(path)).json() == []
    mine = await client.get(f"/api/v1/accounts/{alice.id}/followers", headers=alice.headers)
    assert len(mine.json()) == 22
    shown = await client.get(f"/api/v1/accounts/{fans[0].id}/following", headers=alice.headers)
    assert [a["username"] for a in shown.json()] == ["alice"]  # fan0 hides nothing
    for path in ("/users/alice/followers", "/users/alice/followers?page=true"):
        hidden = (await client.get(path, headers={"Accept": AP})).json()
        assert hidden == {
            "@context": hidden["@context"],
            "id": f"{BASE}/users/alice/followers",
            "type": "OrderedCollection",
            "totalItems": 22,
        }


async def test_featured_holds_the_pinned_public_posts(client, make_person) -> None:
    alice = await make_person("alice")
    pinned = []
    for text, visibility in (("pin me", "public"), ("hidden pin", "private"), ("plain", "public")):
        r = await client.post(
            "/api/v1/statuses",
            json={"status": text, "visibility": visibility},
            headers=alice.headers,
        )
        if text != "plain":
            await client.post(f"/api/v1/statuses/{r.json()['id']}/pin", headers=alice.headers)
            pinned.append(r.json()["id"])
    actor = (await client.get("/users/alice", headers={"Accept": AP})).json()
    assert actor["featured"] == f"{BASE}/users/alice/collections/featured"
    doc = (await client.get("/users/alice/collections/featured", headers={"Accept": AP})).json()
    assert doc["totalItems"] == 1
    assert [n["content"] for n in doc["orderedItems"]] == ["<p>pin me</p>"]
    assert doc["orderedItems"][0]["id"] == f"{BASE}/users/alice/statuses/{pinned[0]}"


async def test_featured_tags_and_discovery_documents(client, make_person) -> None:
    """The actor's `featuredTags` collection; host-meta as XML and as JSON; WebFinger of a
    profile URL of this server (`/@NAME`, `/users/NAME`), not of another's."""
    alice = await make_person("alice")
    for name in ("Python", "agora"):
        r = await client.post("/api/v1/featured_tags", json={"name": name}, headers=alice.headers)
        assert r.status_code == 200, r.text
    actor = (await client.get("/users/alice", headers={"Accept": AP})).json()
    assert actor["featuredTags"] == f"{BASE}/users/alice/collections/tags"
    doc = (await client.get("/users/alice/collections/tags", headers={"Accept": AP})).json()
    assert doc["totalItems"] == 2
    assert sorted((t["type"], t["name"].lower(), t["href"]) for t in doc["orderedItems"]) == [
        ("Hashtag", "#agora", f"{BASE}/tags/agora"),
        ("Hashtag", "#python", f"{BASE}/tags/python"),
    ]
    assert (await client.get("/users/nobody/collections/tags")).status_code == 404

    xml = await client.get("/.well-known/host-meta")
    assert xml.headers["content-type"].startswith("application/xrd+xml")
    template = f"{BASE}/.well-known/webfinger?resource={{uri}}"
    assert f'template="{template}"' in xml.text
    for answer in (
        await client.get("/.well-known/host-meta.json"),
        await client.get("/.well-known/host-meta", headers={"Accept": "application/json"}),
    ):
        assert answer.json() == {"links": [{"rel": "lrdd", "template": template}]}

    for resource in (f"{BASE}/@alice", f"{BASE}/users/alice"):
        r = await client.get("/.well-known/webfinger", params={"resource": resource})
        assert r.status_code == 200 and r.json()["subject"].startswith("acct:alice@"), resource
    r = await client.get(
        "/.well-known/webfinger", params={"resource": "https://evil.example/@alice"}
    )
    assert r.status_code == 404


async def test_a_note_carries_its_hashtags(client, make_person) -> None:
    """As Mastodon sends them: a `Hashtag` tag per hashtag (its page here as `href`), beside
    the `Mention`s, so the other server files the post under them."""
    alice = await make_person("alice")
    await make_person("bob")
    r = await client.post(
        "/api/v1/statuses", json={"status": "hi @bob #Agora #python"}, headers=alice.headers
    )
    note = (
        await client.get(f"/users/alice/statuses/{r.json()['id']}", headers={"Accept": AP})
    ).json()
    assert sorted((t["type"], t["name"]) for t in note["tag"]) == [
        ("Hashtag", "#agora"),
        ("Hashtag", "#python"),
        ("Mention", "@bob"),
    ]
    assert {t["href"] for t in note["tag"] if t["type"] == "Hashtag"} == {
        f"{BASE}/tags/agora",
        f"{BASE}/tags/python",
    }
