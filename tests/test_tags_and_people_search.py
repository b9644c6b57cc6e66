"""Hashtags (the Tag entity, history, follow / unfollow, followed hashtags in the home feed)
and searching people and hashtags."""

from __future__ import annotations

import re

from agora.social.posts import tags
from helpers import post_status_id


async def _home(client, person):
    r = await client.get("/api/v1/timelines/home", headers=person.headers)
    return [s["id"] for s in r.json()]


async def test_tag_entity_history_and_following(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    r = await client.get("/api/v1/tags/Fresh")
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "fresh" and body["url"] == "http://testserver/tags/fresh"
    assert len(body["history"]) == 7 and "following" not in body
    assert {h["uses"] for h in body["history"]} == {"0"}
    await post_status_id(client, alice, "#Python is fun")
    await post_status_id(client, alice, "more #python")
    await post_status_id(client, bob, "#python too", visibility="unlisted")
    await post_status_id(client, bob, "secret #python", visibility="private")
    await run_jobs()
    r = await client.get("/api/v1/tags/python", headers=bob.headers)
    today = r.json()["history"][0]
    assert today == {"day": str(tags.today() * 86_400), "uses": "3", "accounts": "2"}
    assert r.json()["following"] is False and r.json()["id"]
    assert [h["day"] for h in r.json()["history"]] == sorted(
        (h["day"] for h in r.json()["history"]), reverse=True
    )
    for bad in ("a-b", "123", "x" * 101, "%F0%9F%99%82"):
        r = await client.get(f"/api/v1/tags/{bad}")
        assert r.status_code == 404, bad


async def test_follow_unfollow_and_list(client, make_person):
    alice = await make_person("alice")
    r = await client.post("/api/v1/tags/%23Cats/follow", headers=alice.headers)
    assert r.status_code == 200 and r.json()["following"] is True and r.json()["name"] == "cats"
    again = await client.post("/api/v1/tags/cats/follow", headers=alice.headers)
    assert again.status_code == 200 and again.json()["following"] is True
    for name in ("dogs", "birds"):
        await client.post(f"/api/v1/tags/{name}/follow", headers=alice.headers)
    r = await client.get("/api/v1/followed_tags", headers=alice.headers, params={"limit": 2})
    assert [t["name"] for t in r.json()] == ["birds", "dogs"]
    nxt = re.search(r'<([^>]+)>; rel="next"', r.headers["link"]).group(1)
    r2 = await client.get(nxt.removeprefix("http://testserver"), headers=alice.headers)
    assert [t["name"] for t in r2.json()] == ["cats"]
    r = await client.post("/api/v1/tags/dogs/unfollow", headers=alice.headers)
    assert r.json()["following"] is False
    r = await client.post("/api/v1/tags/neverseen/unfollow", headers=alice.headers)
    assert r.status_code == 200 and r.json()["following"] is False
    r = await client.get("/api/v1/followed_tags", headers=alice.headers)
    assert [t["name"] for t in r.json()] == ["birds", "cats"]
    assert (await client.post("/api/v1/tags/cats/follow")).status_code == 401
    assert (await client.get("/api/v1/followed_tags")).status_code == 401
    assert (await client.post("/api/v1/tags/a-b/follow", headers=alice.headers)).status_code == 404
    reader = await make_person("reader", scopes="read")
    r = await client.post("/api/v1/tags/cats/follow", headers=reader.headers)
    assert r.status_code == 403


async def test_followed_tags_feed_the_home_timeline(client, make_person, run_jobs):
    alice, bob, carol, dave = [await make_person(n) for n in ("alice", "bob", "carol", "dave")]
    for person in (alice, carol, dave):
        await client.post("/api/v1/tags/birds/follow", headers=person.headers)
    await client.post(f"/api/v1/accounts/{bob.id}/block", headers=carol.headers)
    await client.post(f"/api/v1/accounts/{bob.id}/mute", headers=dave.headers)
    public = await post_status_id(client, bob, "a heron! #Birds")
    unlisted = await post_status_id(client, bob, "quiet #birds", visibility="unlisted")
    private = await post_status_id(client, bob, "close friends #birds", visibility="private")
    other = await post_status_id(client, bob, "no tag here")
    await run_jobs()
    home = await _home(client, alice)
    assert public in home and not {unlisted, private, other} & set(home)
    assert public not in await _home(client, carol)  # blocked the author
    assert public not in await _home(client, dave)  # muted the author
    # following the author too: delivered once
    await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=alice.headers)
    await run_jobs()
    again = await post_status_id(client, bob, "another #birds")
    await run_jobs()
    home = await _home(client, alice)
    assert home.count(again) == 1
    # unfollowing the tag keeps what was delivered, as on Mastodon
    await client.post(f"/api/v1/accounts/{bob.id}/unfollow", headers=alice.headers)
    await run_jobs()
    await client.post("/api/v1/tags/birds/unfollow", headers=alice.headers)
    later = await post_status_id(client, bob, "later #birds")
    await run_jobs()
    home = await _home(client, alice)
    assert later not in home


