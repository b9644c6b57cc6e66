"""Polls and quotes across servers, on one server (both databases): a remote actor (`rob` on
remote.invalid, stored with a key of its own) sends signed deliveries to the shared inbox, and
what this server sends back is read from its delivery jobs (which cannot reach
remote.invalid, so they stay queued with their activity).

Polls: a local poll is a Question (document and delivery); a received Question is stored as
a poll and its Update(Question) counts are applied; a local vote on a remote poll becomes a
Create(Note) to the poll's author; a remote vote on a local poll is counted through the
voting rules (a second vote, a vote on a closed poll: nothing changes) and the new counts go
out as Update(Question). Quotes: a received quote of a local post is linked (not one of a
followers-only post), a local quoting Note names what it quotes, canQuote follows the quote
rule, and a QuoteRequest is answered Accept or Reject by it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from agora.config import get_settings
from agora.db.models import Account, Job, Poll, Post, utcnow
from federation_peers import FileServer, Peer, remote_peer
from helpers import post_status

AP = "application/activity+json"
BASE = get_settings().base_url
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
ROB = "http://remote.invalid/users/rob"


@pytest.fixture(autouse=True)
def poll_updates_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Update(Question) is due at once (not a minute after the vote), for run_jobs."""
    monkeypatch.setattr(get_settings(), "federation_poll_update_delay", 0)


@pytest.fixture
async def rob(db: Any) -> Peer:
    return await remote_peer(db, ROB)


async def _deliveries(db: Any, inbox: str = "http://remote.invalid/inbox") -> list[dict[str, Any]]:
    """The activities queued for an inbox (undeliverable: they stay as jobs), oldest first."""
    async with db.session() as session:
        jobs = (
            await session.scalars(select(Job).where(Job.kind == "ap_deliver").order_by(Job.id))
        ).all()
    return [j.payload["activity"] for j in jobs if j.payload["inbox"] == inbox]


