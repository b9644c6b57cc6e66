"""Moderation across servers, through signed deliveries to this server's inbox (in process):
a suspended server is refused, Block / Undo(Block) received and sent, Flag received and a
report forwarded as Flag, Delete of an actor, Move; and a person's own domain blocks."""

from __future__ import annotations

import json

from sqlalchemy import delete, func, select, update

from agora.db.models import (
    Account,
    AccountDomainBlock,
    Block,
    Follow,
    FollowRequest,
    InboxActivity,
    Job,
    Report,
)
from agora.social.people import relationships
from federation_peers import BASE, deliver, make_peer, queued, signed_headers
from helpers import make_admin, post_status

AP = "application/activity+json"


async def _follow_both_ways(db, local_id: int, remote_id: int) -> None:  # type: ignore[no-untyped-def]
    async with db.session(write=True) as session:
        local = await session.get(Account, local_id)
        remote = await session.get(Account, remote_id)
        await relationships.follow(session, remote, local_id)
        await relationships.follow(session, local, remote_id)
        await relationships.answer_follow_request(session, remote, local_id, accept=True)
        await session.commit()


async def _count(db, model, *where) -> int:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


# --- a suspended server -------------------------------------------------------------------


async def test_a_suspended_servers_deliveries_and_signed_fetches_are_refused(
    client, db, make_person
) -> None:
    admin = await make_admin(db, make_person)
    alice = await make_person("alice")
    bob = await make_peer(db, "bob")
    follow = bob.activity("Follow", f"{BASE}/users/alice", "follow-1")
    await client.post(
        "/api/v1/admin/domain_blocks",
        headers=admin.headers,
        json={"domain": "remote.example", "severity": "suspend"},
    )
    r = await deliver(client, bob, follow)
    assert r.status_code == 403
    r = await deliver(client, bob, follow, path="/users/alice/inbox")
    assert r.status_code == 403
    assert await _count(db, InboxActivity) == 0 and await _count(db, Job) == 0
    fetch = await client.get(
        "/users/alice", headers={"Accept": AP, **signed_headers(bob, "GET", "/users/alice", None)}
    )
    assert fetch.status_code == 403
    assert (await client.get("/users/alice", headers={"Accept": AP})).status_code == 200
    assert alice.id  # alice is untouched: nobody follows her
    assert await _count(db, Follow) == 0


async def test_a_silenced_servers_deliveries_are_accepted(client, db, make_person) -> None:
    admin = await make_admin(db, make_person)
    await make_person("alice")
    bob = await make_peer(db, "bob")
    await client.post(
        "/api/v1/admin/domain_blocks", headers=admin.headers, json={"domain": "remote.example"}
    )
    r = await deliver(client, bob, bob.activity("Follow", f"{BASE}/users/alice", "f"))
    assert r.status_code == 202


# --- Block ---------------------------------------------------------------------------------


async def test_a_received_block_ends_follows_both_ways_and_undo_lifts_it(
    client, db, make_person, run_jobs
) -> None:
    alice = await make_person("alice")
    bob = await make_peer(db, "bob")
    await _follow_both_ways(db, alice.id, bob.id)
    assert await _count(db, Follow) == 2
    block = bob.activity("Block", f"{BASE}/users/alice", "block-1")
    assert (await deliver(client, bob, block)).status_code == 202
    await run_jobs()
    assert await _count(db, Follow) == 0
    rel = await client.get(
        "/api/v1/accounts/relationships", params={"id[]": bob.id}, headers=alice.headers
    )
    assert rel.json()[0]["blocked_by"] is True and rel.json()[0]["following"] is False
    assert await queued(db, "federate_block") == []  # a received block is not sent back

    undo = bob.activity("Undo", block, "block-1-undo")
    assert (await deliver(client, bob, undo)).status_code == 202
    await run_jobs()
    assert await _count(db, Block) == 0


