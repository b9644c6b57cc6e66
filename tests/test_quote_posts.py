"""Quote posts as Mastodon 4.5 does them (`quote_approval_policy`, `quote` / `quote_approval`
on the Status, the quotes of a post, revoking a quote, the `quote` and `quoted_update`
notifications), conversation mute and the hashtag timeline's any / all / none: through the
API, on both databases."""

from __future__ import annotations

from typing import Any

from helpers import HX, follow, post_ids, post_status, web_sign_in


async def _status(client: Any, person: Any, status_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/statuses/{status_id}", headers=person.headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _count(client: Any, person: Any) -> int:
    me = await client.get("/api/v1/accounts/verify_credentials", headers=person.headers)
    return int(me.json()["statuses_count"])


async def _types(client: Any, person: Any) -> list[str]:
    r = await client.get("/api/v1/notifications", headers=person.headers)
    return [n["type"] for n in r.json()]


async def test_quote_approval_policy_decides_who_may_quote(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    s = await post_status(client, alice, status="mine", quote_approval_policy="followers")
    assert s["quote_approval"] == {
        "automatic": ["followers"],
        "manual": [],
        "current_user": "automatic",
    }
    assert (await _status(client, bob, s["id"]))["quote_approval"]["current_user"] == "denied"
    anonymous = (await client.get(f"/api/v1/statuses/{s['id']}")).json()
    assert anonymous["quote_approval"]["current_user"] == "unknown"
    r = await client.post(
        "/api/v1/statuses", headers=bob.headers, data={"status": "q", "quote_id": s["id"]}
    )
    assert r.status_code == 422 and await _count(client, bob) == 0  # nothing stored
    await follow(client, bob, alice)
    assert (await _status(client, bob, s["id"]))["quote_approval"]["current_user"] == "automatic"
    q = await post_status(client, bob, status="q", quote_id=s["id"])  # 4.5's name
    assert q["quote"]["state"] == "accepted" and q["quote"]["quoted_status"]["id"] == s["id"]
    # an edit changes the policy; a bad one is refused and changes nothing
    url = f"/api/v1/statuses/{s['id']}"
    bad = await client.put(
        url, headers=alice.headers, data={"status": "mine", "quote_approval_policy": "all"}
    )
    assert bad.status_code == 422
    assert (await _status(client, alice, s["id"]))["quote_approval"]["automatic"] == ["followers"]
    r = await client.put(
        url, headers=alice.headers, data={"status": "mine", "quote_approval_policy": "nobody"}
    )
    assert r.status_code == 200 and r.json()["quote_approval"]["automatic"] == []
    again = await client.post(
        "/api/v1/statuses", headers=bob.headers, data={"status": "again", "quote_id": s["id"]}
    )
    assert again.status_code == 422 and await _count(client, bob) == 1
    # the author may always quote their own post
    own = await post_status(client, alice, status="self", quoted_status_id=s["id"])
    assert own["quote"]["state"] == "accepted"
    # PUT interaction_policy (Mastodon.py's status_update_quote_approval_policy)
    policy_url = f"{url}/interaction_policy"
    r = await client.put(policy_url, headers=bob.headers, data={"quote_approval_policy": "public"})
    assert r.status_code == 403
    r = await client.put(policy_url, headers=alice.headers, data={"quote_approval_policy": "x"})
    assert r.status_code == 422
    r = await client.put(
        policy_url, headers=alice.headers, data={"quote_approval_policy": "public"}
    )
    assert r.status_code == 200 and r.json()["quote_approval"]["automatic"] == ["public"]
    bad_new = await client.post(
        "/api/v1/statuses",
        headers=alice.headers,
        data={"status": "x", "quote_approval_policy": "everyone"},
    )
    assert bad_new.status_code == 422 and await _count(client, alice) == 2


async def test_followers_policy_is_what_federation_publishes_and_answers(client, make_person):
    alice = await make_person("alice")
    s = await post_status(client, alice, status="fed", quote_approval_policy="followers")
    note = await client.get(
        f"/users/alice/statuses/{s['id']}", headers={"Accept": "application/activity+json"}
    )
    automatic = note.json()["interactionPolicy"]["canQuote"]["automaticApproval"]
    assert automatic == [f"{note.json()['attributedTo']}/followers"]
    auth = await client.get(
        f"/users/alice/statuses/{s['id']}/quote_authorization",
        params={"quote": "https://elsewhere.example/notes/1"},
        headers={"Accept": "application/activity+json"},
    )
    assert auth.status_code == 404  # an unknown quoter is no follower


async def test_account_default_quote_policy(client, make_person):
    alice = await make_person("alice")
    url = "/api/v1/accounts/update_credentials"
    bad = await client.patch(url, headers=alice.headers, data={"source[quote_policy]": "some"})
    assert bad.status_code == 422
    r = await client.patch(url, headers=alice.headers, data={"source[quote_policy]": "nobody"})
    assert r.status_code == 200 and r.json()["source"]["quote_policy"] == "nobody"
    me = await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)
    assert me.json()["source"]["quote_policy"] == "nobody"
    s = await post_status(client, alice, status="default applies")
    assert s["quote_approval"]["automatic"] == []
    s = await post_status(client, alice, status="override", quote_approval_policy="public")
    assert s["quote_approval"]["automatic"] == ["public"]


async def test_quotes_notifications_and_revoking(client, make_person, run_jobs):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    s = await post_status(client, alice, status="original")
    other = await post_status(client, alice, status="another")
    q = await post_status(client, bob, status="quoting", quoted_status_id=s["id"])
    await run_jobs()
    assert "quote" in await _types(client, alice)
    listed = await client.get(f"/api/v1/statuses/{s['id']}/quotes", headers=carol.headers)
    assert [x["id"] for x in listed.json()] == [q["id"]]
    await client.put(f"/api/v1/statuses/{s['id']}", headers=alice.headers, data={"status": "v2"})
    await run_jobs()
    assert "quoted_update" in await _types(client, bob)
    revoke = f"/api/v1/statuses/{s['id']}/quotes/{q['id']}/revoke"
    assert (await client.post(revoke, headers=carol.headers)).status_code == 403
    assert (await client.post(revoke, headers=bob.headers)).status_code == 403
    wrong = f"/api/v1/statuses/{other['id']}/quotes/{q['id']}/revoke"
    assert (await client.post(wrong, headers=alice.headers)).status_code == 404
    missing = f"/api/v1/statuses/{s['id']}/quotes/123456/revoke"
    assert (await client.post(missing, headers=alice.headers)).status_code == 404
    assert (await _status(client, bob, q["id"]))["quote"]["state"] == "accepted"  # unchanged
    r = await client.post(revoke, headers=alice.headers)
    assert r.status_code == 200 and r.json()["id"] == q["id"]
    assert r.json()["quote"] == {"state": "revoked", "quoted_status": None}
    assert (await _status(client, carol, q["id"]))["quote"]["state"] == "revoked"
    assert (await client.get(f"/api/v1/statuses/{s['id']}/quotes")).json() == []
    assert (await client.post(revoke, headers=alice.headers)).status_code == 404  # once
    private = await post_status(client, alice, status="mine only", visibility="private")
    hidden = await client.get(f"/api/v1/statuses/{private['id']}/quotes", headers=carol.headers)
    assert hidden.status_code == 404


async def test_conversation_mute_stops_notifications_from_the_thread(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    root = await post_status(client, alice, status="thread")
    r = await client.post(f"/api/v1/statuses/{root['id']}/mute", headers=alice.headers)
    assert r.status_code == 200 and r.json()["muted"] is True
    reply = await post_status(client, bob, status="@alice hi", in_reply_to_id=root["id"])
    await client.post(f"/api/v1/statuses/{root['id']}/favourite", headers=bob.headers)
    await run_jobs()
    assert await _types(client, alice) == []
    # muting any post of the thread is muting the thread; the mute is the caller's own
    assert (await _status(client, alice, reply["id"]))["muted"] is True
    assert (await _status(client, bob, reply["id"]))["muted"] is False
    r = await client.post(f"/api/v1/statuses/{reply['id']}/unmute", headers=alice.headers)
    assert r.status_code == 200 and r.json()["muted"] is False
    await post_status(client, bob, status="@alice again", in_reply_to_id=reply["id"])
    await run_jobs()
    assert await _types(client, alice) == ["mention"]
    private = await post_status(client, alice, status="secret", visibility="private")
    r = await client.post(f"/api/v1/statuses/{private['id']}/mute", headers=bob.headers)
    assert r.status_code == 404


async def test_hashtag_timeline_any_all_none(client, make_person):
    alice = await make_person("alice")
    a = await post_status(client, alice, status="#cats")
    ab = await post_status(client, alice, status="#cats #dogs")
    ac = await post_status(client, alice, status="#cats #birds")
    d = await post_status(client, alice, status="#fish")

    async def ids(**params: Any) -> list[str]:
        r = await client.get("/api/v1/timelines/tag/cats", params=params)
        assert r.status_code == 200
        return [s["id"] for s in r.json()]

    assert await ids(**{"all[]": ["dogs"]}) == [ab["id"]]
    assert await ids(**{"none[]": ["birds", "nothere"]}) == [ab["id"], a["id"]]
    assert await ids(**{"any[]": ["fish"]}) == [d["id"], ac["id"], ab["id"], a["id"]]
    assert await ids(**{"any[]": ["fish"], "none[]": ["dogs"]}) == [d["id"], ac["id"], a["id"]]
    assert await ids(**{"all[]": ["nothere"]}) == []


async def test_web_app_composer_policy_and_remove_quote(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    csrf = await web_sign_in(client, "alice")
    home = await client.get("/home")
    assert 'name="quote_policy"' in home.text and "Who can quote" in home.text
    r = await client.post(
        "/web/statuses",
        headers=HX,
        data={"csrf": csrf, "status": "from the web", "quote_policy": "nobody"},
    )
    assert r.status_code == 200
    mine = post_ids(r.text)[0]
    assert (await _status(client, alice, str(mine)))["quote_approval"]["automatic"] == []
    bad = await client.post(
        "/web/statuses", headers=HX, data={"csrf": csrf, "status": "x", "quote_policy": "all"}
    )
    assert bad.status_code == 422 and await _count(client, alice) == 1
    public = await post_status(client, alice, status="quotable")
    q = await post_status(client, bob, status="quoting", quoted_status_id=public["id"])
    page = await client.get(f"/@bob/{q['id']}")
    assert 'aria-label="Remove quote"' in page.text
    own_page = await client.get(f"/@alice/{mine}")  # `nobody`: only its author may quote
    assert 'aria-label="Quote"' in own_page.text
    revoke = f"/web/statuses/{public['id']}/quotes/{q['id']}/revoke"
    r = await client.post(revoke, headers=HX, data={"csrf": csrf})
    assert r.status_code == 200 and "removed by its author" in r.text
    assert (await _status(client, bob, q["id"]))["quote"]["state"] == "revoked"
    again = await client.post(revoke, headers=HX, data={"csrf": csrf})
    assert again.status_code == 404


async def test_quotes_count_is_the_accepted_quotes(client, make_person, run_jobs):
    """Mastodon 4.5's `quotes_count`: accepted quotes of the post, not revoked or deleted ones,
    read per request (the cached page and the fresh rendering alike)."""
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    s = await post_status(client, alice, status="original")
    assert s["quotes_count"] == 0
    quotes = [
        await post_status(client, who, status="quoting", quoted_status_id=s["id"])
        for who in (bob, carol)
    ]
    await run_jobs()

    async def counted() -> set[int]:
        one = (await _status(client, carol, s["id"]))["quotes_count"]
        r = await client.get(f"/api/v1/accounts/{alice.id}/statuses", headers=carol.headers)
        listed = next(x["quotes_count"] for x in r.json() if x["id"] == s["id"])
        embedded = (await _status(client, carol, quotes[1]["id"]))["quote"]["quoted_status"]
        return {one, listed, embedded["quotes_count"]}

    assert await counted() == {2}
    revoke = f"/api/v1/statuses/{s['id']}/quotes/{quotes[0]['id']}/revoke"
    assert (await client.post(revoke, headers=alice.headers)).status_code == 200
    assert await counted() == {1}
    r = await client.delete(f"/api/v1/statuses/{quotes[1]['id']}", headers=carol.headers)
    assert r.status_code == 200
    assert (await _status(client, carol, s["id"]))["quotes_count"] == 0
