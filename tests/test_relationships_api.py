"""Follows, follow requests, blocks and mutes, and their effect on feeds and visibility."""

from __future__ import annotations

from helpers import post_status


async def _home(client, person):
    return [
        s["id"] for s in (await client.get("/api/v1/timelines/home", headers=person.headers)).json()
    ]


async def test_locked_account_follow_request_flow(client, make_person, run_jobs):
    alice = await make_person("alice", locked=True)
    bob = await make_person("bob")
    secret = await post_status(client, alice, status="followers only", visibility="private")
    r = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    assert r.json()["requested"] is True and r.json()["following"] is False
    await run_jobs()
    notes = (await client.get("/api/v1/notifications", headers=alice.headers)).json()
    assert [n["type"] for n in notes] == ["follow_request"]
    reqs = (await client.get("/api/v1/follow_requests", headers=alice.headers)).json()
    assert [a["id"] for a in reqs] == [str(bob.id)]
    assert (
        await client.get(f"/api/v1/statuses/{secret['id']}", headers=bob.headers)
    ).status_code == 404
    r = await client.post(f"/api/v1/follow_requests/{bob.id}/authorize", headers=alice.headers)
    assert r.json()["followed_by"] is True
    await run_jobs()
    assert (
        await client.get(f"/api/v1/statuses/{secret['id']}", headers=bob.headers)
    ).status_code == 200
    assert secret["id"] in await _home(client, bob)  # merged into the feed on acceptance
    rel = (
        await client.get(
            "/api/v1/accounts/relationships", params={"id[]": alice.id}, headers=bob.headers
        )
    ).json()
    assert rel[0]["following"] is True and rel[0]["requested"] is False
    r = await client.post(f"/api/v1/follow_requests/{bob.id}/reject", headers=alice.headers)
    assert r.status_code == 404  # nothing pending any more
    # as on Mastodon: the answered request's notification goes, and no `follow` one comes
    assert (await client.get("/api/v1/notifications", headers=alice.headers)).json() == []


async def test_follow_requests_count_and_withdrawn_request(client, make_person, run_jobs):
    alice = await make_person("alice", locked=True)
    bob, carol = await make_person("bob"), await make_person("carol")
    for person in (bob, carol):
        await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=person.headers)
    me = await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)
    assert me.json()["source"]["follow_requests_count"] == 2
    await client.post(f"/api/v1/accounts/{alice.id}/unfollow", headers=bob.headers)  # withdrawn
    await run_jobs()  # bob's notify job finds no request left and creates nothing
    notes = (await client.get("/api/v1/notifications", headers=alice.headers)).json()
    assert [(n["type"], n["account"]["id"]) for n in notes] == [("follow_request", str(carol.id))]
    await client.post(f"/api/v1/accounts/{carol.id}/block", headers=alice.headers)
    await client.post(f"/api/v1/accounts/{carol.id}/unblock", headers=alice.headers)
    assert (await client.get("/api/v1/notifications", headers=alice.headers)).json() == []
    me = await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)
    assert me.json()["source"]["follow_requests_count"] == 0


async def test_reject_follow_request(client, make_person):
    alice = await make_person("alice", locked=True)
    bob = await make_person("bob")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    r = await client.post(f"/api/v1/follow_requests/{bob.id}/reject", headers=alice.headers)
    assert r.json()["requested_by"] is False
    assert (await client.get("/api/v1/follow_requests", headers=alice.headers)).json() == []