async def test_a_block_naming_someone_elses_account_changes_nothing(
    client, db, make_person, run_jobs
) -> None:
    await make_person("alice")
    bob = await make_peer(db, "bob")
    await deliver(client, bob, bob.activity("Block", "https://elsewhere.example/users/x", "b"))
    await run_jobs()
    assert await _count(db, Block) == 0


async def test_blocking_and_unblocking_a_remote_account_is_sent_to_its_server(
    client, db, make_person, run_jobs
) -> None:
    alice = await make_person("alice")
    bob = await make_peer(db, "bob")
    await _follow_both_ways(db, alice.id, bob.id)
    r = await client.post(f"/api/v1/accounts/{bob.id}/block", headers=alice.headers)
    assert r.status_code == 200
    await run_jobs()
    r = await client.post(f"/api/v1/accounts/{bob.id}/unblock", headers=alice.headers)
    await run_jobs()
    sent = [p["activity"] for p in await queued(db, "ap_deliver")]
    blocks = [a for a in sent if a["type"] in ("Block", "Undo")]
    assert [a["type"] for a in blocks] == ["Block", "Undo"]
    assert blocks[0]["actor"] == f"{BASE}/users/alice" and blocks[0]["object"] == bob.uri
    assert blocks[1]["object"]["type"] == "Block" and blocks[1]["object"]["object"] == bob.uri
    # unblocking someone not blocked sends nothing more
    await client.post(f"/api/v1/accounts/{bob.id}/unblock", headers=alice.headers)
    await run_jobs()
    again = [p["activity"]["type"] for p in await queued(db, "ap_deliver")]
    assert again.count("Block") == 1 and again.count("Undo") == 1


# --- Flag ----------------------------------------------------------------------------------


async def test_a_received_flag_lands_in_the_admins_queue(client, db, make_person, run_jobs) -> None:
    admin = await make_admin(db, make_person)
    alice = await make_person("alice")
    status = await post_status(client, alice, "a reported post")
    secret = await post_status(client, alice, "followers only", visibility="private")
    instance = await make_peer(db, "remote.example")
    flag = instance.activity(
        "Flag",
        [
            f"{BASE}/users/alice",
            f"{BASE}/users/alice/statuses/{status['id']}",
            f"{BASE}/users/alice/statuses/{secret['id']}",
        ],
        "flag-1",
        content="spam from your server",
    )
    assert (await deliver(client, instance, flag)).status_code == 202
    await run_jobs()
    reports = (await client.get("/api/v1/admin/reports", headers=admin.headers)).json()
    assert len(reports) == 1
    report = reports[0]
    assert report["account"]["account"]["acct"] == "remote.example@remote.example"
    assert report["target_account"]["id"] == str(alice.id)
    assert report["comment"] == "spam from your server"
    assert [s["id"] for s in report["statuses"]] == [status["id"]]  # what the sender may see
    notes = (await client.get("/api/v1/notifications", headers=admin.headers)).json()
    assert [n["type"] for n in notes] == ["admin.report"]


async def test_reports_from_a_server_rejecting_reports_are_dropped(
    client, db, make_person, run_jobs
) -> None:
    admin = await make_admin(db, make_person)
    await make_person("alice")
    instance = await make_peer(db, "remote.example")
    await client.post(
        "/api/v1/admin/domain_blocks",
        headers=admin.headers,
        json={"domain": "remote.example", "severity": "noop", "reject_reports": True},
    )
    await deliver(client, instance, instance.activity("Flag", [f"{BASE}/users/alice"], "f"))
    await run_jobs()
    assert await _count(db, Report) == 0


