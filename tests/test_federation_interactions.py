"""Everyday interactions across servers, on one server (both databases): a remote actor
(bob on remote.example, whose key the test holds) delivers signed Likes, Announces, replies,
Updates and their Undo to the shared inbox, and the local people's likes, boosts, replies,
mentions, edits, profile changes and answers to follow requests become the deliveries
(`ap_deliver` jobs) federation/outbox.py writes. Those deliveries fail here (remote.example
does not resolve) and stay queued, so the tests read what would be sent from them.

Between real servers: tests/test_federation_interactions_servers.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from agora.config import get_settings
from agora.db.models import Account, FollowRequest, Job, Post
from agora.federation.actors import RemoteActor, store_actor
from agora.federation.keys import generate_key_pair
from agora.federation.signatures import sign_cavage

BASE = get_settings().base_url.rstrip("/")
AP = "application/activity+json"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


@dataclass
class Remote:
    """A remote actor whose private key the test holds."""

    name: str
    private_pem: str
    account_id: int

    @property
    def uri(self) -> str:
        return f"https://remote.example/users/{self.name}"

    @property
    def followers(self) -> str:
        return f"{self.uri}/followers"

    def note_id(self, n: int | str) -> str:
        return f"{self.uri}/statuses/{n}"


@pytest.fixture
def remote(db):  # type: ignore[no-untyped-def]
    async def make(name: str = "bob", **overrides: Any) -> Remote:
        pair = generate_key_pair()
        actor = RemoteActor(
            uri=f"https://remote.example/users/{name}",
            username=name,
            domain="remote.example",
            display_name=f"Remote {name}",
            note_html="",
            url=f"https://remote.example/@{name}",
            inbox=f"https://remote.example/users/{name}/inbox",
            shared_inbox="https://remote.example/inbox",
            followers=f"https://remote.example/users/{name}/followers",
            public_key_pem=pair.public_pem,
            locked=False,
            bot=False,
            discoverable=True,
            **overrides,
        )
        async with db.session(write=True) as session:
            account = await store_actor(session, actor)
            await session.commit()
            return Remote(name, pair.private_pem, account.id)

    return make


@pytest.fixture
def deliver(client, run_jobs):  # type: ignore[no-untyped-def]
    """POST a signed activity from a remote actor to the shared inbox and run the jobs."""

    async def send(actor: Remote, activity: dict[str, Any], *, status: int = 202) -> None:
        body = json.dumps({"@context": "https://www.w3.org/ns/activitystreams", **activity})
        headers = sign_cavage(
            "POST",
            f"{BASE}/inbox",
            body.encode(),
            key_id=f"{actor.uri}#main-key",
            private_pem=actor.private_pem,
        )
        r = await client.post(
            "/inbox", content=body.encode(), headers={"Content-Type": AP, **headers}
        )
        assert r.status_code == status, r.text
        await run_jobs()

    return send


def note(actor: Remote, n: int | str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": actor.note_id(n),
        "type": "Note",
        "attributedTo": actor.uri,
        "content": f"<p>{text}</p>",
        "published": "2026-12-01T10:00:00Z",
        "to": [PUBLIC],
        "cc": [actor.followers],
        **extra,
    }


def create(actor: Remote, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"{obj['id']}/activity",
        "type": "Create",
        "actor": actor.uri,
        "to": obj["to"],
        "cc": obj["cc"],
        "object": obj,
    }


@pytest.fixture
def deliveries(db, run_jobs):  # type: ignore[no-untyped-def]
    """Run the jobs, then the queued deliveries (`inbox`, `activity`), oldest first, of one
    activity type (of any without one)."""

    async def read(kind: str | None = None) -> list[dict[str, Any]]:
        await run_jobs()
        async with db.session() as session:
            jobs = (
                await session.scalars(select(Job).where(Job.kind == "ap_deliver").order_by(Job.id))
            ).all()
        found = [j.payload for j in jobs]
        return [p for p in found if kind is None or p["activity"]["type"] == kind]

    return read


async def post_row(db, post_id: int) -> Post:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        post = await session.get(Post, post_id)
        assert post is not None
        return post


async def remote_post(db, uri: str) -> Post | None:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return await session.scalar(select(Post).where(Post.uri == uri))


async def notifications(client, person) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    r = await client.get("/api/v1/notifications", headers=person.headers)
    return [(n["type"], n["account"]["acct"]) for n in r.json()]


async def publish(client, person, text: str, **form: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = await client.post("/api/v1/statuses", json={"status": text, **form}, headers=person.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def follow_alice(deliver, bob: Remote) -> None:  # type: ignore[no-untyped-def]
    await deliver(
        bob,
        {
            "id": f"{bob.uri}#follows/1",
            "type": "Follow",
            "actor": bob.uri,
            "object": f"{BASE}/users/alice",
        },
    )


# --- likes ----------------------------------------------------------------------------------


async def test_received_like_and_its_undo(
    client, db, make_person, remote, deliver, deliveries
) -> None:
    alice, bob = await make_person("alice"), await remote()
    status = await publish(client, alice, "Like me from afar")
    like = {
        "id": f"{bob.uri}#likes/1",
        "type": "Like",
        "actor": bob.uri,
        "object": status["uri"],
    }
    await deliver(bob, like)
    await deliver(bob, like)  # a redelivery changes nothing
    assert (await post_row(db, int(status["id"]))).favourites_count == 1
    assert await notifications(client, alice) == [("favourite", "bob@remote.example")]
    r = await client.get(f"/api/v1/statuses/{status['id']}/favourited_by", headers=alice.headers)
    assert [a["acct"] for a in r.json()] == ["bob@remote.example"]
    await deliver(
        bob, {"id": f"{bob.uri}#likes/1/undo", "type": "Undo", "actor": bob.uri, "object": like}
    )
    assert (await post_row(db, int(status["id"]))).favourites_count == 0
    assert await deliveries() == []  # nothing is sent back for a remote like


async def test_like_of_a_post_the_remote_actor_may_not_see_changes_nothing(
    client, db, make_person, remote, deliver
) -> None:
    alice, bob = await make_person("alice"), await remote()
    private = await publish(client, alice, "For my followers", visibility="private")
    await deliver(
        bob,
        {"id": f"{bob.uri}#likes/2", "type": "Like", "actor": bob.uri, "object": private["uri"]},
    )
    assert (await post_row(db, int(private["id"]))).favourites_count == 0
    assert await notifications(client, alice) == []


async def test_liking_a_remote_post_sends_like_and_undo_to_its_author(
    client, db, make_person, remote, deliver, deliveries
) -> None:
    alice, bob = await make_person("alice"), await remote()
    await deliver(bob, create(bob, note(bob, 1, "A remote thought")))
    stored = await remote_post(db, bob.note_id(1))
    assert stored is not None
    r = await client.post(f"/api/v1/statuses/{stored.id}/favourite", headers=alice.headers)
    assert r.status_code == 200 and r.json()["favourited"] is True
    [like] = await deliveries("Like")
    assert like["inbox"] == "https://remote.example/inbox"
    assert like["activity"]["actor"] == f"{BASE}/users/alice"
    assert like["activity"]["object"] == bob.note_id(1)
    await client.post(f"/api/v1/statuses/{stored.id}/unfavourite", headers=alice.headers)
    [undo] = await deliveries("Undo")
    assert undo["activity"]["object"]["id"] == like["activity"]["id"]
    # liking a local post sends nothing
    own = await publish(client, alice, "mine")
    await client.post(f"/api/v1/statuses/{own['id']}/favourite", headers=alice.headers)
    assert len(await deliveries()) == 2


# --- boosts ---------------------------------------------------------------------------------


async def test_received_announce_of_a_local_post_and_its_undo(
    client, db, make_person, remote, deliver
) -> None:
    alice, bob = await make_person("alice"), await remote()
    carol = await make_person("carol")
    status = await publish(client, alice, "Boost me from afar")
    announce = {
        "id": f"{bob.uri}/statuses/99/activity",
        "type": "Announce",
        "actor": bob.uri,
        "to": [PUBLIC],
        "cc": [bob.followers, f"{BASE}/users/alice"],
        "object": status["uri"],
    }
    await deliver(bob, announce)
    assert (await post_row(db, int(status["id"]))).reblogs_count == 1
    assert await notifications(client, alice) == [("reblog", "bob@remote.example")]
    boost = await remote_post(db, announce["id"])
    assert boost is not None and boost.reblog_of_id == int(status["id"])
    r = await client.get(f"/api/v1/statuses/{status['id']}/reblogged_by", headers=carol.headers)
    assert [a["acct"] for a in r.json()] == ["bob@remote.example"]
    # the Undo names the Announce by its id only: found by it
    undo = {"id": f"{announce['id']}/undo", "type": "Undo", "actor": bob.uri}
    await deliver(bob, {**undo, "object": {"id": announce["id"], "type": "Announce"}})
    assert (await post_row(db, int(status["id"]))).reblogs_count == 0
    assert await remote_post(db, announce["id"]) is None


async def test_announce_of_a_direct_post_or_by_a_stranger_of_another_changes_nothing(
    client, db, make_person, remote, deliver
) -> None:
    alice, bob = await make_person("alice"), await remote()
    direct = await publish(client, alice, "@nobody only", visibility="direct")
    await deliver(
        bob,
        {
            "id": f"{bob.uri}/statuses/98/activity",
            "type": "Announce",
            "actor": bob.uri,
            "to": [PUBLIC],
            "object": direct["uri"],
        },
    )
    assert (await post_row(db, int(direct["id"]))).reblogs_count == 0
    assert await remote_post(db, f"{bob.uri}/statuses/98/activity") is None
    # an Undo of someone else's boost undoes nothing
    status = await publish(client, alice, "boosted by carol")
    carol = await make_person("carol")
    await client.post(f"/api/v1/statuses/{status['id']}/reblog", headers=carol.headers)
    await deliver(
        bob,
        {
            "id": f"{bob.uri}/undo/1",
            "type": "Undo",
            "actor": bob.uri,
            "object": {"id": "x", "type": "Announce", "object": status["uri"]},
        },
    )
    assert (await post_row(db, int(status["id"]))).reblogs_count == 1


async def test_boosts_send_announce_to_remote_followers_and_the_remote_author(
    client, db, make_person, remote, deliver, deliveries
) -> None:
    alice, bob, dan = await make_person("alice"), await remote(), await remote("dan")
    await deliver(bob, create(bob, note(bob, 1, "Worth boosting")))
    stored = await remote_post(db, bob.note_id(1))
    assert stored is not None
    r = await client.post(f"/api/v1/statuses/{stored.id}/reblog", headers=alice.headers)
    assert r.status_code == 200
    [announce] = await deliveries("Announce")
    activity = announce["activity"]
    assert announce["inbox"] == "https://remote.example/inbox"
    assert activity["object"] == bob.note_id(1) and activity["to"] == [PUBLIC]
    assert bob.uri in activity["cc"]
    await client.post(f"/api/v1/statuses/{stored.id}/unreblog", headers=alice.headers)
    [undo] = await deliveries("Undo")
    assert undo["activity"]["object"]["id"] == activity["id"]
    # a local post boosted by someone with a remote follower goes to that follower's server
    await follow_alice(deliver, dan)
    carol = await make_person("carol")
    status = await publish(client, carol, "Local, boosted by alice")
    await client.post(f"/api/v1/statuses/{status['id']}/reblog", headers=alice.headers)
    second = (await deliveries("Announce"))[-1]
    assert second["activity"]["object"] == status["uri"]
    assert second["inbox"] == "https://remote.example/inbox"


async def test_boost_by_someone_without_remote_audience_sends_nothing(
    client, db, make_person
) -> None:
    alice, carol = await make_person("alice"), await make_person("carol")
    status = await publish(client, carol, "Local only")
    await client.post(f"/api/v1/statuses/{status['id']}/reblog", headers=alice.headers)
    async with db.session() as session:
        kinds = (await session.scalars(select(Job.kind))).all()
    assert "federate_reaction" not in kinds


# --- replies and mentions -----------------------------------------------------------------


async def test_received_reply_joins_the_thread(client, db, make_person, remote, deliver) -> None:
    alice, bob = await make_person("alice"), await remote()
    status = await publish(client, alice, "Ask me anything")
    reply = note(bob, 2, "A reply from afar", inReplyTo=status["uri"])
    await deliver(bob, create(bob, reply))
    stored = await remote_post(db, bob.note_id(2))
    assert stored is not None and stored.in_reply_to_id == int(status["id"])
    assert stored.in_reply_to_account_id == alice.id
    assert (await post_row(db, int(status["id"]))).replies_count == 1
    r = await client.get(f"/api/v1/statuses/{status['id']}/context", headers=alice.headers)
    assert [s["uri"] for s in r.json()["descendants"]] == [bob.note_id(2)]
    # a reply to that remote reply links to it in turn
    deeper = note(bob, 3, "and more", inReplyTo=bob.note_id(2))
    await deliver(bob, create(bob, deeper))
    r = await client.get(f"/api/v1/statuses/{status['id']}/context", headers=alice.headers)
    assert [s["uri"] for s in r.json()["descendants"]] == [bob.note_id(2), bob.note_id(3)]
    third = await remote_post(db, bob.note_id(3))
    assert third is not None and third.thread_root_id == int(status["id"])
    # a reply to a post this server does not know is stored unlinked
    await deliver(bob, create(bob, note(bob, 4, "orphan", inReplyTo="https://x.example/1")))
    orphan = await remote_post(db, bob.note_id(4))
    assert orphan is not None and orphan.in_reply_to_id is None


async def test_reply_to_a_remote_post_carries_in_reply_to_and_reaches_its_author(
    client, db, make_person, remote, deliver, deliveries
) -> None:
    alice, bob = await make_person("alice"), await remote()
    await deliver(bob, create(bob, note(bob, 1, "Reply to me")))
    stored = await remote_post(db, bob.note_id(1))
    assert stored is not None
    reply = await publish(
        client, alice, "@bob@remote.example here is my answer", in_reply_to_id=str(stored.id)
    )
    [sent] = await deliveries("Create")
    assert sent["inbox"] == "https://remote.example/inbox"
    obj = sent["activity"]["object"]
    assert obj["inReplyTo"] == bob.note_id(1) and obj["id"] == reply["uri"]
    assert bob.uri in obj["cc"]
    assert obj["tag"] == [{"type": "Mention", "href": bob.uri, "name": "@bob@remote.example"}]
    assert (await post_row(db, stored.id)).replies_count == 1


async def test_mention_of_a_known_remote_account_links_and_is_delivered(
    client, db, make_person, remote, deliveries
) -> None:
    alice, bob = await make_person("alice"), await remote()
    await remote("zed")
    status = await publish(client, alice, "Hi @bob@remote.example and @nobody@127.0.0.1:9")
    assert (
        '<span class="h-card" translate="no"><a href="https://remote.example/@bob" '
        'class="u-url mention"'
    ) in status["content"]
    assert "@nobody@127.0.0.1:9" in status["content"]  # unknown and unreachable: text
    assert [m["acct"] for m in status["mentions"]] == ["bob@remote.example"]
    [sent] = await deliveries("Create")
    assert sent["inbox"] == "https://remote.example/inbox"
    assert sent["activity"]["object"]["cc"] == [f"{BASE}/users/alice/followers", bob.uri]
    # bob is notified on his server; here the mention row makes him a recipient
    r = await client.get(f"/api/v1/statuses/{status['id']}", headers=alice.headers)
    assert r.json()["mentions"][0]["url"] == "https://remote.example/@bob"


async def test_direct_post_to_a_remote_mention_goes_to_that_server_only(
    client, db, make_person, remote, deliver, deliveries
) -> None:
    alice, bob = await make_person("alice"), await remote()
    # a follower on another server must not receive it
    async with db.session(write=True) as session:
        other = await store_actor(
            session,
            RemoteActor(
                uri="https://other.example/users/eve",
                username="eve",
                domain="other.example",
                display_name="",
                note_html="",
                url=None,
                inbox="https://other.example/users/eve/inbox",
                shared_inbox="https://other.example/inbox",
                followers=None,
                public_key_pem=generate_key_pair().public_pem,
                locked=False,
                bot=False,
                discoverable=True,
            ),
        )
        await session.commit()
    r = await client.post(f"/api/v1/accounts/{other.id}/follow", headers=alice.headers)
    assert r.status_code == 200
    await follow_alice(deliver, bob)
    status = await publish(client, alice, "@bob@remote.example just you", visibility="direct")
    [sent] = await deliveries("Create")
    assert sent["inbox"] == "https://remote.example/inbox"
    assert sent["activity"]["object"]["to"] == [bob.uri]
    assert sent["activity"]["object"]["cc"] == []
    assert sent["activity"]["object"]["id"] == status["uri"]


# --- edits ----------------------------------------------------------------------------------


async def test_edit_sends_update_note(client, db, make_person, remote, deliver, deliveries) -> None:
    alice, bob = await make_person("alice"), await remote()
    await follow_alice(deliver, bob)
    status = await publish(client, alice, "First version")
    r = await client.put(
        f"/api/v1/statuses/{status['id']}", json={"status": "Second version"}, headers=alice.headers
    )
    assert r.status_code == 200
    [update] = await deliveries("Update")
    obj = update["activity"]["object"]
    assert update["inbox"] == "https://remote.example/inbox"
    assert obj["id"] == status["uri"] and "Second version" in obj["content"]
    assert obj["updated"] and update["activity"]["id"] != f"{status['uri']}/activity"


async def test_received_update_edits_the_remote_post_with_history(
    client, db, make_person, remote, deliver
) -> None:
    alice, bob, mallory = await make_person("alice"), await remote(), await remote("mallory")
    original = note(bob, 5, "Before")
    await deliver(bob, create(bob, original))
    stored = await remote_post(db, bob.note_id(5))
    assert stored is not None
    await client.post(f"/api/v1/statuses/{stored.id}/reblog", headers=alice.headers)
    # someone else's Update changes nothing
    forged = {**original, "content": "<p>Forged</p>", "updated": "2026-12-02T10:00:00Z"}
    await deliver(
        mallory,
        {"id": f"{mallory.uri}#u1", "type": "Update", "actor": mallory.uri, "object": forged},
    )
    assert (await post_row(db, stored.id)).content_html == "<p>Before</p>"
    edited = {**original, "content": "<p>After</p>", "updated": "2026-12-02T10:00:00Z"}
    await deliver(
        bob, {"id": f"{bob.uri}#u2", "type": "Update", "actor": bob.uri, "object": edited}
    )
    post = await post_row(db, stored.id)
    assert post.content_html == "<p>After</p>" and post.text == "After"
    assert post.edited_at is not None
    r = await client.get(f"/api/v1/statuses/{stored.id}/history", headers=alice.headers)
    assert [e["content"] for e in r.json()] == ["<p>Before</p>", "<p>After</p>"]
    assert ("update", "bob@remote.example") in await notifications(client, alice)
    # an older Update arriving late changes nothing
    stale = {**original, "content": "<p>Stale</p>", "updated": "2026-12-01T11:00:00Z"}
    await deliver(bob, {"id": f"{bob.uri}#u3", "type": "Update", "actor": bob.uri, "object": stale})
    assert (await post_row(db, stored.id)).content_html == "<p>After</p>"


# --- profiles -------------------------------------------------------------------------------


async def test_received_update_person_refreshes_the_account(
    client, db, make_person, remote, deliver
) -> None:
    alice, bob = await make_person("alice"), await remote()
    fresh = generate_key_pair()
    doc = {
        "id": bob.uri,
        "type": "Person",
        "preferredUsername": "bob",
        "name": "Robert",
        "summary": "<p>New bio<script>x</script></p>",
        "inbox": f"{bob.uri}/inbox",
        "followers": bob.followers,
        "manuallyApprovesFollowers": True,
        "icon": {"type": "Image", "url": "https://remote.example/avatar.png"},
        "image": {"type": "Image", "url": "https://remote.example/header.png"},
        "attachment": [{"type": "PropertyValue", "name": "Site", "value": "<a href='x'>x.org</a>"}],
        "publicKey": {
            "id": f"{bob.uri}#main-key",
            "owner": bob.uri,
            "publicKeyPem": fresh.public_pem,
        },
    }
    await deliver(
        bob, {"id": f"{bob.uri}#update/1", "type": "Update", "actor": bob.uri, "object": doc}
    )
    r = await client.get(f"/api/v1/accounts/{bob.account_id}", headers=alice.headers)
    body = r.json()
    assert body["display_name"] == "Robert" and body["note"] == "<p>New bio</p>"
    assert body["locked"] is True
    assert body["avatar"] == "https://remote.example/avatar.png"
    assert body["header"] == "https://remote.example/header.png"
    assert [(f["name"], f["value"]) for f in body["fields"]] == [("Site", "x.org")]
    async with db.session() as session:
        account = await session.get(Account, bob.account_id)
        assert account is not None and account.public_key_pem == fresh.public_pem
    # bob now signs with his new key; the old one no longer verifies
    bob.private_pem = fresh.private_pem
    await deliver(
        bob, {"id": f"{bob.uri}#likes/9", "type": "Like", "actor": bob.uri, "object": "x"}
    )


async def test_update_person_of_someone_else_changes_nothing(
    client, db, make_person, remote, deliver
) -> None:
    alice, bob, mallory = await make_person("alice"), await remote(), await remote("mallory")
    doc = {
        "id": bob.uri,
        "type": "Person",
        "preferredUsername": "bob",
        "name": "Hijacked",
        "inbox": f"{bob.uri}/inbox",
        "publicKey": {"id": f"{bob.uri}#main-key", "owner": bob.uri, "publicKeyPem": "x"},
    }
    await deliver(
        mallory,
        {"id": f"{mallory.uri}#update/1", "type": "Update", "actor": mallory.uri, "object": doc},
    )
    r = await client.get(f"/api/v1/accounts/{bob.account_id}", headers=alice.headers)
    assert r.json()["display_name"] == "Remote bob"


async def test_profile_change_sends_update_person_to_remote_followers(
    client, db, make_person, remote, deliver, deliveries
) -> None:
    alice, bob = await make_person("alice"), await remote()
    carol = await make_person("carol")
    r = await client.patch(
        "/api/v1/accounts/update_credentials", json={"display_name": "C"}, headers=carol.headers
    )
    assert r.status_code == 200 and await deliveries("Update") == []  # no remote follower
    await follow_alice(deliver, bob)
    r = await client.patch(
        "/api/v1/accounts/update_credentials",
        json={"display_name": "Alice A.", "note": "Hello there"},
        headers=alice.headers,
    )
    assert r.status_code == 200
    [update] = await deliveries("Update")
    obj = update["activity"]["object"]
    assert update["inbox"] == "https://remote.example/inbox"
    assert obj["id"] == f"{BASE}/users/alice" and obj["type"] == "Person"
    assert obj["name"] == "Alice A." and "Hello there" in obj["summary"]
    assert obj["publicKey"]["publicKeyPem"]


# --- locked accounts ------------------------------------------------------------------------


async def test_locked_account_answers_remote_follow_requests_later(
    client, db, make_person, remote, deliver, deliveries
) -> None:
    alice, bob, dan = await make_person("alice", locked=True), await remote(), await remote("dan")
    for actor in (bob, dan):
        await deliver(
            actor,
            {
                "id": f"{actor.uri}#follows/7",
                "type": "Follow",
                "actor": actor.uri,
                "object": f"{BASE}/users/alice",
            },
        )
    assert await deliveries() == []  # nothing answered yet
    async with db.session() as session:
        uris = set((await session.scalars(select(FollowRequest.uri))).all())
    assert uris == {f"{bob.uri}#follows/7", f"{dan.uri}#follows/7"}
    r = await client.post(
        f"/api/v1/follow_requests/{bob.account_id}/authorize", headers=alice.headers
    )
    assert r.status_code == 200 and r.json()["followed_by"] is True
    r = await client.post(f"/api/v1/follow_requests/{dan.account_id}/reject", headers=alice.headers)
    assert r.status_code == 200 and r.json()["followed_by"] is False
    [accept] = await deliveries("Accept")
    [reject] = await deliveries("Reject")
    assert accept["activity"]["object"]["id"] == f"{bob.uri}#follows/7"
    assert accept["activity"]["object"]["actor"] == bob.uri
    assert reject["activity"]["object"]["id"] == f"{dan.uri}#follows/7"
    assert accept["activity"]["actor"] == f"{BASE}/users/alice"
    # answering a request that is gone is a 404 and sends nothing more
    r = await client.post(
        f"/api/v1/follow_requests/{dan.account_id}/authorize", headers=alice.headers
    )
    assert r.status_code == 404
    assert len(await deliveries()) == 2


async def test_unlocking_accepts_remote_requests_with_an_accept_each(
    client, db, make_person, remote, deliver, deliveries
) -> None:
    alice, bob = await make_person("alice", locked=True), await remote()
    await deliver(
        bob,
        {
            "id": f"{bob.uri}#follows/8",
            "type": "Follow",
            "actor": bob.uri,
            "object": f"{BASE}/users/alice",
        },
    )
    r = await client.patch(
        "/api/v1/accounts/update_credentials", json={"locked": False}, headers=alice.headers
    )
    assert r.status_code == 200
    [accept] = await deliveries("Accept")
    assert accept["activity"]["object"]["id"] == f"{bob.uri}#follows/8"


async def test_removing_a_remote_follower_sends_reject_of_its_follow(
    client, db, make_person, remote, deliver, deliveries
) -> None:
    alice, bob = await make_person("alice"), await remote()
    await follow_alice(deliver, bob)
    [accept] = await deliveries("Accept")
    r = await client.post(
        f"/api/v1/accounts/{bob.account_id}/remove_from_followers", headers=alice.headers
    )
    assert r.status_code == 200 and r.json()["followed_by"] is False
    [reject] = await deliveries("Reject")
    assert reject["activity"]["object"]["id"] == accept["activity"]["object"]["id"]
    assert reject["activity"]["object"]["id"] == f"{bob.uri}#follows/1"
    # removing someone who does not follow changes nothing and sends nothing
    r = await client.post(
        f"/api/v1/accounts/{bob.account_id}/remove_from_followers", headers=alice.headers
    )
    assert r.status_code == 200
    assert len(await deliveries("Reject")) == 1