async def test_boosts_do_not_reach_tag_followers(client, make_person, run_jobs):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    await client.post("/api/v1/tags/frogs/follow", headers=alice.headers)
    original = await post_status_id(client, carol, "frog #frogs")
    await run_jobs()
    await client.post(f"/api/v1/statuses/{original}/reblog", headers=bob.headers)
    await run_jobs()
    home = await _home(client, alice)
    assert home == [original]


async def test_search_people(client, make_person, run_jobs, db):
    alice, bob = await make_person("alice"), await make_person("bob")
    alicia = await make_person("alicia")
    malice = await make_person("malice")
    await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=bob.headers,
        data={"display_name": "Alice's Friend Bob"},
    )

    async def names(q, who=alice, **params):
        r = await client.get("/api/v2/search", headers=who.headers, params={"q": q, **params})
        assert r.status_code == 200, r.text
        return [a["username"] for a in r.json()["accounts"]]

    assert (await names("alice"))[0] == "alice"
    assert set(await names("alice")) == {"alice", "bob"}  # username prefix or display name
    assert set(await names("ali")) == {"alice", "alicia", "bob"}
    assert await names("@alicia") == ["alicia"]
    assert await names("alicia@testserver") == ["alicia"]
    assert await names("@alicia@testserver") == ["alicia"]
    assert await names("alicia@elsewhere.example") == []
    assert await names("friend bob") == ["bob"]
    assert await names("ALI", type="accounts", limit=1) == ["alice"]
    assert await names("ali", type="accounts", limit=1, offset=1) != ["alice"]
    # the people one follows come first, and `following` keeps only them
    await client.post(f"/api/v1/accounts/{alicia.id}/follow", headers=bob.headers)
    assert (await names("ali", who=bob))[0] == "alicia"
    assert await names("ali", who=bob, following="true") == ["alicia"]
    # blocks hide people both ways; suspension hides them from everyone
    await client.post(f"/api/v1/accounts/{alice.id}/block", headers=alicia.headers)
    assert "alicia" not in await names("ali")
    async with db.session(write=True) as session:
        from agora.social.people.moderation import take_action

        await take_action(session, malice.id, "suspend", by=None)
    assert "malice" not in await names("malice", who=bob)
    # Mastodon's v1 endpoint, signed in only
    r = await client.get("/api/v1/accounts/search", headers=bob.headers, params={"q": "alic"})
    assert [a["username"] for a in r.json()] == ["alicia", "alice", "bob"]
    r = await client.get("/api/v1/accounts/search", params={"q": "alic"})
    assert r.status_code == 401
    r = await client.get("/api/v1/accounts/search", headers=bob.headers, params={"q": " "})
    assert r.status_code == 400
    for q in ("%", "_", "a%b", "\\", "'", "@", "@@", "a@b@c"):
        r = await client.get("/api/v1/accounts/search", headers=bob.headers, params={"q": q})
        assert r.status_code == 200, q
    r = await client.get("/api/v2/search", params={"q": "alice"})
    assert r.status_code == 200 and "alice" in [a["username"] for a in r.json()["accounts"]]
    assert r.json()["statuses"] == []


async def test_search_hashtags(client, make_person, run_jobs):
    alice = await make_person("alice")
    await post_status_id(client, alice, "#cats #catsofagora #cat #category")
    await post_status_id(client, alice, "#catsofagora again")
    await run_jobs()

    async def found(q, **params):
        r = await client.get("/api/v2/search", headers=alice.headers, params={"q": q, **params})
        assert r.status_code == 200, r.text
        return [t["name"] for t in r.json()["hashtags"]]

    assert (await found("cat"))[0] == "cat"
    assert (await found("#cats"))[:2] == ["cats", "catsofagora"]
    assert await found("#ca", type="hashtags", limit=2) == ["catsofagora", "cat"]  # most used
    assert await found("#ca", type="hashtags", limit=1, offset=1) == ["cat"]
    assert await found("cat@x") == []
    assert await found("c%") == []
    r = await client.get("/api/v2/search", headers=alice.headers, params={"q": "#cats"})
    tag = r.json()["hashtags"][0]
    assert tag["following"] is False and len(tag["history"]) == 7
    assert r.json()["accounts"] == []  # a hashtag query does not search people