async def test_a_forwarded_report_is_sent_as_flag(client, db, make_person, run_jobs) -> None:
    from agora.federation.inbound_posts import store_remote_post

    alice = await make_person("alice")
    bob = await make_peer(db, "bob")
    async with db.session(write=True) as session:
        post = await store_remote_post(
            session,
            await session.get(Account, bob.id),
            {
                "id": f"{bob.uri}/statuses/1",
                "type": "Note",
                "attributedTo": bob.uri,
                "content": "<p>rude</p>",
                "to": ["https://www.w3.org/ns/activitystreams#Public"],
            },
        )
        await session.commit()
        assert post is not None
    r = await client.post(
        "/api/v1/reports",
        headers=alice.headers,
        json={
            "account_id": str(bob.id),
            "status_ids": [str(post.id)],
            "comment": "rude",
            "forward": True,
        },
    )
    assert r.status_code == 200 and r.json()["forwarded"] is True
    local = await post_status(client, alice, "x")
    assert local  # a report about a local account is never forwarded
    await run_jobs()
    flags = [p for p in await queued(db, "ap_deliver") if p["activity"]["type"] == "Flag"]
    assert len(flags) == 1
    flag = flags[0]["activity"]
    assert flag["object"] == [bob.uri, f"{bob.uri}/statuses/1"]
    assert flag["content"] == "rude"
    assert flag["actor"] == f"{BASE}/actor"  # the instance actor, not the reporter
    assert flags[0]["account_id"] is None  # signed with the instance actor's key
    assert alice.username not in json.dumps(flags[0])

    unforwarded = await client.post(
        "/api/v1/reports", headers=alice.headers, json={"account_id": str(bob.id)}
    )
    assert unforwarded.json()["forwarded"] is False
    await run_jobs()
    assert len([p for p in await queued(db, "ap_deliver") if p["activity"]["type"] == "Flag"]) == 1


# --- Delete of an actor, Move -------------------------------------------------------------


async def test_a_deleted_actor_disappears_with_its_posts_and_follows(
    client, db, make_person, run_jobs
) -> None:
    alice = await make_person("alice")
    bob = await make_peer(db, "bob")
    carol = await make_peer(db, "carol")
    await _follow_both_ways(db, alice.id, bob.id)
    from agora.federation.inbound_posts import store_remote_post

    async with db.session(write=True) as session:
        post = await store_remote_post(
            session,
            await session.get(Account, bob.id),
            {
                "id": f"{bob.uri}/statuses/9",
                "type": "Note",
                "attributedTo": bob.uri,
                "content": "<p>bye</p>",
                "to": ["https://www.w3.org/ns/activitystreams#Public"],
            },
        )
        await session.commit()
        assert post is not None
    # carol cannot delete bob
    await deliver(client, carol, carol.activity("Delete", bob.uri, "del-0"))
    await run_jobs()
    assert (
        await client.get(f"/api/v1/accounts/{bob.id}", headers=alice.headers)
    ).status_code == 200

    await deliver(client, bob, bob.activity("Delete", bob.uri, "del-1"))
    await run_jobs()
    assert (
        await client.get(f"/api/v1/accounts/{bob.id}", headers=alice.headers)
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/statuses/{post.id}", headers=alice.headers)
    ).status_code == 404
    assert await _count(db, Follow) == 0
    me = (await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)).json()
    assert (me["followers_count"], me["following_count"]) == (0, 0)


async def test_a_verified_move_moves_local_followers(client, db, make_person, run_jobs) -> None:
    """The service half of Move (the fetch of the target is covered by the multi-server
    test): followers of the old account request the new one, stop following the old one, and
    get a `move` notification naming the new account; a follower blocked by the new account
    only stops following."""
    from agora.social.people.remote_accounts import move_followers

    alice = await make_person("alice")
    dave = await make_person("dave")
    old = await make_peer(db, "old")
    new = await make_peer(db, "new", "elsewhere.example")
    await _follow_both_ways(db, alice.id, old.id)
    await _follow_both_ways(db, dave.id, old.id)
    async with db.session(write=True) as session:
        await relationships.block(session, await session.get(Account, new.id), dave.id)
        await session.commit()
    async with db.session(write=True) as session:
        moved = await move_followers(
            session, await session.get(Account, old.id), await session.get(Account, new.id)
        )
        await session.commit()
    assert moved == 1
    await run_jobs()
    assert await _count(db, Follow, Follow.target_account_id == old.id) == 0
    assert await _count(db, FollowRequest, FollowRequest.target_account_id == new.id) == 1
    sent = [p["activity"] for p in await queued(db, "ap_deliver")]
    assert any(a["type"] == "Follow" and a["object"] == new.uri for a in sent)
    assert any(a["type"] == "Undo" and a["object"]["object"] == old.uri for a in sent)
    notes = (await client.get("/api/v1/notifications", headers=alice.headers)).json()
    move = [n for n in notes if n["type"] == "move"]
    assert len(move) == 1
    assert move[0]["account"]["id"] == str(old.id) and move[0]["target"]["id"] == str(new.id)
    async with db.session() as session:
        assert (await session.get(Account, old.id)).moved_to_account_id == new.id


