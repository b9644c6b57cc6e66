"""What suspension and silence do, everywhere a post or an account can show up."""

from __future__ import annotations

from helpers import make_admin, post_status_id


async def _act(client, admin, target, kind: str) -> None:
    r = await client.post(
        f"/api/v1/admin/accounts/{target.id}/action", headers=admin.headers, data={"type": kind}
    )
    assert r.status_code == 200, r.text


async def _ids(client, path: str, person=None, **params) -> list[str]:
    headers = person.headers if person else {}
    r = await client.get(path, headers=headers, params=params)
    assert r.status_code == 200, (path, r.text)
    return [item["id"] for item in r.json()]


async def _note_types(client, person) -> list[str]:
    notes = (await client.get("/api/v1/notifications", headers=person.headers)).json()
    return sorted(n["type"] for n in notes)


async def test_suspension_hides_everywhere_and_unsuspension_restores(
    client, db, make_person, run_jobs
):
    admin = await make_admin(db, make_person)
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    await client.post(f"/api/v1/accounts/{carol.id}/follow", headers=alice.headers)
    await client.post(f"/api/v1/accounts/{carol.id}/follow", headers=bob.headers)
    root = await post_status_id(client, carol, status="a thread #topic")
    mine = await post_status_id(client, alice, status="hello @bob #topic")
    reply = await post_status_id(client, alice, status="@carol a reply", in_reply_to_id=root)
    for action in ("favourite", "reblog"):
        r = await client.post(f"/api/v1/statuses/{root}/{action}", headers=alice.headers)
        assert r.status_code == 200
    for action in ("favourite", "bookmark"):
        await client.post(f"/api/v1/statuses/{mine}/{action}", headers=bob.headers)
    await run_jobs()
    before = {
        "home": await _ids(client, "/api/v1/timelines/home", bob),
        "carol_notes": await _note_types(client, carol),
        "bob_notes": await _note_types(client, bob),
    }
    assert mine in before["home"] and "mention" in before["bob_notes"]
    assert before["carol_notes"] == ["favourite", "follow", "follow", "mention", "reblog"]

    await _act(client, admin, alice, "suspend")
    assert (await client.get(f"/api/v1/statuses/{mine}")).status_code == 404
    assert (await client.get(f"/api/v1/accounts/{alice.id}")).status_code == 404
    assert (await client.get(f"/api/v1/accounts/{alice.id}/statuses")).status_code == 404
    home = await _ids(client, "/api/v1/timelines/home", bob)
    assert mine not in home and all(i == root for i in home)  # the boost went too
    for path in ("/api/v1/timelines/public", "/api/v1/timelines/tag/topic"):
        assert await _ids(client, path) == [root]
        assert await _ids(client, path, bob) == [root]
    context = (await client.get(f"/api/v1/statuses/{root}/context")).json()
    assert context["descendants"] == []
    assert (await client.get(f"/api/v1/statuses/{reply}/context")).status_code == 404
    assert await _ids(client, f"/api/v1/statuses/{root}/favourited_by") == []
    assert await _ids(client, f"/api/v1/statuses/{root}/reblogged_by") == []
    assert await _ids(client, "/api/v1/favourites", bob) == []
    assert await _ids(client, "/api/v1/bookmarks", bob) == []
    assert await _ids(client, f"/api/v1/accounts/{carol.id}/followers") == [str(bob.id)]
    assert await _note_types(client, carol) == ["follow"]  # bob's
    assert await _note_types(client, bob) == []
    r = await client.get(f"/api/v1/statuses/{root}")
    assert r.json()["favourites_count"] == 1  # counts are kept, as on Mastodon
    for path in ("/api/v1/accounts/verify_credentials", "/api/v1/timelines/home"):
        assert (await client.get(path, headers=alice.headers)).status_code == 403
    r = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": "still here?"})
    assert r.status_code == 403

    r = await client.post(f"/api/v1/admin/accounts/{alice.id}/unsuspend", headers=admin.headers)
    assert r.status_code == 200
    assert (await client.get(f"/api/v1/statuses/{mine}")).status_code == 200
    assert await _ids(client, "/api/v1/timelines/home", bob) == before["home"]
    assert await _note_types(client, carol) == before["carol_notes"]
    assert await _note_types(client, bob) == before["bob_notes"]
    assert await _ids(client, "/api/v1/favourites", bob) == [mine]
    r = await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)
    assert r.status_code == 200


async def test_suspended_cannot_sign_in_with_a_password(client, db, make_person):
    admin = await make_admin(db, make_person)
    alice = await make_person("alice")
    app = (await client.post("/api/v1/apps", data={"client_name": "x", "scopes": "read"})).json()
    grant = {
        "grant_type": "password",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "username": "alice@example.org",
        "password": "correct horse battery",
    }
    assert (await client.post("/oauth/token", data=grant)).status_code == 200
    await _act(client, admin, alice, "suspend")
    r = await client.post("/oauth/token", data=grant)
    assert r.status_code == 403 and r.json()["error"] == "invalid_grant"


async def test_silenced_posts_reach_only_followers(client, db, make_person, run_jobs):
    admin = await make_admin(db, make_person)
    troll, fan, bob = [await make_person(n) for n in ("troll", "fan", "bob")]
    await client.post(f"/api/v1/accounts/{troll.id}/follow", headers=fan.headers)
    early = await post_status_id(client, troll, status="before @bob")
    await run_jobs()
    assert await _note_types(client, bob) == ["mention"]
    await _act(client, admin, troll, "silence")

    loud = await post_status_id(client, troll, status="hear me #news @bob @fan")
    own = await post_status_id(client, bob, status="bob speaks")
    await client.post(f"/api/v1/statuses/{own}/favourite", headers=troll.headers)
    await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=troll.headers)
    await run_jobs()
    for path in ("/api/v1/timelines/public", "/api/v1/timelines/tag/news"):
        for viewer in (None, bob):
            assert loud not in await _ids(client, path, viewer), (path, viewer)
        assert loud in await _ids(client, path, fan)
        assert loud in await _ids(client, path, troll)
    assert loud in await _ids(client, "/api/v1/timelines/home", fan)
    assert (await client.get(f"/api/v1/statuses/{loud}", headers=bob.headers)).status_code == 200
    assert loud in await _ids(client, f"/api/v1/accounts/{troll.id}/statuses", bob)
    # strangers hear nothing from a silenced account (older notifications are hidden too)
    assert await _note_types(client, bob) == []
    assert await _note_types(client, fan) == ["mention"]

    r = await client.post(f"/api/v1/admin/accounts/{troll.id}/unsilence", headers=admin.headers)
    assert r.status_code == 200
    assert loud in await _ids(client, "/api/v1/timelines/public")
    assert loud in await _ids(client, "/api/v1/timelines/tag/news", bob)
    notes = (await client.get("/api/v1/notifications", headers=bob.headers)).json()
    assert [n["status"]["id"] for n in notes if n["type"] == "mention"] == [early]