async def test_unfollow_removes_posts_from_home(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    s = await post_status(client, alice, status="hi")
    await run_jobs()
    assert s["id"] in await _home(client, bob)
    await client.post(f"/api/v1/accounts/{alice.id}/unfollow", headers=bob.headers)
    await run_jobs()
    assert s["id"] not in await _home(client, bob)
    me = (await client.get(f"/api/v1/accounts/{alice.id}")).json()
    assert me["followers_count"] == 0


async def test_block_cuts_both_ways(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=alice.headers)
    s = await post_status(client, alice, status="public words")
    await run_jobs()
    r = await client.post(f"/api/v1/accounts/{bob.id}/block", headers=alice.headers)
    assert r.json()["blocking"] is True and r.json()["following"] is False
    await run_jobs()
    assert (await client.get(f"/api/v1/statuses/{s['id']}", headers=bob.headers)).status_code == 404
    assert s["id"] not in await _home(client, bob)
    r = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    assert r.status_code == 403
    r = await client.post(
        "/api/v1/statuses", headers=bob.headers, data={"status": "reply", "in_reply_to_id": s["id"]}
    )
    assert r.status_code == 404
    blocks = (await client.get("/api/v1/blocks", headers=alice.headers)).json()
    assert [a["id"] for a in blocks] == [str(bob.id)]
    counts = (await client.get(f"/api/v1/accounts/{alice.id}")).json()
    assert counts["followers_count"] == 0 and counts["following_count"] == 0
    await client.post(f"/api/v1/accounts/{bob.id}/unblock", headers=alice.headers)
    assert (await client.get(f"/api/v1/statuses/{s['id']}", headers=bob.headers)).status_code == 200


async def test_mute_hides_from_home_and_notifications(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    r = await client.post(
        f"/api/v1/accounts/{alice.id}/mute",
        headers=bob.headers,
        data={"notifications": "true", "duration": "3600"},
    )
    assert r.json()["muting"] is True and r.json()["muting_notifications"] is True
    s = await post_status(client, alice, status="hey @bob")
    await run_jobs()
    assert s["id"] not in await _home(client, bob)
    assert (await client.get("/api/v1/notifications", headers=bob.headers)).json() == []
    assert (await client.get(f"/api/v1/statuses/{s['id']}", headers=bob.headers)).status_code == 200
    mutes = (await client.get("/api/v1/mutes", headers=bob.headers)).json()
    assert [a["id"] for a in mutes] == [str(alice.id)]
    await client.post(f"/api/v1/accounts/{alice.id}/unmute", headers=bob.headers)
    await post_status(client, alice, status="again @bob")
    await run_jobs()
    notes = (await client.get("/api/v1/notifications", headers=bob.headers)).json()
    assert len(notes) == 1  # muted mentions were dropped, as Mastodon does; new ones arrive


async def test_remove_from_followers(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    r = await client.post(f"/api/v1/accounts/{bob.id}/remove_from_followers", headers=alice.headers)
    assert r.json()["followed_by"] is False
    followers = (await client.get(f"/api/v1/accounts/{alice.id}/followers")).json()
    assert followers == []


async def test_followers_following_lists_and_lookup(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    followers = (await client.get(f"/api/v1/accounts/{alice.id}/followers")).json()
    following = (await client.get(f"/api/v1/accounts/{bob.id}/following")).json()
    assert [a["username"] for a in followers] == ["bob"]
    assert [a["username"] for a in following] == ["alice"]
    r = await client.get("/api/v1/accounts/lookup", params={"acct": "ALICE"})
    assert r.json()["id"] == str(alice.id)
    r = await client.get("/api/v1/accounts/lookup", params={"acct": "alice@elsewhere.org"})
    assert r.status_code == 404


async def test_update_credentials(client, make_person):
    alice = await make_person("alice")
    r = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=alice.headers,
        data={
            "display_name": "Alice A.",
            "note": "I like #birds",
            "locked": "true",
            "fields_attributes[0][name]": "site",
            "fields_attributes[0][value]": "https://a.example",
        },
    )
    me = r.json()
    assert me["display_name"] == "Alice A." and me["locked"] is True
    assert "#<span>birds</span>" in me["note"] and me["source"]["note"] == "I like #birds"
    assert me["fields"][0]["name"] == "site"
    r = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=alice.headers,
        json={"display_name": "x" * 31},
    )
    assert r.status_code == 422


async def test_unlocking_accepts_pending_requests(client, make_person, run_jobs):
    alice = await make_person("alice", locked=True)
    bob, carol = await make_person("bob"), await make_person("carol")
    for person in (bob, carol):
        await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=person.headers)
    await run_jobs()
    r = await client.patch(
        "/api/v1/accounts/update_credentials", data={"locked": "false"}, headers=alice.headers
    )
    assert r.status_code == 200 and r.json()["locked"] is False
    assert r.json()["source"]["follow_requests_count"] == 0
    assert r.json()["followers_count"] == 2
    await run_jobs()
    assert (await client.get("/api/v1/follow_requests", headers=alice.headers)).json() == []
    assert (await client.get("/api/v1/notifications", headers=alice.headers)).json() == []
    rel = await client.get(
        "/api/v1/accounts/relationships", params={"id[]": alice.id}, headers=bob.headers
    )
    assert rel.json()[0]["following"] is True