async def test_a_follow_of_a_local_account_that_moved_is_rejected(
    client, db, make_person, run_jobs
) -> None:
    """As on Mastodon: Reject is sent back and nothing is recorded; a Follow of an account
    that did not move is still accepted."""
    alice, bob = await make_person("alice"), await make_person("bob")
    async with db.session(write=True) as session:
        await session.execute(
            update(Account).where(Account.id == alice.id).values(moved_to_account_id=bob.id)
        )
        await session.commit()
    fan = await make_peer(db, "fan")
    for who, suffix in ((alice, "f-1"), (bob, "f-2")):
        follow = fan.activity("Follow", f"{BASE}/users/{who.username}", suffix)
        assert (await deliver(client, fan, follow)).status_code == 202
    await run_jobs()
    assert await _count(db, Follow, Follow.target_account_id == alice.id) == 0
    assert await _count(db, FollowRequest, FollowRequest.target_account_id == alice.id) == 0
    assert await _count(db, Follow, Follow.target_account_id == bob.id) == 1
    sent = {p["activity"]["object"]["id"]: p["activity"] for p in await queued(db, "ap_deliver")}
    assert sent["https://remote.example/activities/f-1"]["type"] == "Reject"
    assert sent["https://remote.example/activities/f-1"]["actor"] == f"{BASE}/users/alice"
    assert sent["https://remote.example/activities/f-2"]["type"] == "Accept"


async def test_a_move_is_queued_for_verification_not_believed(
    client, db, make_person, run_jobs
) -> None:
    alice = await make_person("alice")
    old = await make_peer(db, "old")
    await _follow_both_ways(db, alice.id, old.id)
    move = old.activity("Move", old.uri, "move-1", target="http://127.0.0.1:9/users/new")
    assert (await deliver(client, old, move)).status_code == 202
    await run_jobs()  # the target cannot be fetched: nothing moves
    assert await _count(db, Follow, Follow.target_account_id == old.id) == 1
    assert [p["target"] for p in await queued(db, "ap_move")] == ["http://127.0.0.1:9/users/new"]
    other = old.activity("Move", "https://remote.example/users/someone", "move-2", target="x")
    await deliver(client, old, other)  # moving someone else: ignored
    await run_jobs()
    assert len(await queued(db, "ap_move")) == 1


# --- a person's domain blocks -------------------------------------------------------------