async def _note_doc(client: Any, username: str, post_id: str) -> dict[str, Any]:
    r = await client.get(f"/users/{username}/statuses/{post_id}", headers={"Accept": AP})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _remote_status(client: Any, viewer: Any, uri: str, db: Any) -> dict[str, Any]:
    async with db.session() as session:
        post_id = await session.scalar(select(Post.id).where(Post.uri == uri))
    assert post_id is not None, f"{uri} was not stored"
    r = await client.get(f"/api/v1/statuses/{post_id}", headers=viewer.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _rob_follows(client: Any, rob: Peer, username: str, run_jobs: Any) -> None:
    await rob.deliver(
        client,
        {
            "id": f"{ROB}/follows/{username}",
            "type": "Follow",
            "actor": ROB,
            "object": f"{BASE}/users/{username}",
        },
    )
    await run_jobs()


def _question(uri: str, votes: tuple[int, int], voters: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": uri,
        "type": "Question",
        "attributedTo": ROB,
        "content": "<p>tea or coffee?</p>",
        "to": [PUBLIC],
        "cc": [f"{ROB}/followers"],
        "oneOf": [
            {
                "type": "Note",
                "name": "tea",
                "replies": {"type": "Collection", "totalItems": votes[0]},
            },
            {
                "type": "Note",
                "name": "coffee",
                "replies": {"type": "Collection", "totalItems": votes[1]},
            },
        ],
        "endTime": (utcnow() + timedelta(hours=1)).isoformat(),
        "votersCount": voters,
        **extra,
    }


def _vote(note_uri: str, name: str, n: int) -> dict[str, Any]:
    return {
        "id": f"{ROB}#votes/{n}",
        "type": "Note",
        "name": name,
        "attributedTo": ROB,
        "inReplyTo": note_uri,
        "to": [note_uri.split("/statuses/")[0]],
    }


# --- polls --------------------------------------------------------------------------------


async def test_local_poll_is_a_question_delivered_to_remote_followers(
    client, db, make_person, run_jobs, rob
) -> None:
    alice = await make_person("alice")
    await _rob_follows(client, rob, "alice", run_jobs)
    status = await post_status(
        client,
        alice,
        "tea or coffee?",
        **{
            "poll[options][]": ["tea", "coffee"],
            "poll[expires_in]": "3600",
            "poll[multiple]": "true",
        },
    )
    await run_jobs()
    doc = await _note_doc(client, "alice", status["id"])
    assert doc["type"] == "Question" and "oneOf" not in doc
    assert [(c["name"], c["replies"]["totalItems"]) for c in doc["anyOf"]] == [
        ("tea", 0),
        ("coffee", 0),
    ]
    assert doc["votersCount"] == 0 and doc["endTime"].endswith("Z") and "closed" not in doc
    created = [a for a in await _deliveries(db) if a["type"] == "Create"]
    assert [a["object"]["type"] for a in created] == ["Question"]
    assert created[0]["object"]["anyOf"] == doc["anyOf"]


async def test_received_question_is_a_poll_and_its_updates_apply(
    client, db, make_person, run_jobs, rob
) -> None:
    bob = await make_person("bob")
    uri = f"{ROB}/statuses/1"
    await rob.deliver(client, rob.create(_question(uri, (3, 1), 4)))
    await run_jobs()
    poll = (await _remote_status(client, bob, uri, db))["poll"]
    assert [(o["title"], o["votes_count"]) for o in poll["options"]] == [("tea", 3), ("coffee", 1)]
    assert poll["votes_count"] == 4 and poll["voters_count"] == 4 and poll["multiple"] is False
    # the same Create again changes nothing; an Update(Question) brings new counts
    update_activity = {
        "id": f"{uri}#updates/1",
        "type": "Update",
        "actor": ROB,
        "object": _question(uri, (5, 2), 7),
    }
    await rob.deliver(client, update_activity)
    await run_jobs()
    poll = (await _remote_status(client, bob, uri, db))["poll"]
    assert [o["votes_count"] for o in poll["options"]] == [5, 2] and poll["voters_count"] == 7
    # an Update(Question) for rob's poll sent by someone else's key is not rob's: no change
    async with db.session() as session:
        assert await session.scalar(select(Poll.voters_count)) == 7


async def test_local_vote_on_a_remote_poll_goes_to_its_author_only(
    client, db, make_person, run_jobs, rob
) -> None:
    bob = await make_person("bob")
    uri = f"{ROB}/statuses/2"
    await rob.deliver(client, rob.create(_question(uri, (0, 0), 0)))
    await run_jobs()
    poll = (await _remote_status(client, bob, uri, db))["poll"]
    r = await client.post(
        f"/api/v1/polls/{poll['id']}/votes", headers=bob.headers, data={"choices[]": ["1"]}
    )
    assert r.status_code == 200 and r.json()["own_votes"] == [1], r.text
    await run_jobs()
    votes = await _deliveries(db, f"{ROB}/inbox")
    assert len(votes) == 1
    note = votes[0]["object"]
    assert votes[0]["type"] == "Create" and votes[0]["actor"] == f"{BASE}/users/bob"
    assert note["type"] == "Note" and note["name"] == "coffee" and note["inReplyTo"] == uri
    assert note["to"] == [ROB] and votes[0]["to"] == [ROB] and "cc" not in note


async def test_remote_vote_on_a_local_poll_counts_once_and_updates_go_out(
    client, db, make_person, run_jobs, rob
) -> None:
    alice = await make_person("alice")
    await _rob_follows(client, rob, "alice", run_jobs)
    status = await post_status(
        client, alice, "tea?", **{"poll[options][]": ["tea", "coffee"], "poll[expires_in]": "3600"}
    )
    await run_jobs()
    note_uri = f"{BASE}/users/alice/statuses/{status['id']}"
    await rob.deliver(client, rob.create(_vote(note_uri, "coffee", 1)))
    await run_jobs()
    r = await client.get(f"/api/v1/polls/{status['poll']['id']}", headers=alice.headers)
    assert [o["votes_count"] for o in r.json()["options"]] == [0, 1]
    assert r.json()["voters_count"] == 1
    updates = [a for a in await _deliveries(db) if a["type"] == "Update"]
    assert updates and updates[-1]["object"]["type"] == "Question"
    assert [c["replies"]["totalItems"] for c in updates[-1]["object"]["oneOf"]] == [0, 1]
    assert updates[-1]["object"]["votersCount"] == 1
    # a second vote in a single-choice poll, and an option that does not exist: refused
    await rob.deliver(client, rob.create(_vote(note_uri, "tea", 2)))
    await rob.deliver(client, rob.create(_vote(note_uri, "water", 3)))
    await run_jobs()
    r = await client.get(f"/api/v1/polls/{status['poll']['id']}", headers=alice.headers)
    assert [o["votes_count"] for o in r.json()["options"]] == [0, 1]
    assert r.json()["voters_count"] == 1 and r.json()["votes_count"] == 1
    # a vote is not a post
    async with db.session() as session:
        assert await session.scalar(select(Post.id).where(Post.account_id == rob.id)) is None


async def test_poll_updates_are_debounced(client, db, make_person, run_jobs, rob) -> None:
    alice = await make_person("alice")
    await _rob_follows(client, rob, "alice", run_jobs)
    status = await post_status(
        client,
        alice,
        "all you like?",
        **{
            "poll[options][]": ["tea", "coffee", "water"],
            "poll[expires_in]": "3600",
            "poll[multiple]": "true",
        },
    )
    await run_jobs()
    note_uri = f"{BASE}/users/alice/statuses/{status['id']}"
    # two votes (one per option, as Mastodon sends them) before the update is due: one Update
    await rob.deliver(client, rob.create(_vote(note_uri, "tea", 1)))
    await rob.deliver(client, rob.create(_vote(note_uri, "water", 2)))
    await run_jobs()
    updates = [a for a in await _deliveries(db) if a["type"] == "Update"]
    assert len(updates) == 1
    assert [c["replies"]["totalItems"] for c in updates[0]["object"]["anyOf"]] == [1, 0, 1]
    assert updates[0]["object"]["votersCount"] == 1
    # a later vote schedules the next one
    await rob.deliver(client, rob.create(_vote(note_uri, "coffee", 3)))
    await run_jobs()
    updates = [a for a in await _deliveries(db) if a["type"] == "Update"]
    assert len(updates) == 2
    assert [c["replies"]["totalItems"] for c in updates[1]["object"]["anyOf"]] == [1, 1, 1]


async def test_remote_vote_on_a_closed_poll_is_refused(
    client, db, make_person, run_jobs, rob
) -> None:
    alice = await make_person("alice")
    status = await post_status(
        client, alice, "tea?", **{"poll[options][]": ["tea", "coffee"], "poll[expires_in]": "3600"}
    )
    async with db.transaction() as session:
        await session.execute(update(Poll).values(expires_at=utcnow() - timedelta(minutes=1)))
    note_uri = f"{BASE}/users/alice/statuses/{status['id']}"
    await rob.deliver(client, rob.create(_vote(note_uri, "tea", 1)))
    await run_jobs()
    r = await client.get(f"/api/v1/polls/{status['poll']['id']}", headers=alice.headers)
    assert r.json()["expired"] is True and r.json()["votes_count"] == 0
    assert [o["votes_count"] for o in r.json()["options"]] == [0, 0]
    doc = await _note_doc(client, "alice", status["id"])
    assert "closed" in doc


# --- quotes -------------------------------------------------------------------------------


async def test_received_quote_of_a_local_post_is_linked_unless_the_rule_refuses(
    client, db, make_person, run_jobs, rob
) -> None:
    alice = await make_person("alice")
    public = await post_status(client, alice, "quotable")
    private = await post_status(client, alice, "followers only", visibility="private")
    for n, (key, target) in enumerate((("quote", public), ("_misskey_quote", private)), start=10):
        await rob.deliver(
            client,
            rob.create(
                {
                    "id": f"{ROB}/statuses/{n}",
                    "type": "Note",
                    "attributedTo": ROB,
                    "content": f"<p>look {n}</p>",
                    "to": [PUBLIC],
                    key: f"{BASE}/users/alice/statuses/{target['id']}",
                }
            ),
        )
    await run_jobs()
    quoting = await _remote_status(client, alice, f"{ROB}/statuses/10", db)
    assert quoting["quote"]["state"] == "accepted"
    assert quoting["quote"]["quoted_status"]["id"] == public["id"]
    refused = await _remote_status(client, alice, f"{ROB}/statuses/11", db)
    assert refused["quote"] is None  # a followers-only post is never quoted


async def test_received_quote_by_fep_e232_link_tag(client, db, make_person, run_jobs, rob) -> None:
    alice = await make_person("alice")
    public = await post_status(client, alice, "quotable")
    link = {
        "type": "Link",
        "mediaType": 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"',
        "href": f"{BASE}/users/alice/statuses/{public['id']}",
    }
    await rob.deliver(
        client,
        rob.create(
            {
                "id": f"{ROB}/statuses/20",
                "type": "Note",
                "attributedTo": ROB,
                "content": "<p>RE: link</p>",
                "to": [PUBLIC],
                "tag": [link],
            }
        ),
    )
    await run_jobs()
    quoting = await _remote_status(client, alice, f"{ROB}/statuses/20", db)
    assert quoting["quote"]["quoted_status"]["id"] == public["id"]


async def test_local_notes_publish_quote_policy_and_what_they_quote(
    client, db, make_person, run_jobs, rob
) -> None:
    alice = await make_person("alice")
    await rob.deliver(
        client,
        rob.create(
            {
                "id": f"{ROB}/statuses/30",
                "type": "Note",
                "attributedTo": ROB,
                "content": "<p>quote me</p>",
                "to": [PUBLIC],
            }
        ),
    )
    await run_jobs()
    async with db.session() as session:
        robs = await session.scalar(select(Post.id).where(Post.uri == f"{ROB}/statuses/30"))
    quoting = await post_status(client, alice, "so true", quoted_status_id=str(robs))
    unlisted = await post_status(client, alice, "quietly", visibility="unlisted")
    doc = await _note_doc(client, "alice", quoting["id"])
    assert doc["quote"] == doc["quoteUri"] == doc["_misskey_quote"] == f"{ROB}/statuses/30"
    assert {"type": "Link", "href": f"{ROB}/statuses/30"}.items() <= doc["tag"][-1].items()
    assert doc["interactionPolicy"]["canQuote"]["automaticApproval"] == [PUBLIC]
    unlisted_doc = await _note_doc(client, "alice", unlisted["id"])
    assert unlisted_doc["interactionPolicy"]["canQuote"]["automaticApproval"] == [PUBLIC]
    assert "quote" not in unlisted_doc


async def test_quote_request_is_accepted_or_rejected_by_the_quote_rule(
    client, db, make_person, run_jobs, rob
) -> None:
    alice = await make_person("alice")
    public = await post_status(client, alice, "quotable")
    private = await post_status(client, alice, "followers only", visibility="private")
    for n, target in enumerate((public, private)):
        await rob.deliver(
            client,
            {
                "id": f"{ROB}/quote_requests/{n}",
                "type": "QuoteRequest",
                "actor": ROB,
                "object": f"{BASE}/users/alice/statuses/{target['id']}",
                "instrument": f"{ROB}/statuses/4{n}",
            },
        )
    await run_jobs()
    answers = await _deliveries(db, f"{ROB}/inbox")
    assert [a["type"] for a in answers] == ["Accept", "Reject"]
    accept, reject = answers
    assert accept["actor"] == f"{BASE}/users/alice"
    assert accept["object"]["id"] == f"{ROB}/quote_requests/0"
    assert accept["result"].startswith(f"{BASE}/users/alice/statuses/{public['id']}/")
    assert "result" not in reject and reject["object"]["id"] == f"{ROB}/quote_requests/1"
    # the authorization can be fetched while the rule allows it
    r = await client.get(accept["result"].removeprefix(BASE), headers={"Accept": AP})
    assert r.status_code == 200, r.text
    auth = r.json()
    assert auth["type"] == "QuoteAuthorization" and auth["id"] == accept["result"]
    assert auth["interactingObject"] == f"{ROB}/statuses/40"
    assert auth["interactionTarget"] == f"{BASE}/users/alice/statuses/{public['id']}"
    assert auth["attributedTo"] == f"{BASE}/users/alice"
    # once the post is deleted, it is no longer authorised
    r = await client.delete(f"/api/v1/statuses/{public['id']}", headers=alice.headers)
    assert r.status_code == 200
    r = await client.get(accept["result"].removeprefix(BASE), headers={"Accept": AP})
    assert r.status_code == 404


async def test_quote_request_for_someone_elses_post_is_ignored(
    client, db, make_person, run_jobs, rob
) -> None:
    alice = await make_person("alice")
    public = await post_status(client, alice, "quotable")
    await rob.deliver(
        client,
        {
            "id": f"{ROB}/quote_requests/8",
            "type": "QuoteRequest",
            "actor": ROB,
            "object": f"{BASE}/users/alice/statuses/{public['id']}",
            "instrument": {
                "id": "http://elsewhere.invalid/statuses/1",
                "type": "Note",
                "attributedTo": "http://elsewhere.invalid/users/eve",
            },
        },
    )
    await run_jobs()
    assert await _deliveries(db, f"{ROB}/inbox") == []


async def test_quote_request_from_a_blocked_actor_is_rejected(
    client, db, make_person, run_jobs, rob
) -> None:
    alice = await make_person("alice")
    public = await post_status(client, alice, "quotable")
    r = await client.post(f"/api/v1/accounts/{rob.id}/block", headers=alice.headers)
    assert r.status_code == 200, r.text
    await rob.deliver(
        client,
        {
            "id": f"{ROB}/quote_requests/9",
            "type": "QuoteRequest",
            "actor": ROB,
            "object": f"{BASE}/users/alice/statuses/{public['id']}",
            "instrument": f"{ROB}/statuses/49",
        },
    )
    await run_jobs()
    answers = await _deliveries(db, f"{ROB}/inbox")
    assert [a["type"] for a in answers if a["type"] in ("Accept", "Reject")] == ["Reject"]
    async with db.session() as session:
        assert (await session.get(Account, rob.id)) is not None


# --- media --------------------------------------------------------------------------------


async def test_local_images_go_out_as_documents_of_public_notes_only(
    client, db, make_person, run_jobs, rob, tmp_path, monkeypatch
) -> None:
    from io import BytesIO

    from PIL import Image

    monkeypatch.setattr(get_settings(), "media_dir", tmp_path / "media")
    alice = await make_person("alice")
    image = BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(image, "PNG")
    ids = []
    for _ in range(2):
        r = await client.post(
            "/api/v2/media",
            files={"file": ("red.png", image.getvalue(), "image/png")},
            data={"description": "a red square", "focus": "0.5,-0.25"},
            headers=alice.headers,
        )
        assert r.status_code == 200, r.text
        ids.append(r.json()["id"])
    public = await post_status(client, alice, "look", **{"media_ids[]": [ids[0]]})
    private = await post_status(
        client, alice, "look, friends", visibility="private", **{"media_ids[]": [ids[1]]}
    )
    doc = await _note_doc(client, "alice", public["id"])
    (document,) = doc["attachment"]
    assert document["type"] == "Document" and document["mediaType"] == "image/png"
    assert document["name"] == "a red square" and document["focalPoint"] == [0.5, -0.25]
    assert (document["width"], document["height"]) == (64, 48) and document["blurhash"]
    # the URL is one anyone may fetch (another server fetches it without a viewer)
    fetched = await client.get(document["url"].removeprefix(BASE))
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    # a followers-only post is delivered without its images (their URLs are per viewer)
    await _rob_follows(client, rob, "alice", run_jobs)
    async with db.transaction() as session:
        await session.execute(update(Job).where(Job.kind == "ap_deliver").values(state="dead"))
    from agora.social.reading.remote_audience import schedule_federation

    async with db.transaction() as session:
        await schedule_federation(session, await session.get(Post, int(private["id"])), "create")
    await run_jobs()
    (created,) = [a for a in await _deliveries(db) if a["object"]["id"].endswith(private["id"])]
    assert "attachment" not in created["object"]


def _png(size: tuple[int, int] = (64, 48), noise: bool = False) -> bytes:
    import os
    from io import BytesIO

    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "taken at 12 Main Street")
    out = BytesIO()
    if noise:  # does not compress: the file is about 3 bytes a pixel
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (10, 120, 200))
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


