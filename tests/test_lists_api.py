"""Lists: CRUD, members (followed accounts only), someone else's list, the list timeline with
replies policies, boosts, visibility, mutes and blocks, paging, and exclusive lists."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, insert, select

from agora.db.models import ListMember, Post, UserList, utcnow
from agora.social.reading.lists import lists_receiving
from helpers import follow, post_status


async def _new_list(client, person, **data: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/lists", headers=person.headers, data={"title": "L", **data})
    assert r.status_code == 200, r.text
    return r.json()


async def _add(client, person, list_id: str, *members) -> Any:
    return await client.post(
        f"/api/v1/lists/{list_id}/accounts",
        headers=person.headers,
        data={"account_ids[]": [str(m.id) for m in members]},
    )


async def _timeline(client, person, list_id: str, **params: Any) -> list[str]:
    r = await client.get(f"/api/v1/timelines/list/{list_id}", headers=person.headers, params=params)
    assert r.status_code == 200, r.text
    return [s["id"] for s in r.json()]


async def _home(client, person) -> list[str]:
    r = await client.get("/api/v1/timelines/home", headers=person.headers, params={"limit": 40})
    return [s["id"] for s in r.json()]


def _links(response) -> dict[str, str]:
    found = re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("link", ""))
    return {rel: url.removeprefix("http://testserver") for url, rel in found}


async def test_list_crud(client, make_person):
    alice = await make_person("alice")
    made = await _new_list(client, alice, title="  Friends ")
    assert made == {
        "id": made["id"],
        "title": "Friends",
        "replies_policy": "list",
        "exclusive": False,
    }
    r = await client.post(
        "/api/v1/lists",
        headers=alice.headers,
        json={"title": "Work", "replies_policy": "none", "exclusive": True},
    )
    work = r.json()
    assert work["replies_policy"] == "none" and work["exclusive"] is True
    index = (await client.get("/api/v1/lists", headers=alice.headers)).json()
    assert [x["title"] for x in index] == ["For You", "Friends", "Work"]  # For You: the feed
    url = f"/api/v1/lists/{made['id']}"
    assert (await client.get(url, headers=alice.headers)).json() == made
    r = await client.put(url, headers=alice.headers, data={"replies_policy": "followed"})
    assert r.json()["title"] == "Friends" and r.json()["replies_policy"] == "followed"
    r = await client.put(url, headers=alice.headers, data={"title": "Pals", "exclusive": "true"})
    assert r.json() == {**made, "title": "Pals", "replies_policy": "followed", "exclusive": True}
    r = await client.delete(url, headers=alice.headers)
    assert r.status_code == 200 and r.json() == {}
    assert (await client.get(url, headers=alice.headers)).status_code == 404
    assert [x["id"] for x in (await client.get("/api/v1/lists", headers=alice.headers)).json()] == [
        "for_you",
        work["id"],
    ]


async def test_bad_list_input_changes_nothing(client, make_person, db):
    alice = await make_person("alice")
    for data in ({}, {"title": ""}, {"title": "   "}, {"title": "x" * 201}):
        r = await client.post("/api/v1/lists", headers=alice.headers, data=data)
        assert r.status_code == 422 and "Title" in r.json()["error"], data
    r = await client.post(
        "/api/v1/lists", headers=alice.headers, data={"title": "x", "replies_policy": "all"}
    )
    assert r.status_code == 422 and "Replies policy" in r.json()["error"]
    made = await _new_list(client, alice, title="keep")
    url = f"/api/v1/lists/{made['id']}"
    for data in ({"title": ""}, {"replies_policy": "everyone"}, {"exclusive": "perhaps"}):
        assert (await client.put(url, headers=alice.headers, data=data)).status_code == 422
    assert (await client.get(url, headers=alice.headers)).json() == made
    assert (await client.get("/api/v1/lists")).status_code == 401
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(UserList)) == 1


async def test_list_count_is_capped(client, make_person):
    from agora.config import get_settings

    alice = await make_person("alice")
    cap = get_settings().max_lists
    for i in range(cap):
        await _new_list(client, alice, title=f"list {i}")
    r = await client.post("/api/v1/lists", headers=alice.headers, data={"title": "one more"})
    assert r.status_code == 422 and str(cap) in r.json()["error"]


async def test_someone_elses_list_does_not_exist(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    await follow(client, alice, bob)
    await follow(client, bob, alice)
    made = await _new_list(client, alice)
    assert (await _add(client, alice, made["id"], bob)).status_code == 200
    url = f"/api/v1/lists/{made['id']}"
    attempts = [
        client.get(url, headers=bob.headers),
        client.put(url, headers=bob.headers, data={"title": "mine now"}),
        client.delete(url, headers=bob.headers),
        client.get(f"{url}/accounts", headers=bob.headers),
        _add(client, bob, made["id"], alice),
        client.request(
            "DELETE", f"{url}/accounts", headers=bob.headers, data={"account_ids[]": str(bob.id)}
        ),
        client.get(f"/api/v1/timelines/list/{made['id']}", headers=bob.headers),
        client.get("/api/v1/lists/12345", headers=alice.headers),
        client.get("/api/v1/lists/not-an-id", headers=alice.headers),
    ]
    for attempt in attempts:
        r = await attempt
        assert r.status_code == 404 and r.json() == {"error": "Record not found"}, r.text
    assert (await client.get(url, headers=alice.headers)).json() == made
    r = await client.get(f"{url}/accounts", headers=alice.headers)
    assert [a["id"] for a in r.json()] == [str(bob.id)]
    assert (
        await client.get(f"/api/v1/accounts/{alice.id}/lists", headers=bob.headers)
    ).json() == []


async def test_members_must_be_followed_and_added_once(client, make_person, db):
    alice, bob, carol, dave = [await make_person(n) for n in ("alice", "bob", "carol", "dave")]
    await follow(client, alice, bob)
    await follow(client, alice, carol)
    made = await _new_list(client, alice)
    r = await _add(client, alice, made["id"], bob, dave)  # dave is not followed: nothing added
    assert r.status_code == 404
    assert (await _add(client, alice, made["id"], alice)).status_code == 404  # nor oneself
    r = await client.post(
        f"/api/v1/lists/{made['id']}/accounts",
        headers=alice.headers,
        data={"account_ids[]": "999999"},
    )
    assert r.status_code == 404
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ListMember)) == 0
    assert (await _add(client, alice, made["id"], bob)).status_code == 200
    again = await _add(client, alice, made["id"], carol, bob)
    assert again.status_code == 422 and "already" in again.json()["error"]
    members = await client.get(f"/api/v1/lists/{made['id']}/accounts", headers=alice.headers)
    assert [a["id"] for a in members.json()] == [str(bob.id)]  # carol was not added either
    assert (await _add(client, alice, made["id"], carol)).status_code == 200
    lists = (await client.get(f"/api/v1/accounts/{carol.id}/lists", headers=alice.headers)).json()
    assert [x["id"] for x in lists] == [made["id"]]
    r = await client.get("/api/v1/accounts/999999/lists", headers=alice.headers)
    assert r.status_code == 404
    r = await client.request(
        "DELETE",
        f"/api/v1/lists/{made['id']}/accounts",
        headers=alice.headers,
        data={"account_ids[]": [str(carol.id), str(dave.id)]},
    )
    assert r.status_code == 200 and r.json() == {}
    members = await client.get(f"/api/v1/lists/{made['id']}/accounts", headers=alice.headers)
    assert [a["id"] for a in members.json()] == [str(bob.id)]


async def test_member_pages_and_limit_zero(client, make_person):
    alice = await make_person("alice")
    people = [await make_person(f"p{i}") for i in range(5)]
    for p in people:
        await follow(client, alice, p)
    made = await _new_list(client, alice)
    assert (await _add(client, alice, made["id"], *people)).status_code == 200
    url = f"/api/v1/lists/{made['id']}/accounts"
    newest_first = [str(p.id) for p in sorted(people, key=lambda p: p.id, reverse=True)]
    first = await client.get(url, headers=alice.headers, params={"limit": 2})
    assert [a["id"] for a in first.json()] == newest_first[:2]
    second = await client.get(_links(first)["next"], headers=alice.headers)
    assert [a["id"] for a in second.json()] == newest_first[2:4]
    back = await client.get(_links(second)["prev"], headers=alice.headers)
    assert [a["id"] for a in back.json()] == newest_first[:2]
    everyone = await client.get(url, headers=alice.headers, params={"limit": 0})
    assert [a["id"] for a in everyone.json()] == newest_first and "link" not in everyone.headers


async def test_unfollow_and_block_take_accounts_off_lists(client, make_person):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    await follow(client, alice, bob)
    await follow(client, alice, carol)
    made = await _new_list(client, alice)
    await _add(client, alice, made["id"], bob, carol)
    await client.post(f"/api/v1/accounts/{bob.id}/unfollow", headers=alice.headers)
    await client.post(f"/api/v1/accounts/{alice.id}/block", headers=carol.headers)
    members = await client.get(f"/api/v1/lists/{made['id']}/accounts", headers=alice.headers)
    assert members.json() == []


async def test_list_timeline_shows_members_posts(client, make_person, run_jobs):
    alice, bob, carol, dave = [await make_person(n) for n in ("alice", "bob", "carol", "dave")]
    for target in (bob, carol, dave):
        await follow(client, alice, target)
    made = await _new_list(client, alice)
    await _add(client, alice, made["id"], bob, carol)
    public = await post_status(client, bob, status="public by bob")
    private = await post_status(client, carol, status="for followers", visibility="private")
    unlisted = await post_status(client, bob, status="unlisted", visibility="unlisted")
    await post_status(client, bob, status="@alice direct", visibility="direct")
    await post_status(client, dave, status="dave is not on the list")
    boost_target = await post_status(client, dave, status="boost me")
    boost = (
        await client.post(f"/api/v1/statuses/{boost_target['id']}/reblog", headers=bob.headers)
    ).json()
    own = await post_status(client, alice, status="the owner's own post")
    await run_jobs()
    shown = await _timeline(client, alice, made["id"])
    assert shown == [boost["id"], unlisted["id"], private["id"], public["id"]]
    assert own["id"] not in shown
    await client.post(
        f"/api/v1/accounts/{bob.id}/follow", headers=alice.headers, data={"reblogs": "false"}
    )
    assert boost["id"] not in await _timeline(client, alice, made["id"])
    await client.post(f"/api/v1/accounts/{carol.id}/mute", headers=alice.headers)
    assert private["id"] not in await _timeline(client, alice, made["id"])
    await client.delete(f"/api/v1/statuses/{public['id']}", headers=bob.headers)
    assert await _timeline(client, alice, made["id"]) == [unlisted["id"]]


async def test_replies_policies(client, make_person, run_jobs):
    names = ("owner", "member", "other", "followed", "stranger")
    owner, member, other, followed, stranger = [await make_person(n) for n in names]
    for target in (member, other, followed):
        await follow(client, owner, target)
    made = {}
    for policy in ("followed", "list", "none"):
        made[policy] = (await _new_list(client, owner, replies_policy=policy))["id"]
        await _add(client, owner, made[policy], member, other)
    roots = {
        who.username: await post_status(client, who, status=f"root by {who.username}")
        for who in (owner, member, other, followed, stranger)
    }

    async def reply(to: str) -> str:
        parent = roots[to]
        posted = await post_status(client, member, status=f"@{to} hi", in_reply_to_id=parent["id"])
        return posted["id"]

    to_owner, to_self, to_other = await reply("owner"), await reply("member"), await reply("other")
    to_followed, to_stranger = await reply("followed"), await reply("stranger")
    expected = {
        "followed": {to_owner, to_self, to_other, to_followed},
        "list": {to_owner, to_self, to_other},
        "none": {to_owner, to_self},
    }
    all_replies = {to_owner, to_self, to_other, to_followed, to_stranger}
    for policy, wanted in expected.items():
        shown = set(await _timeline(client, owner, made[policy], limit=40)) & all_replies
        assert shown == wanted, policy


async def test_lists_receiving_agrees_with_the_timeline(client, make_person, db):
    owner, member, other = [await make_person(n) for n in ("owner", "member", "other")]
    for target in (member, other):
        await follow(client, owner, target)
    ids = {}
    for policy in ("followed", "list", "none"):
        ids[policy] = (await _new_list(client, owner, replies_policy=policy))["id"]
        await _add(client, owner, ids[policy], member)
    root = await post_status(client, other, status="root")
    reply = await post_status(client, member, status="@other yes", in_reply_to_id=root["id"])
    plain = await post_status(client, member, status="plain")
    direct = await post_status(client, member, status="@owner psst", visibility="direct")
    async with db.session() as session:
        for posted, wanted in (
            (reply, {"followed"}),
            (plain, {"followed", "list", "none"}),
            (direct, set()),
            (root, set()),
        ):
            post = await session.get(Post, int(posted["id"]))
            got = {
                (str(list_id), owner_id)
                for list_id, owner_id in await lists_receiving(session, post)
            }
            assert got == {(ids[p], owner.id) for p in wanted}, posted["content"]
            for policy in ("followed", "list", "none"):
                shown = posted["id"] in await _timeline(client, owner, ids[policy])
                assert shown == (policy in wanted)


async def test_list_timeline_pages_with_link_headers(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    await follow(client, alice, bob)
    made = await _new_list(client, alice)
    await _add(client, alice, made["id"], bob)
    ids = [(await post_status(client, bob, status=f"post {i}"))["id"] for i in range(7)]
    url = f"/api/v1/timelines/list/{made['id']}"
    first = await client.get(url, headers=alice.headers, params={"limit": 3})
    assert [s["id"] for s in first.json()] == ids[::-1][:3]
    links = _links(first)
    assert links["next"].startswith(url) and "max_id=" in links["next"]
    second = await client.get(links["next"], headers=alice.headers)
    assert [s["id"] for s in second.json()] == ids[::-1][3:6]
    back = await client.get(_links(second)["prev"], headers=alice.headers)
    assert [s["id"] for s in back.json()] == ids[::-1][:3]
    since = await _timeline(client, alice, made["id"], since_id=ids[4])
    assert since == [ids[6], ids[5]]
    oldest_up = await _timeline(client, alice, made["id"], min_id=ids[0], limit=2)
    assert oldest_up == [ids[2], ids[1]]


async def test_exclusive_list_keeps_members_out_of_home(client, make_person, run_jobs):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    await follow(client, alice, bob)
    await follow(client, alice, carol)
    made = await _new_list(client, alice, exclusive="true")
    await _add(client, alice, made["id"], bob)
    by_bob = await post_status(client, bob, status="exclusive to the list")
    by_carol = await post_status(client, carol, status="home as usual")
    boost = (
        await client.post(f"/api/v1/statuses/{by_carol['id']}/reblog", headers=bob.headers)
    ).json()
    mine = await post_status(client, alice, status="mine")
    await run_jobs()
    home = await _home(client, alice)
    assert by_bob["id"] not in home and boost["id"] not in home
    assert by_carol["id"] in home and mine["id"] in home
    assert await _timeline(client, alice, made["id"]) == [boost["id"], by_bob["id"]]
    await client.put(
        f"/api/v1/lists/{made['id']}", headers=alice.headers, data={"exclusive": "false"}
    )
    assert by_bob["id"] in await _home(client, alice)
    bob_home = await _home(client, bob)  # the list is alice's alone
    assert by_bob["id"] in bob_home


async def test_an_unfollow_racing_an_add_is_not_found(client, make_person, db, monkeypatch):
    """An unfollow committed between the add's follow check and its insert (possible on
    PostgreSQL) ends in 404, not a server error: simulated by deleting the follow mid-add."""
    from sqlalchemy import delete

    from agora.db.models import Follow
    from agora.social.reading import lists

    alice, bob = await make_person("alice"), await make_person("bob")
    await follow(client, alice, bob)
    made = await _new_list(client, alice)
    follows_of = lists._follows_of

    async def then_unfollowed(session, owner_id, wanted):
        found = await follows_of(session, owner_id, wanted)
        await session.execute(delete(Follow).where(Follow.account_id == owner_id))
        return found

    monkeypatch.setattr(lists, "_follows_of", then_unfollowed)
    r = await _add(client, alice, made["id"], bob)
    assert r.status_code == 404, r.text
    monkeypatch.undo()
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ListMember)) == 0
        assert await session.scalar(select(func.count()).select_from(Follow)) == 1


async def test_pages_skip_nothing_when_the_rules_hide_many_posts(client, make_person, monkeypatch):
    """Windows of candidates are read until a page is full: tiny windows here, and runs of
    replies the list hides (policy `none`) between the posts it shows."""
    from agora.social.reading import list_timeline

    monkeypatch.setattr(list_timeline, "WINDOW", 2)
    monkeypatch.setattr(list_timeline, "MAX_WINDOW", 4)
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    await follow(client, alice, bob)
    made = await _new_list(client, alice, replies_policy="none")
    await _add(client, alice, made["id"], bob)
    root = await post_status(client, carol, status="carol's root")
    shown = []
    for i, hidden in enumerate((0, 5, 1, 9, 0, 3)):
        for _ in range(hidden):
            await post_status(client, bob, status="@carol hidden", in_reply_to_id=root["id"])
        shown.append((await post_status(client, bob, status=f"shown {i}"))["id"])
    await post_status(client, bob, status="@carol hidden at the top", in_reply_to_id=root["id"])
    url = f"/api/v1/timelines/list/{made['id']}"
    seen, r = [], await client.get(url, headers=alice.headers, params={"limit": 2})
    while r.json():
        seen.extend(s["id"] for s in r.json())
        r = await client.get(_links(r)["next"], headers=alice.headers)
    assert seen == shown[::-1]
    upward, r = (
        [],
        await client.get(url, headers=alice.headers, params={"limit": 2, "min_id": root["id"]}),
    )
    while r.json():
        upward = [s["id"] for s in r.json()] + upward
        r = await client.get(_links(r)["prev"], headers=alice.headers)
    assert upward == shown[::-1]
    assert await _timeline(client, alice, made["id"], since_id=shown[1]) == shown[2:][::-1]


async def test_list_of_members_who_post_only_dms_is_read_in_bounded_pages(client, make_person, db):
    """bob, on alice's list, has 4,500 DMs to carol (the list never shows DMs) between dave's
    two posts: a page examines at most MAX_EXAMINED posts and comes back short (even empty)
    with Link cursors that continue where it stopped, so paging on finds dave's older post
    and paging back finds his newer one."""
    from agora.ids import new_id
    from agora.social.reading import list_timeline

    alice, bob, dave = [await make_person(n) for n in ("alice", "bob", "dave")]
    await make_person("carol")
    for member in (bob, dave):
        await follow(client, alice, member)
    made = await _new_list(client, alice)
    await _add(client, alice, made["id"], bob, dave)
    before = await post_status(client, dave, status="before the DMs")
    dms = 4500
    async with db.transaction() as session:
        now = utcnow()
        await session.execute(
            insert(Post),
            [
                {
                    "id": new_id(),
                    "account_id": bob.id,
                    "text": "@carol psst",
                    "content_html": "<p>@carol psst</p>",
                    "visibility": 3,
                    "created_at": now,
                }
                for _ in range(dms)
            ],
        )
    after = await post_status(client, dave, status="after the DMs")
    url = f"/api/v1/timelines/list/{made['id']}"
    pages, r = [], await client.get(url, headers=alice.headers, params={"limit": 20})
    while True:
        assert r.status_code == 200, r.text
        pages.append([s["id"] for s in r.json()])
        if "next" not in _links(r):
            break
        r = await client.get(_links(r)["next"], headers=alice.headers)
    assert pages[0] == [after["id"]]  # cut short: `before` lies past what one page examines
    assert [i for page in pages for i in page] == [after["id"], before["id"]]
    assert 2 <= len(pages) <= 3
    # Paging back up from `before` (min_id pages, read oldest first) finds `after` again.
    upward, r = [], await client.get(url, headers=alice.headers, params={"min_id": before["id"]})
    while True:
        upward = [s["id"] for s in r.json()] + upward
        if "prev" not in _links(r):
            break
        r = await client.get(_links(r)["prev"], headers=alice.headers)
    assert upward == [after["id"]]
    assert dms > list_timeline.MAX_EXAMINED
