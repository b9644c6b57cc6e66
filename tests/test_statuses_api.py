"""Posting through the API: create, edit with history, delete, reactions, quotes, context."""

from __future__ import annotations

import asyncio

from helpers import post_status


async def test_status_entity_shape(client, make_person):
    alice = await make_person("alice")
    s = await post_status(client, alice, status="hello", spoiler_text="cw", language="en")
    assert s["sensitive"] is True and s["spoiler_text"] == "cw" and s["language"] == "en"
    assert s["visibility"] == "public" and isinstance(s["id"], str) and s["id"].isdigit()
    assert "scheduled_at" not in s and "text" not in s
    assert s["account"]["avatar"] and s["account"]["header_static"]
    assert s["created_at"].endswith("Z") and s["pinned"] is False
    r = await client.get(f"/api/v1/statuses/{s['id']}")  # anonymous read of a public post
    assert r.status_code == 200 and "pinned" not in r.json()


async def test_url_counts_as_23_characters(client, make_person):
    alice = await make_person("alice")
    await post_status(client, alice, status="x" * 476 + " https://example.com/" + "a" * 200)
    r = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": "x" * 501})
    assert r.status_code == 422 and "error" in r.json()


async def test_edit_history_source_and_delete(client, make_person):
    alice = await make_person("alice")
    s = await post_status(client, alice, status="first #one")
    r = await client.put(
        f"/api/v1/statuses/{s['id']}",
        headers=alice.headers,
        data={"status": "second #two", "spoiler_text": ""},
    )
    assert r.status_code == 200
    edited = r.json()
    assert edited["edited_at"] is not None and "second" in edited["content"]
    assert [t["name"] for t in edited["tags"]] == ["two"]
    history = (await client.get(f"/api/v1/statuses/{s['id']}/history")).json()
    assert ["first" in h["content"] for h in history] == [True, False]
    source = (await client.get(f"/api/v1/statuses/{s['id']}/source", headers=alice.headers)).json()
    assert source == {"id": s["id"], "text": "second #two", "spoiler_text": ""}
    r = await client.delete(f"/api/v1/statuses/{s['id']}", headers=alice.headers)
    assert r.status_code == 200 and r.json()["text"] == "second #two"
    assert (await client.get(f"/api/v1/statuses/{s['id']}")).status_code == 404
    me = (await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)).json()
    assert me["statuses_count"] == 0


async def test_edit_keeps_sensitive_and_content_warning_not_given(client, make_person):
    """An edit changes only what it sends (Mastodon's clients send every field, others may
    not): leaving out `sensitive` or `spoiler_text` keeps them; sending them changes them."""
    alice = await make_person("alice")
    s = await post_status(client, alice, status="hidden", sensitive="true", spoiler_text="cw")
    url = f"/api/v1/statuses/{s['id']}"
    r = await client.put(url, headers=alice.headers, data={"status": "text only"})
    assert r.status_code == 200 and r.json()["sensitive"] is True
    assert r.json()["spoiler_text"] == "cw"
    r = await client.put(url, headers=alice.headers, data={"status": "b", "spoiler_text": ""})
    assert r.json()["sensitive"] is True and r.json()["spoiler_text"] == ""
    r = await client.put(url, headers=alice.headers, json={"status": "c", "sensitive": False})
    assert r.json()["sensitive"] is False and r.json()["spoiler_text"] == ""
    r = await client.put(url, headers=alice.headers, json={"status": "d", "spoiler_text": "x"})
    assert r.json()["sensitive"] is True and r.json()["spoiler_text"] == "x"  # a CW hides
    history = (await client.get(f"{url}/history")).json()
    assert [h["sensitive"] for h in history] == [True, True, True, False, True]