@pytest.fixture
def files(tmp_path, monkeypatch) -> Any:
    monkeypatch.setattr(get_settings(), "media_dir", tmp_path / "media")
    monkeypatch.setattr(get_settings(), "federation_allow_private_addresses", True)
    server = FileServer(
        {
            "/cat.png": ("image/png", _png()),
            "/big.png": ("image/png", _png((200, 200), noise=True)),
            "/fake.png": ("image/png", b"<html>not an image</html>" * 10),
        }
    )
    yield server
    server.stop()


def _note_with(n: int, *attachments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"{ROB}/statuses/{n}",
        "type": "Note",
        "attributedTo": ROB,
        "content": f"<p>pictures {n}</p>",
        "to": [PUBLIC],
        "attachment": list(attachments),
    }


def _image(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Document", "mediaType": "image/png", "url": url, **extra}


def _stored_files(tmp_path: Any) -> list[Any]:
    return sorted(p for p in (tmp_path / "media").rglob("*") if p.is_file())


async def test_received_image_is_fetched_checked_and_served(
    client, db, make_person, run_jobs, rob, files, tmp_path
) -> None:
    bob = await make_person("bob")
    cat = _image(
        f"{files.url}/cat.png", name="a blue cat", blurhash="LEHV6nWB2yk8", width=64, height=48
    )
    video = {"type": "Document", "mediaType": "video/mp4", "url": f"{files.url}/v.mp4"}
    await rob.deliver(client, rob.create(_note_with(50, cat, video)))
    await run_jobs()
    status = await _remote_status(client, bob, f"{ROB}/statuses/50", db)
    media, clip = status["media_attachments"]
    # the video is kept by its remote URL and never fetched: clients play it from its server
    assert clip["type"] == "video" and clip["url"] == clip["remote_url"] == f"{files.url}/v.mp4"
    assert clip["preview_url"] is None
    assert media["description"] == "a blue cat" and media["remote_url"] == f"{files.url}/cat.png"
    assert media["url"].startswith(f"{BASE}/media/") and media["blurhash"]
    assert media["blurhash"] != "LEHV6nWB2yk8"  # computed from the image, not the claim
    assert media["meta"]["original"]["width"] == 64
    fetched = await client.get(media["url"].removeprefix(BASE))
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/png"
    assert b"Main Street" not in fetched.content  # cleaned as an upload is
    assert files.requests == ["/cat.png"]


async def test_remote_images_are_not_fetched_when_caching_is_off(
    client, db, make_person, run_jobs, rob, files, monkeypatch
) -> None:
    monkeypatch.setattr(get_settings(), "federation_cache_media", False)
    bob = await make_person("bob")
    await rob.deliver(client, rob.create(_note_with(51, _image(f"{files.url}/cat.png"))))
    await run_jobs()
    status = await _remote_status(client, bob, f"{ROB}/statuses/51", db)
    (media,) = status["media_attachments"]
    assert media["url"] == media["preview_url"] == f"{files.url}/cat.png"
    assert files.requests == []


async def test_oversized_and_non_image_attachments_are_dropped(
    client, db, make_person, run_jobs, rob, files, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(get_settings(), "media_max_bytes", 20_000)
    bob = await make_person("bob")
    big, fake, missing = (
        _image(f"{files.url}/big.png"),
        _image(f"{files.url}/fake.png"),
        _image(f"{files.url}/missing.png"),
    )
    await rob.deliver(client, rob.create(_note_with(52, big, fake, missing)))
    await run_jobs()
    status = await _remote_status(client, bob, f"{ROB}/statuses/52", db)
    assert status["media_attachments"] == [] and "pictures 52" in status["content"]
    assert _stored_files(tmp_path) == []
    assert sorted(files.requests) == ["/big.png", "/fake.png", "/missing.png"]


async def test_attachment_on_a_private_address_is_refused(
    client, db, make_person, run_jobs, rob, files, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(get_settings(), "federation_allow_private_addresses", False)
    bob = await make_person("bob")
    await rob.deliver(client, rob.create(_note_with(53, _image(f"{files.url}/cat.png"))))
    await run_jobs()
    status = await _remote_status(client, bob, f"{ROB}/statuses/53", db)
    assert status["media_attachments"] == [] and "pictures 53" in status["content"]
    assert files.requests == [] and _stored_files(tmp_path) == []


async def test_quote_policy_rejects_remotely_and_revocation_is_federated(
    client, db, make_person, run_jobs, rob
) -> None:
    """The stored policy is the rule both doors use: a `nobody` post answers a QuoteRequest
    with Reject and publishes only its author in canQuote; revoking a remote quote makes its
    QuoteAuthorization 404 and sends its Delete to the quoting author."""
    alice = await make_person("alice")
    closed = await post_status(client, alice, "mine", quote_approval_policy="nobody")
    doc = await _note_doc(client, "alice", closed["id"])
    assert doc["interactionPolicy"]["canQuote"]["automaticApproval"] == [f"{BASE}/users/alice"]
    await rob.deliver(
        client,
        {
            "id": f"{ROB}/quote_requests/50",
            "type": "QuoteRequest",
            "actor": ROB,
            "object": f"{BASE}/users/alice/statuses/{closed['id']}",
            "instrument": f"{ROB}/statuses/50",
        },
    )
    public = await post_status(client, alice, "quotable")
    quoted = f"{BASE}/users/alice/statuses/{public['id']}"
    note = {"type": "Note", "attributedTo": ROB, "content": "<p>q</p>", "to": [PUBLIC]}
    await rob.deliver(client, rob.create({**note, "id": f"{ROB}/statuses/51", "quote": quoted}))
    await run_jobs()
    assert [a["type"] for a in await _deliveries(db, f"{ROB}/inbox")] == ["Reject"]
    quoting = await _remote_status(client, alice, f"{ROB}/statuses/51", db)
    authorization = f"{quoted}/quote_authorization".removeprefix(BASE)
    params = {"quote": f"{ROB}/statuses/51"}
    r = await client.get(authorization, params=params, headers={"Accept": AP})
    assert r.status_code == 200
    revoke = f"/api/v1/statuses/{public['id']}/quotes/{quoting['id']}/revoke"
    assert (await client.post(revoke, headers=alice.headers)).status_code == 200
    await run_jobs()
    r = await client.get(authorization, params=params, headers={"Accept": AP})
    assert r.status_code == 404
    delete = (await _deliveries(db))[-1]  # rob's server's shared inbox
    assert delete["type"] == "Delete" and delete["actor"] == f"{BASE}/users/alice"
    assert delete["object"]["type"] == "QuoteAuthorization"
    assert delete["object"]["id"].startswith(f"{quoted}/quote_authorization?quote=")