async def test_silenced_accounts_are_listed_only_to_followers(client, make_person, run_jobs, db):
    from sqlalchemy import update

    from agora.db.models import Account, utcnow

    troll, fan, stranger = [await make_person(n) for n in ("troll", "fan", "stranger")]
    await client.post(f"/api/v1/accounts/{troll.id}/follow", headers=fan.headers)
    await client.post("/api/v1/tags/spam/follow", headers=stranger.headers)
    async with db.session(write=True) as session:
        await session.execute(
            update(Account).where(Account.id == troll.id).values(silenced_at=utcnow())
        )
        await session.commit()
    post = await post_status_id(client, troll, "buy now #spam")
    await run_jobs()
    assert post in await _home(client, fan)
    assert post not in await _home(client, stranger)  # not through a followed hashtag either

    async def search(person, q):
        r = await client.get("/api/v2/search", headers=person.headers, params={"q": q})
        body = r.json()
        return [a["username"] for a in body["accounts"]], [s["id"] for s in body["statuses"]]

    assert await search(fan, "buy now") == ([], [post])
    assert await search(stranger, "buy now") == ([], [])
    assert (await search(fan, "troll"))[0] == ["troll"]
    assert (await search(stranger, "troll"))[0] == []
    assert (await search(troll, "troll"))[0] == ["troll"]
    r = await client.get("/api/v2/search", params={"q": "troll"})
    assert r.json()["accounts"] == []


async def test_privately_used_hashtags_are_found_only_by_who_may_see_them(
    client, make_person, run_jobs
):
    alice, carol = await make_person("alice"), await make_person("carol")
    follower, stranger = await make_person("follower"), await make_person("stranger")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=follower.headers)
    await post_status_id(client, alice, "plans #SecretPlan", visibility="private")
    await post_status_id(client, alice, "@carol psst #whisper", visibility="direct")
    await post_status_id(client, alice, "out loud #whisperloud")  # public: anyone finds it
    await run_jobs()

    async def found(person, q):
        headers = person.headers if person else {}
        r = await client.get("/api/v2/search", headers=headers, params={"q": q})
        assert r.status_code == 200, r.text
        return {t["name"] for t in r.json()["hashtags"]}

    for q in ("#secret", "secretplan"):
        assert await found(None, q) == set()  # signed out
        assert await found(stranger, q) == set()
        assert await found(follower, q) == {"secretplan"}
        assert await found(alice, q) == {"secretplan"}
    assert await found(None, "#whisper") == {"whisperloud"}
    assert await found(follower, "#whisper") == {"whisperloud"}
    assert await found(carol, "#whisper") == {"whisper", "whisperloud"}
    # the web's search asks the same rule
    page = await client.get("/search", params={"q": "#secret"})
    assert page.status_code == 200 and "secretplan" not in page.text.lower()

    # the Tag entity of a privately used tag says nothing more than one never used
    never = (await client.get("/api/v1/tags/nevereverused")).json()
    for person in (None, stranger):
        got = await client.get("/api/v1/tags/secretplan", headers=person.headers if person else {})
        assert got.status_code == 200
        shown = {
            k: v
            for k, v in got.json().items()
            if k not in ("name", "url", "following", "featuring")
        }
        assert shown == {k: v for k, v in never.items() if k not in ("name", "url")}
        assert "id" not in got.json()
    assert (await client.get("/api/v1/tags/secretplan", headers=follower.headers)).json()["id"]
    # history counts only public use
    for name in ("secretplan", "whisper"):
        history = (await client.get(f"/api/v1/tags/{name}", headers=alice.headers)).json()
        assert {h["uses"] for h in history["history"]} == {"0"}

    # following a tag makes it findable by the follower, not by everyone
    await client.post("/api/v1/tags/ghosttag/follow", headers=stranger.headers)
    assert await found(stranger, "#ghost") == {"ghosttag"}
    assert await found(None, "#ghost") == set() and await found(carol, "#ghost") == set()