async def test_cannot_edit_or_delete_someone_elses_post(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    s = await post_status(client, alice, status="mine")
    r = await client.put(f"/api/v1/statuses/{s['id']}", headers=bob.headers, data={"status": "x"})
    assert r.status_code == 403
    r = await client.delete(f"/api/v1/statuses/{s['id']}", headers=bob.headers)
    assert r.status_code == 403
    assert (await client.get(f"/api/v1/statuses/{s['id']}")).json()["content"] == "<p>mine</p>"


async def test_idempotency_key_makes_one_post(client, make_person):
    alice = await make_person("alice")
    headers = {**alice.headers, "Idempotency-Key": "abc-123"}
    results = await asyncio.gather(
        *[
            client.post("/api/v1/statuses", headers=headers, data={"status": "once"})
            for _ in range(4)
        ]
    )
    assert {r.status_code for r in results} == {200}
    assert len({r.json()["id"] for r in results}) == 1
    r = await client.get(f"/api/v1/accounts/{alice.id}/statuses")
    assert len(r.json()) == 1


async def test_concurrent_favourites_count_once(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    s = await post_status(client, alice, status="like me")
    results = await asyncio.gather(
        *[
            client.post(f"/api/v1/statuses/{s['id']}/favourite", headers=bob.headers)
            for _ in range(5)
        ]
    )
    assert {r.status_code for r in results} == {200}
    await run_jobs()
    shown = (await client.get(f"/api/v1/statuses/{s['id']}", headers=bob.headers)).json()
    assert shown["favourites_count"] == 1 and shown["favourited"] is True
    notes = (await client.get("/api/v1/notifications", headers=alice.headers)).json()
    assert [n["type"] for n in notes] == ["favourite"]
    who = (await client.get(f"/api/v1/statuses/{s['id']}/favourited_by")).json()
    assert [a["username"] for a in who] == ["bob"]
    r = await client.post(f"/api/v1/statuses/{s['id']}/unfavourite", headers=bob.headers)
    assert r.json()["favourites_count"] == 0 and r.json()["favourited"] is False


async def test_twenty_people_liking_one_post_at_once_count_twenty(client, make_person):
    """Each like takes the post's row last (a popular post's row is held only at the end of
    each like): twenty at once all land, and the counter equals the likes stored."""
    alice = await make_person("alice")
    people = [await make_person(f"fan{n}") for n in range(20)]
    s = await post_status(client, alice, status="popular")
    results = await asyncio.gather(
        *[client.post(f"/api/v1/statuses/{s['id']}/favourite", headers=p.headers) for p in people]
    )
    assert {r.status_code for r in results} == {200}
    shown = (await client.get(f"/api/v1/statuses/{s['id']}", headers=alice.headers)).json()
    assert shown["favourites_count"] == 20
    who = await client.get(f"/api/v1/statuses/{s['id']}/favourited_by", params={"limit": 40})
    assert len(who.json()) == 20


async def test_reblog_unreblog_and_private_posts_cannot_be_boosted(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    s = await post_status(client, alice, status="boost me")
    r = await client.post(f"/api/v1/statuses/{s['id']}/reblog", headers=bob.headers)
    boost = r.json()
    assert boost["reblog"]["id"] == s["id"] and boost["reblog"]["reblogged"] is True
    again = await client.post(f"/api/v1/statuses/{s['id']}/reblog", headers=bob.headers)
    assert again.json()["id"] == boost["id"]
    await run_jobs()
    shown = (await client.get(f"/api/v1/statuses/{s['id']}")).json()
    assert shown["reblogs_count"] == 1
    who = (await client.get(f"/api/v1/statuses/{s['id']}/reblogged_by")).json()
    assert [a["username"] for a in who] == ["bob"]
    r = await client.post(f"/api/v1/statuses/{s['id']}/unreblog", headers=bob.headers)
    assert r.json()["reblogs_count"] == 0 and r.json()["reblogged"] is False
    private = await post_status(client, alice, status="friends only", visibility="private")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    r = await client.post(f"/api/v1/statuses/{private['id']}/reblog", headers=bob.headers)
    assert r.status_code == 422


async def test_bookmarks_and_pins(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    s = await post_status(client, alice, status="keep")
    r = await client.post(f"/api/v1/statuses/{s['id']}/bookmark", headers=bob.headers)
    assert r.json()["bookmarked"] is True
    assert [
        x["id"] for x in (await client.get("/api/v1/bookmarks", headers=bob.headers)).json()
    ] == [s["id"]]
    await client.post(f"/api/v1/statuses/{s['id']}/unbookmark", headers=bob.headers)
    assert (await client.get("/api/v1/bookmarks", headers=bob.headers)).json() == []
    r = await client.post(f"/api/v1/statuses/{s['id']}/pin", headers=bob.headers)
    assert r.status_code == 422  # only your own posts
    r = await client.post(f"/api/v1/statuses/{s['id']}/pin", headers=alice.headers)
    assert r.json()["pinned"] is True
    pinned = await client.get(f"/api/v1/accounts/{alice.id}/statuses", params={"pinned": "true"})
    assert [x["id"] for x in pinned.json()] == [s["id"]]


async def test_quote_posts(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    s = await post_status(client, alice, status="quotable")
    q = await post_status(client, bob, status="look at this", quoted_status_id=s["id"])
    assert q["quote"]["state"] == "accepted" and q["quote"]["quoted_status"]["id"] == s["id"]
    private = await post_status(client, alice, status="secret", visibility="private")
    r = await client.post(
        "/api/v1/statuses",
        headers=bob.headers,
        data={"status": "leak", "quoted_status_id": private["id"]},
    )
    assert r.status_code == 404


async def test_context_respects_visibility(client, make_person):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    root = await post_status(client, alice, status="root")
    reply = await post_status(client, bob, status="public reply", in_reply_to_id=root["id"])
    await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=alice.headers)
    secret = await post_status(
        client, bob, status="followers only", in_reply_to_id=reply["id"], visibility="private"
    )
    deep = await post_status(client, alice, status="deeper", in_reply_to_id=secret["id"])
    ctx = (
        await client.get(f"/api/v1/statuses/{reply['id']}/context", headers=alice.headers)
    ).json()
    assert [s["id"] for s in ctx["ancestors"]] == [root["id"]]
    assert [s["id"] for s in ctx["descendants"]] == [secret["id"], deep["id"]]
    ctx = (
        await client.get(f"/api/v1/statuses/{reply['id']}/context", headers=carol.headers)
    ).json()
    assert ctx["descendants"] == []  # carol may not see the private reply, nor what hangs off it
    r = await client.get(f"/api/v1/statuses/{secret['id']}/context", headers=carol.headers)
    assert r.status_code == 404
    shown = (await client.get(f"/api/v1/statuses/{reply['id']}")).json()
    assert shown["replies_count"] == 0  # private replies are not counted publicly


async def test_concurrent_boosts_make_one_boost(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    s = await post_status(client, alice, status="boost race")
    results = await asyncio.gather(
        *[client.post(f"/api/v1/statuses/{s['id']}/reblog", headers=bob.headers) for _ in range(4)]
    )
    assert {r.status_code for r in results} == {200}
    assert len({r.json()["id"] for r in results}) == 1
    shown = (await client.get(f"/api/v1/statuses/{s['id']}")).json()
    assert shown["reblogs_count"] == 1