async def test_a_persons_domain_block(client, db, make_person, run_jobs) -> None:
    from agora.federation.inbound_posts import store_remote_post

    alice = await make_person("alice")
    zoe = await make_person("zoe")
    bob = await make_peer(db, "bob")
    await _follow_both_ways(db, alice.id, bob.id)
    async with db.session(write=True) as session:
        post = await store_remote_post(
            session,
            await session.get(Account, bob.id),
            {
                "id": f"{bob.uri}/statuses/5",
                "type": "Note",
                "attributedTo": bob.uri,
                "content": "<p>hi @alice</p>",
                "to": ["https://www.w3.org/ns/activitystreams#Public"],
                "cc": [f"{BASE}/users/alice"],
            },
        )
        await session.commit()
        assert post is not None
    await run_jobs()
    home = await client.get("/api/v1/timelines/home", headers=alice.headers)
    assert [s["id"] for s in home.json()] == [str(post.id)]

    r = await client.post(
        "/api/v1/domain_blocks", headers=alice.headers, data={"domain": "Remote.Example"}
    )
    assert r.status_code == 200 and r.json() == {}
    await client.post("/api/v1/domain_blocks", headers=alice.headers, data={"domain": "a.example"})
    listed = await client.get("/api/v1/domain_blocks", headers=alice.headers, params={"limit": 1})
    assert listed.json() == ["a.example"] and 'rel="next"' in listed.headers["Link"]
    rel = (
        await client.get(
            "/api/v1/accounts/relationships", params={"id[]": bob.id}, headers=alice.headers
        )
    ).json()[0]
    assert rel["domain_blocking"] is True and rel["followed_by"] is False
    assert (await client.get("/api/v1/timelines/home", headers=alice.headers)).json() == []
    assert (await client.get("/api/v1/timelines/public", headers=alice.headers)).json() == []
    assert [
        n
        for n in (await client.get("/api/v1/notifications", headers=alice.headers)).json()
        if n["account"]["id"] == str(bob.id)
    ] == []
    assert len((await client.get("/api/v1/timelines/public", headers=zoe.headers)).json()) == 1

    r = await client.delete(
        "/api/v1/domain_blocks", headers=alice.headers, params={"domain": "remote.example"}
    )
    assert r.status_code == 200
    assert (await client.get("/api/v1/domain_blocks", headers=alice.headers)).json() == [
        "a.example"
    ]
    assert len((await client.get("/api/v1/timelines/public", headers=alice.headers)).json()) == 1


async def test_a_persons_domain_block_refuses_bad_input(client, make_person) -> None:
    alice = await make_person("alice")
    for domain in ("", "not a domain", "testserver"):
        r = await client.post(
            "/api/v1/domain_blocks", headers=alice.headers, data={"domain": domain}
        )
        assert r.status_code == 422, domain
    assert (await client.get("/api/v1/domain_blocks", headers=alice.headers)).json() == []
    assert (await client.get("/api/v1/domain_blocks")).status_code == 401


async def test_domain_block_filter_hides_exactly_the_blocked_domains_posts(
    client, db, make_person
) -> None:
    """`timeline_filter` with domain blocks, on many authors at once: each post is hidden
    exactly when its own author's domain is one the viewer blocked (never a local post, never
    another domain's, whatever the order of the rows)."""
    from agora.db.models import Post
    from agora.federation.inbound_posts import store_remote_post
    from agora.social.rules.visibility import timeline_filter

    alice = await make_person("alice")
    zoe = await make_person("zoe")
    peers = [
        await make_peer(db, "p1", "one.example"),
        await make_peer(db, "p2", "two.example"),
        await make_peer(db, "p3", "sub.one.example"),
        await make_peer(db, "p4", "one.example"),
    ]
    domain_of = {zoe.id: None} | {p.id: p.domain for p in peers}
    for i in range(3):
        await post_status(client, zoe, f"local {i}")
        for peer in reversed(peers) if i % 2 else peers:
            async with db.session(write=True) as session:
                await store_remote_post(
                    session,
                    await session.get(Account, peer.id),
                    {
                        "id": f"{peer.uri}/statuses/{i}",
                        "type": "Note",
                        "attributedTo": peer.uri,
                        "content": "<p>x</p>",
                        "to": ["https://www.w3.org/ns/activitystreams#Public"],
                    },
                )
                await session.commit()
    for blocked in ({"one.example"}, {"two.example", "sub.one.example"}, set()):
        async with db.session(write=True) as session:
            await session.execute(delete(AccountDomainBlock))
            for domain in blocked:
                session.add(AccountDomainBlock(account_id=alice.id, domain=domain))
            await session.commit()
        async with db.session() as session:
            rows = (await session.execute(select(Post.id, Post.account_id))).all()
            shown = set(
                await session.scalars(select(Post.id).where(timeline_filter(alice.id, Post)))
            )
        expected = {pid for pid, author in rows if domain_of[author] not in blocked}
        assert shown == expected, blocked
        assert len(rows) == 15
