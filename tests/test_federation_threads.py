"""Threads across servers, on one server (both databases): local Notes publish their replies
collection (public replies only, paged); opening a remote post's thread (API context, web
thread page) schedules one fetch per 15 minutes, which fetches its missing ancestors (the
`inReplyTo` chain, capped) and its replies (the collection, followed page by page) from a
real HTTP server on loopback playing the remote server, and stores them.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from agora.config import get_settings
from agora.db.models import Job, Post, ThreadFetch, utcnow
from agora.federation import thread_fetch
from federation_peers import AP, BASE, PUBLIC, FileServer, Peer, remote_peer
from helpers import post_status


async def _note_doc(client: Any, username: str, post_id: str) -> dict[str, Any]:
    r = await client.get(f"/users/{username}/statuses/{post_id}", headers={"Accept": AP})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_local_notes_publish_their_public_replies(client, make_person) -> None:
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    root = await post_status(client, alice, "a question")
    replies = [
        (await post_status(client, bob, f"answer {i}", in_reply_to_id=root["id"]))["id"]
        for i in range(21)
    ]
    await post_status(
        client, carol, "only friends", in_reply_to_id=root["id"], visibility="private"
    )
    doc = await _note_doc(client, "alice", root["id"])
    collection = doc["replies"]
    base = f"{BASE}/users/alice/statuses/{root['id']}/replies"
    assert collection["id"] == base and collection["type"] == "Collection"
    first = collection["first"]
    uris = [f"{BASE}/users/bob/statuses/{i}" for i in replies]
    assert first["items"] == uris[:20] and first["partOf"] == base
    nxt = await client.get(first["next"].removeprefix(BASE), headers={"Accept": AP})
    assert nxt.status_code == 200 and nxt.json()["items"] == uris[20:]
    assert "next" not in nxt.json()
    whole = await client.get(base.removeprefix(BASE), headers={"Accept": AP})
    assert whole.json()["first"]["items"] == uris[:20]
    # a followers-only post has no public replies collection
    private = await post_status(client, alice, "friends only", visibility="private")
    r = await client.get(f"/users/alice/statuses/{private['id']}/replies", headers={"Accept": AP})
    assert r.status_code == 404


class RemoteThread:
    """A remote server (a real HTTP server on loopback) with zed's thread: posts 1 <- 2 <- 3,
    replies 4 and 5 to 3 (5 on a second page), 6 replying to 4."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[str, bytes]] = {}
        self.server = FileServer(self.files)
        self.url = self.server.url
        self.zed = f"{self.url}/users/zed"

    def note(
        self, n: int, parent: int | None, replies: list[list[int]] | None = None
    ) -> dict[str, Any]:
        uri = f"{self.url}/statuses/{n}"
        doc: dict[str, Any] = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": uri,
            "type": "Note",
            "attributedTo": self.zed,
            "content": f"<p>post {n}</p>",
            "to": [PUBLIC],
            "cc": [f"{self.zed}/followers"],
        }
        if parent is not None:
            doc["inReplyTo"] = f"{self.url}/statuses/{parent}"
        if replies is not None:
            pages = [f"{uri}/replies?page={i}" for i in range(len(replies))]
            for i, items in enumerate(replies):
                page = {
                    "id": pages[i],
                    "type": "CollectionPage",
                    "partOf": f"{uri}/replies",
                    "items": [f"{self.url}/statuses/{r}" for r in items],
                }
                if i + 1 < len(pages):
                    page["next"] = pages[i + 1]
                self.serve(f"/statuses/{n}/replies?page={i}", page)
            doc["replies"] = {"id": f"{uri}/replies", "type": "Collection", "first": pages[0]}
        self.serve(f"/statuses/{n}", doc)
        return doc

    def serve(self, path: str, doc: dict[str, Any]) -> None:
        self.files[path] = (AP, json.dumps(doc).encode())


@pytest.fixture
def remote(monkeypatch) -> Any:
    monkeypatch.setattr(get_settings(), "federation_allow_private_addresses", True)
    thread = RemoteThread()
    thread.note(1, None)
    thread.note(2, 1)
    thread.note(3, 2, replies=[[4], [5]])
    thread.note(4, 3, replies=[[6]])
    thread.note(5, 3)
    thread.note(6, 4)
    yield thread
    thread.server.stop()


