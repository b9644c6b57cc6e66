"""What Mastodon 4.3 to 4.5 clients call once a server says "4.5.0" (docs/API.md, "Version
4.5.0: what clients gate on"): the instance document's newer fields, several accounts and
statuses by id, `/oauth/userinfo`, endorse / unendorse, featuring a hashtag by name, and the
notification policy in its v1 shape. In-process, both databases."""

from __future__ import annotations

from sqlalchemy import update

from agora.db.models import Account, utcnow
from helpers import follow, post_status_id


async def test_instance_says_4_5_and_its_newer_fields(client, make_person) -> None:  # type: ignore[no-untyped-def]
    alice = await make_person("alice")
    v2 = (await client.get("/api/v2/instance")).json()
    assert v2["version"].startswith("4.5.0 (compatible; Agora ")
    assert v2["api_versions"] == {"mastodon": 7} and v2["icon"] == []
    conf = v2["configuration"]
    assert conf["urls"]["about"].endswith("/about") and conf["urls"]["terms_of_service"] is None
    assert conf["limited_federation"] is False and conf["vapid"]["public_key"]
    assert conf["timelines_access"]["live_feeds"] == {"local": "public", "remote": "public"}
    assert conf["timelines_access"]["trending_link_feeds"] == {
        "local": "public",
        "remote": "public",
    }
    assert v2["registrations"]["min_age"] is None
    v1 = (await client.get("/api/v1/instance")).json()
    assert v1["version"] == v2["version"] and "timelines_access" not in v1["configuration"]
    meta = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert meta["userinfo_endpoint"].endswith("/oauth/userinfo")
    prefs = (await client.get("/api/v1/preferences", headers=alice.headers)).json()
    assert prefs["posting:default:quote_policy"] == "public"


async def test_userinfo_needs_the_profile_scope(client, make_person) -> None:  # type: ignore[no-untyped-def]
    alice = await make_person("alice", scopes="profile")
    r = await client.get("/oauth/userinfo", headers=alice.headers)
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["preferred_username"] == "alice" and info["sub"].endswith("/users/alice")
    assert info["profile"].endswith("/@alice") and info["iss"].endswith("/")
    bob = await make_person("bob")  # read write follow push: not `profile`
    assert (await client.get("/oauth/userinfo", headers=bob.headers)).status_code == 403
    assert (await client.get("/oauth/userinfo")).status_code == 401


async def test_several_accounts_and_statuses_by_id(db, client, make_person) -> None:  # type: ignore[no-untyped-def]
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    async with db.session(write=True) as session:
        await session.execute(
            update(Account).where(Account.id == carol.id).values(suspended_at=utcnow())
        )
        await session.commit()
    ids = [bob.id, 999, alice.id, carol.id, bob.id]
    r = await client.get("/api/v1/accounts", params={"id[]": [str(i) for i in ids] + ["x"]})
    assert r.status_code == 200 and [a["username"] for a in r.json()] == ["bob", "alice"]
    too_many = await client.get("/api/v1/accounts", params={"id[]": [str(i) for i in range(41)]})
    assert too_many.status_code == 422
    public = await post_status_id(client, alice, "for all")
    private = await post_status_id(client, alice, "for followers", visibility="private")
    asked = {"id[]": [private, public]}
    r = await client.get("/api/v1/statuses", params=asked, headers=bob.headers)
    assert r.status_code == 200 and [s["id"] for s in r.json()] == [public]
    await follow(client, bob, alice)
    r = await client.get("/api/v1/statuses", params=asked, headers=bob.headers)
    assert [s["id"] for s in r.json()] == [private, public]
    mastodon_py = await client.request("GET", "/api/v1/statuses", json={"id": [public]})
    assert [s["id"] for s in mastodon_py.json()] == [public]  # a JSON body, as it sends
    many = await client.get("/api/v1/statuses", params={"id[]": [str(i) for i in range(21)]})
    assert many.status_code == 422


async def test_endorse_and_feature_a_hashtag_by_name(client, make_person) -> None:  # type: ignore[no-untyped-def]
    alice, bob = await make_person("alice"), await make_person("bob")
    refused = await client.post(f"/api/v1/accounts/{bob.id}/endorse", headers=alice.headers)
    assert refused.status_code == 422  # not followed
    await follow(client, alice, bob)
    r = await client.post(f"/api/v1/accounts/{bob.id}/endorse", headers=alice.headers)
    assert r.status_code == 200 and r.json()["endorsed"] is True
    r = await client.post(f"/api/v1/accounts/{bob.id}/unendorse", headers=alice.headers)
    assert r.json()["endorsed"] is False
    # a hashtag never used: featured, and so known to its featurer
    r = await client.post("/api/v1/tags/Otters/feature", headers=alice.headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "otters" and r.json()["featuring"] is True
    again = await client.post("/api/v1/tags/otters/feature", headers=alice.headers)
    assert again.status_code == 200 and again.json()["featuring"] is True  # idempotent
    listed = (await client.get("/api/v1/featured_tags", headers=alice.headers)).json()
    assert [t["name"] for t in listed] == ["otters"]
    seen = (await client.get("/api/v1/tags/otters", headers=bob.headers)).json()
    assert seen["featuring"] is False and "id" not in seen  # bob never saw it used
    r = await client.post("/api/v1/tags/otters/unfeature", headers=alice.headers)
    assert r.status_code == 200 and r.json()["featuring"] is False
    assert (await client.get("/api/v1/featured_tags", headers=alice.headers)).json() == []
    bad = await client.post("/api/v1/tags/no%20way/feature", headers=alice.headers)
    assert bad.status_code == 404
    assert (await client.post("/api/v1/tags/otters/feature")).status_code == 401


async def test_notification_policy_in_its_v1_shape(client, make_person) -> None:  # type: ignore[no-untyped-def]
    alice = await make_person("alice")
    r = await client.get("/api/v1/notifications/policy", headers=alice.headers)
    assert r.status_code == 200
    assert r.json() == {
        "filter_not_following": False,
        "filter_not_followers": False,
        "filter_new_accounts": False,
        "filter_private_mentions": True,
        "summary": {"pending_requests_count": 0, "pending_notifications_count": 0},
    }
    r = await client.put(
        "/api/v1/notifications/policy",
        headers=alice.headers,
        data={"filter_not_following": "true", "filter_private_mentions": "false"},
    )
    assert r.status_code == 200 and r.json()["filter_not_following"] is True
    v2 = (await client.get("/api/v2/notifications/policy", headers=alice.headers)).json()
    assert v2["for_not_following"] == "filter" and v2["for_private_mentions"] == "accept"
    assert v2["for_not_followers"] == "accept"  # not sent: unchanged
    await client.patch(
        "/api/v2/notifications/policy", headers=alice.headers, json={"for_new_accounts": "drop"}
    )
    v1 = (await client.get("/api/v1/notifications/policy", headers=alice.headers)).json()
    assert v1["filter_new_accounts"] is True  # drop is filtering too
    assert (await client.get("/api/v1/notifications/policy")).status_code == 401
