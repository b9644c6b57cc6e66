"""Discovery through the API and the web app: featured hashtags, endorsements, private
notes, familiar followers, suggestions, the directory, and trends with their review queue
(a private post, or anything of an account that is not discoverable, never trends)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update

from agora.db.models import Account, FeaturedTag, Trend, User
from agora.social.reading import trends
from agora.social.rules.discoverability import listable, listable_account
from helpers import csrf_of, follow, make_admin, post_status_id, web_sign_in


async def _undiscoverable(client, person) -> None:
    r = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=person.headers,
        data={"discoverable": "false"},
    )
    assert r.status_code == 200 and r.json()["discoverable"] is False


async def _rel(client, me, other) -> dict[str, Any]:
    r = await client.get(
        "/api/v1/accounts/relationships", headers=me.headers, params={"id[]": str(other.id)}
    )
    return r.json()[0]


# --- featured hashtags, endorsements, notes --------------------------------------------------


async def test_featured_tags_count_public_posts_and_only_the_owner_removes_one(
    db, client, make_person
):
    alice, bob = await make_person("alice"), await make_person("bob")
    await post_status_id(client, alice, "hello #Cats")
    await post_status_id(client, alice, "secret #cats", visibility="private")
    await post_status_id(client, alice, "more #dogs")
    r = await client.post("/api/v1/featured_tags", headers=alice.headers, data={"name": "#cats"})
    assert r.status_code == 200, r.text
    cats = r.json()
    assert cats["name"] == "cats" and cats["statuses_count"] == "1"  # the private one is not
    assert cats["url"].endswith("/@alice/tagged/cats") and cats["last_status_at"]
    suggested = await client.get("/api/v1/featured_tags/suggestions", headers=alice.headers)
    assert [t["name"] for t in suggested.json()] == ["dogs"]
    # taken, a bad name: 422, nothing added
    again = await client.post("/api/v1/featured_tags", headers=alice.headers, data={"name": "CATS"})
    bad = await client.post("/api/v1/featured_tags", headers=alice.headers, data={"name": "no way"})
    assert (again.status_code, bad.status_code) == (422, 422)
    public = await client.get(f"/api/v1/accounts/{alice.id}/featured_tags")
    assert [t["id"] for t in public.json()] == [cats["id"]]
    # someone else's: 404, and it stays
    r = await client.delete(f"/api/v1/featured_tags/{cats['id']}", headers=bob.headers)
    assert r.status_code == 404
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(FeaturedTag)) == 1
    r = await client.delete(f"/api/v1/featured_tags/{cats['id']}", headers=alice.headers)
    assert r.status_code == 200
    assert (await client.get("/api/v1/featured_tags", headers=alice.headers)).json() == []


async def test_endorsing_needs_a_follow_and_ends_with_it(client, make_person):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    r = await client.post(f"/api/v1/accounts/{bob.id}/pin", headers=alice.headers)
    assert r.status_code == 422 and "following" in r.json()["error"]
    assert (await client.post("/api/v1/accounts/1/pin", headers=alice.headers)).status_code == 404
    await follow(client, alice, bob)
    r = await client.post(f"/api/v1/accounts/{bob.id}/pin", headers=alice.headers)
    assert r.status_code == 200 and r.json()["endorsed"] is True
    mine = await client.get("/api/v1/endorsements", headers=alice.headers)
    assert [a["id"] for a in mine.json()] == [str(bob.id)]
    shown = await client.get(f"/api/v1/accounts/{alice.id}/endorsements")
    assert [a["id"] for a in shown.json()] == [str(bob.id)]
    assert (await _rel(client, carol, bob))["endorsed"] is False  # only alice's
    await client.post(f"/api/v1/accounts/{bob.id}/unfollow", headers=alice.headers)
    assert (await client.get("/api/v1/endorsements", headers=alice.headers)).json() == []
    assert (await _rel(client, alice, bob))["endorsed"] is False
    r = await client.post(f"/api/v1/accounts/{bob.id}/unpin", headers=alice.headers)
    assert r.status_code == 200 and r.json()["endorsed"] is False


async def test_a_private_note_is_only_its_writers(client, make_person):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    r = await client.post(
        f"/api/v1/accounts/{bob.id}/note",
        headers=alice.headers,
        data={"comment": " met at FOSDEM "},
    )
    assert r.status_code == 200 and r.json()["note"] == "met at FOSDEM"
    assert (await _rel(client, alice, bob))["note"] == "met at FOSDEM"
    assert (await _rel(client, carol, bob))["note"] == ""
    long = await client.post(
        f"/api/v1/accounts/{bob.id}/note", headers=alice.headers, data={"comment": "x" * 2001}
    )
    assert long.status_code == 422
    assert (await _rel(client, alice, bob))["note"] == "met at FOSDEM"  # unchanged
    await client.post(
        f"/api/v1/accounts/{bob.id}/note", headers=alice.headers, data={"comment": ""}
    )
    assert (await _rel(client, alice, bob))["note"] == ""


async def test_familiar_followers_are_people_i_follow_who_follow_them(client, make_person):
    alice, bob, carol, dave = [await make_person(n) for n in ("alice", "bob", "carol", "dave")]
    await follow(client, alice, bob)
    await follow(client, alice, carol)
    await follow(client, bob, dave)
    await follow(client, carol, dave)
    await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=carol.headers,
        data={"hide_collections": "true"},
    )
    r = await client.get(
        "/api/v1/accounts/familiar_followers",
        headers=alice.headers,
        params={"id[]": [str(dave.id), str(bob.id)]},
    )
    assert r.status_code == 200
    assert [(x["id"], [a["id"] for a in x["accounts"]]) for x in r.json()] == [
        (str(dave.id), [str(bob.id)]),  # carol hides her connections
        (str(bob.id), []),
    ]


# --- people: suggestions and the directory --------------------------------------------------


async def test_suggestions_leave_out_blocked_muted_followed_self_and_undiscoverable(
    client, make_person
):
    names = ("me", "friend", "fof", "blocked", "muted", "hidden", "blocker", "popular")
    me, friend, fof, blocked, muted, hidden, blocker, popular = [
        await make_person(n) for n in names
    ]
    await follow(client, me, friend)
    for other in (fof, blocked, muted, hidden, blocker):
        await follow(client, friend, other)
    await follow(client, friend, popular)
    await follow(client, fof, popular)
    await client.post(f"/api/v1/accounts/{blocked.id}/block", headers=me.headers)
    await client.post(f"/api/v1/accounts/{muted.id}/mute", headers=me.headers)
    await client.post(f"/api/v1/accounts/{me.id}/block", headers=blocker.headers)
    await _undiscoverable(client, hidden)
    r = await client.get("/api/v2/suggestions", headers=me.headers)
    assert r.status_code == 200
    got = [(s["account"]["id"], s["sources"]) for s in r.json()]
    assert got[0] == (str(popular.id), ["friends_of_friends"])  # two friends-of-friends ways
    assert {i for i, _ in got} == {str(popular.id), str(fof.id)}
    v1 = await client.get("/api/v1/suggestions", headers=me.headers)
    assert [a["id"] for a in v1.json()] == [i for i, _ in got]
    r = await client.delete(f"/api/v1/suggestions/{popular.id}", headers=me.headers)
    assert r.status_code == 200
    again = await client.get("/api/v1/suggestions", headers=me.headers)
    assert [a["id"] for a in again.json()] == [str(fof.id)]
    assert (await client.delete("/api/v1/suggestions/1", headers=me.headers)).status_code == 404
    assert (await client.get("/api/v2/suggestions")).status_code == 401


async def test_the_directory_lists_only_discoverable_accounts(client, make_person):
    old, new, hidden = [await make_person(n) for n in ("old", "new", "hidden")]
    await post_status_id(client, old, "still here")
    await _undiscoverable(client, hidden)
    active = await client.get("/api/v1/directory", params={"order": "active", "local": "true"})
    assert [a["id"] for a in active.json()] == [str(old.id), str(new.id)]
    newest = await client.get("/api/v1/directory", params={"order": "new", "limit": "1"})
    assert [a["id"] for a in newest.json()] == [str(new.id)]
    paged = await client.get("/api/v1/directory", params={"order": "new", "offset": "1"})
    assert [a["id"] for a in paged.json()] == [str(old.id)]
    assert (await client.get("/api/v1/directory", params={"order": "x"})).status_code == 422
    assert (await client.get("/api/v1/directory", params={"limit": "x"})).status_code == 422


async def test_the_discoverability_rule_and_its_sql_twin_agree(db, make_person):
    people = [await make_person(f"p{i}") for i in range(6)]
    async with db.session(write=True) as session:
        changes = [
            {"discoverable": False},
            {"silenced_at": func.now()},
            {"suspended_at": func.now()},
            {"moved_to_account_id": people[0].id},
        ]
        for person, values in zip(people, changes, strict=False):
            await session.execute(update(Account).where(Account.id == person.id).values(**values))
        await session.execute(
            update(User).where(User.account_id == people[4].id).values(approved=False)
        )
        await session.commit()
        listed = set(await session.scalars(select(Account.id).where(listable_account())))
        for account in await session.scalars(select(Account)):
            user = await session.scalar(select(User).where(User.account_id == account.id))
            assert listable(account, user) == (account.id in listed), account.username
    assert listed == {people[5].id}


# --- trends ---------------------------------------------------------------------------------


@pytest.fixture
async def crowd(make_person) -> list[Any]:
    return [await make_person(f"fan{i}") for i in range(trends.THRESHOLD)]


async def _like_all(client, crowd, post_id: str) -> None:
    for fan in crowd:
        r = await client.post(f"/api/v1/statuses/{post_id}/favourite", headers=fan.headers)
        assert r.status_code == 200


async def test_trends_wait_for_review_and_never_show_private_or_undiscoverable(
    db, client, make_person, crowd
):
    admin = await make_admin(db, make_person)
    shy = await make_person("shy")
    await _undiscoverable(client, shy)
    for fan in crowd:
        await post_status_id(client, fan, "#Hot take https://example.org/story")
        await post_status_id(client, fan, "#hushed", visibility="private")
    for fan in crowd[:-1]:
        await post_status_id(client, fan, "#almost")
    await post_status_id(client, shy, "#almost")  # the fifth author is not discoverable
    star = await post_status_id(client, crowd[0], "a post people like")
    private = await post_status_id(client, crowd[1], "liked but private", visibility="private")
    hidden = await post_status_id(client, shy, "liked but shy")
    for fan in crowd[2:] + crowd[:1]:  # followers may like the private post
        await follow(client, fan, crowd[1])
    for post_id in (star, private, hidden):
        await _like_all(client, crowd, post_id)
    await trends.refresh_now(db)

    for kind in ("tags", "statuses", "links"):  # pending: nothing shown yet
        assert (await client.get(f"/api/v1/trends/{kind}")).json() == []
    queue = await client.get("/api/v1/admin/trends/tags", headers=admin.headers)
    assert [row["title"] is None and row["requires_review"] for row in queue.json()] == [True]
    assert (
        await client.get("/api/v1/admin/trends/tags", headers=crowd[0].headers)
    ).status_code == 403
    async with db.session() as session:
        rows = (await session.execute(select(Trend.kind, Trend.item))).all()
    assert sorted(kind for kind, _ in rows) == ["link", "status", "tag"]  # nothing private

    tag_id = queue.json()[0]["item"]
    links = (await client.get("/api/v1/admin/trends/links", headers=admin.headers)).json()
    for path in (
        f"tags/{tag_id}/approve",
        f"statuses/{star}/approve",
        f"links/{links[0]['id']}/reject",
    ):
        r = await client.post(f"/api/v1/admin/trends/{path}", headers=admin.headers)
        assert r.status_code == 200, r.text
    missing = await client.post(
        f"/api/v1/admin/trends/statuses/{hidden}/approve", headers=admin.headers
    )
    assert missing.status_code == 404
    tags_now = (await client.get("/api/v1/trends/tags")).json()
    assert [t["name"] for t in tags_now] == ["hot"]
    assert [s["id"] for s in (await client.get("/api/v1/trends/statuses")).json()] == [star]
    assert (await client.get("/api/v1/trends/links")).json() == []  # rejected
    # a viewer who muted the author does not see the post trend
    await client.post(f"/api/v1/accounts/{crowd[0].id}/mute", headers=shy.headers)
    muted = await client.get("/api/v1/trends/statuses", headers=shy.headers)
    assert muted.json() == []
    # a rejected link stays rejected when it trends again
    await trends.refresh_now(db)
    assert (await client.get("/api/v1/trends/links")).json() == []


async def test_auto_approved_trends_show_at_once_on_the_api_explore_and_front_page(
    db, client, make_person, crowd
):
    from agora.social.instance import instance_settings

    async with db.session(write=True) as session:
        given = instance_settings.SettingsInput(trends_auto_approve=True)
        await instance_settings.change(session, given, by=None)
    for fan in crowd:
        await post_status_id(client, fan, "#Sunrise at https://example.org/sun")
    await trends.refresh_now(db)
    assert [t["name"] for t in (await client.get("/api/v1/trends/tags")).json()] == ["sunrise"]
    links = (await client.get("/api/v1/trends/links")).json()
    assert [(x["url"], x["title"]) for x in links] == [
        ("https://example.org/sun", "example.org/sun")
    ]
    front = await client.get("/")
    assert front.status_code == 200
    assert 'href="/tags/sunrise"' in front.text and "Recent posts on this server" in front.text
    explore = await client.get("/explore")
    assert explore.status_code == 200 and 'href="/tags/sunrise"' in explore.text
    assert "example.org/sun" in explore.text


async def test_web_explore_profile_and_admin_trends_review(db, client, make_person, crowd):
    admin = await make_admin(db, make_person)
    for fan in crowd:
        await post_status_id(client, fan, "#Moon")
    await client.post("/api/v1/featured_tags", headers=crowd[0].headers, data={"name": "moon"})
    await follow(client, crowd[0], crowd[1])
    await client.post(f"/api/v1/accounts/{crowd[1].id}/pin", headers=crowd[0].headers)
    profile = await client.get(f"/@{crowd[0].username}")
    assert "Featured hashtags" in profile.text and 'href="/tags/moon"' in profile.text
    assert f'href="/@{crowd[1].username}"' in profile.text
    await trends.refresh_now(db)
    assert 'href="/tags/moon"' not in (await client.get("/explore")).text  # pending
    assert (await client.get("/admin/trends")).status_code == 404  # signed out
    csrf = await web_sign_in(client, admin.username)
    page = await client.get("/admin/trends")
    assert page.status_code == 200 and "#moon" in page.text
    tag_id = (await client.get("/api/v1/admin/trends/tags", headers=admin.headers)).json()[0][
        "item"
    ]
    r = await client.post(f"/admin/trends/tag/{tag_id}/approve", data={"csrf": csrf})
    assert r.status_code == 303
    explore = await client.get("/explore")
    assert 'href="/tags/moon"' in explore.text and "People to follow" in explore.text
    assert csrf_of(explore.text)


async def test_featuring_someone_from_their_profile_page(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    await follow(client, alice, bob)
    csrf = await web_sign_in(client, "alice")
    page = await client.get("/@bob")
    assert "Feature on my profile" in page.text
    r = await client.post(
        f"/web/accounts/{bob.id}/pin", data={"csrf": csrf}, headers={"HX-Request": "true"}
    )
    assert r.status_code == 200 and "Stop featuring on my profile" in r.text
    assert 'href="/@bob"' in (await client.get("/@alice")).text
    stranger = await make_person("carol")
    r = await client.post(f"/web/accounts/{stranger.id}/pin", data={"csrf": csrf})
    assert r.status_code == 422  # not followed
    assert [
        a["id"] for a in (await client.get(f"/api/v1/accounts/{alice.id}/endorsements")).json()
    ] == [str(bob.id)]