async def _stored(db: Any, remote: RemoteThread) -> list[int]:
    async with db.session() as session:
        uris = (
            await session.scalars(select(Post.uri).where(Post.uri.like(f"{remote.url}/%")))
        ).all()
    return sorted(int(u.rsplit("/", 1)[1]) for u in uris)


async def _zed_posts_3(client: Any, db: Any, run_jobs: Any, remote: RemoteThread) -> int:
    zed: Peer = await remote_peer(db, remote.zed)
    doc = json.loads(remote.files["/statuses/3"][1])
    await zed.deliver(client, zed.create(doc))
    await run_jobs()
    async with db.session() as session:
        post_id = await session.scalar(select(Post.id).where(Post.uri == doc["id"]))
    assert post_id is not None
    return int(post_id)


async def test_opening_a_remote_thread_fetches_ancestors_and_replies(
    client, db, make_person, run_jobs, remote
) -> None:
    bob = await make_person("bob")
    post_id = await _zed_posts_3(client, db, run_jobs, remote)
    assert await _stored(db, remote) == [3]
    r = await client.get(f"/api/v1/statuses/{post_id}/context", headers=bob.headers)
    assert r.status_code == 200
    await run_jobs()
    assert await _stored(db, remote) == [1, 2, 3, 4, 5, 6]
    assert "/statuses/3/replies?page=1" in remote.server.requests  # the second page too


async def test_thread_fetch_caps(client, db, make_person, run_jobs, remote, monkeypatch) -> None:
    monkeypatch.setattr(thread_fetch, "MAX_ANCESTORS", 1)
    monkeypatch.setattr(thread_fetch, "MAX_REPLIES", 2)
    post_id = await _zed_posts_3(client, db, run_jobs, remote)
    bob = await make_person("bob")
    await client.get(f"/api/v1/statuses/{post_id}/context", headers=bob.headers)
    await run_jobs()
    assert await _stored(db, remote) == [2, 3, 4, 5]  # one ancestor, two replies


async def test_a_thread_is_fetched_once_per_fifteen_minutes(
    client, db, make_person, run_jobs, remote
) -> None:
    alice = await make_person("alice")
    post_id = await _zed_posts_3(client, db, run_jobs, remote)
    local = await post_status(client, alice, "a local post")

    async def fetch_jobs() -> int:
        async with db.session() as session:
            count = await session.scalar(
                select(func.count()).select_from(Job).where(Job.kind == "fetch_thread")
            )
        return int(count or 0)

    # the web's thread page schedules it (whatever the page answers for a remote handle) ...
    await client.get(f"/@zed/{post_id}")
    assert await fetch_jobs() == 1
    for _ in range(2):  # ... and the API's context does not again within 15 minutes
        r = await client.get(f"/api/v1/statuses/{post_id}/context", headers=alice.headers)
        assert r.status_code == 200
    assert await fetch_jobs() == 1
    r = await client.get(f"/api/v1/statuses/{local['id']}/context", headers=alice.headers)
    assert r.status_code == 200 and await fetch_jobs() == 1  # a local thread: nothing to fetch
    await run_jobs()
    async with db.transaction() as session:  # 16 minutes later
        await session.execute(
            update(ThreadFetch).values(requested_at=utcnow() - timedelta(minutes=16))
        )
    await client.get(f"/api/v1/statuses/{post_id}/context", headers=alice.headers)
    assert await fetch_jobs() == 1  # the first ran; this is the next one


async def test_a_remote_thread_that_cannot_be_fetched_changes_nothing(
    client, db, make_person, run_jobs, remote
) -> None:
    bob = await make_person("bob")
    post_id = await _zed_posts_3(client, db, run_jobs, remote)
    remote.files.clear()  # the remote server answers 404 to everything now
    await client.get(f"/api/v1/statuses/{post_id}/context", headers=bob.headers)
    await run_jobs()
    assert await _stored(db, remote) == [3]
    async with db.session() as session:
        dead = await session.scalar(
            select(func.count()).select_from(Job).where(Job.kind == "fetch_thread")
        )
    assert dead == 0  # done, not failing
