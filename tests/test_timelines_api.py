"""Timelines, pagination and Link headers, notifications, markers."""

from __future__ import annotations

import re

import pytest

from agora.config import get_settings
from helpers import boost, post_status


def _links(response):
    return dict(
        (rel, url) for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers["link"])
    )


async def test_home_pagination_and_link_header(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    ids = [(await post_status(client, alice, status=f"post {i}"))["id"] for i in range(7)]
    await run_jobs()
    r = await client.get("/api/v1/timelines/home", headers=bob.headers, params={"limit": 3})
    assert [s["id"] for s in r.json()] == ids[::-1][:3]
    assert r.headers["link"].index('rel="next"') < r.headers["link"].index('rel="prev"')
    nxt = _links(r)["next"]
    assert nxt.startswith("http://testserver/api/v1/timelines/home?") and "max_id=" in nxt
    r2 = await client.get(nxt.removeprefix("http://testserver"), headers=bob.headers)
    assert [s["id"] for s in r2.json()] == ids[::-1][3:6]
    prev = _links(r2)["prev"]
    r3 = await client.get(prev.removeprefix("http://testserver"), headers=bob.headers)
    assert [s["id"] for s in r3.json()] == ids[::-1][:3]
    r4 = await client.get(
        "/api/v1/timelines/home", headers=bob.headers, params={"since_id": ids[4]}
    )
    assert [s["id"] for s in r4.json()] == [ids[6], ids[5]]
    r5 = await client.get("/api/v1/timelines/home", headers=bob.headers, params={"limit": 1000})
    assert len(r5.json()) == 7  # limit clamped to 40


async def test_public_timeline_and_visibility(client, make_person):
    alice = await make_person("alice")
    pub = await post_status(client, alice, status="public")
    await post_status(client, alice, status="unlisted", visibility="unlisted")
    await post_status(client, alice, status="private", visibility="private")
    await post_status(client, alice, status="dm", visibility="direct")
    r = await client.get("/api/v1/timelines/public", params={"local": "true"})
    assert [s["id"] for s in r.json()] == [pub["id"]]
    profile = await client.get(f"/api/v1/accounts/{alice.id}/statuses")
    assert [s["content"] for s in profile.json()] == ["<p>unlisted</p>", "<p>public</p>"]
    own = await client.get(f"/api/v1/accounts/{alice.id}/statuses", headers=alice.headers)
    assert len(own.json()) == 4


async def test_direct_messages_reach_only_mentioned(client, make_person, run_jobs):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    for p in (bob, carol):
        await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=p.headers)
    dm = await post_status(client, alice, status="@bob psst", visibility="direct")
    await run_jobs()
    assert (
        await client.get(f"/api/v1/statuses/{dm['id']}", headers=bob.headers)
    ).status_code == 200
    assert (
        await client.get(f"/api/v1/statuses/{dm['id']}", headers=carol.headers)
    ).status_code == 404
    carol_home = (await client.get("/api/v1/timelines/home", headers=carol.headers)).json()
    assert dm["id"] not in [s["id"] for s in carol_home]


async def test_tag_timeline(client, make_person):
    alice = await make_person("alice")
    s = await post_status(client, alice, status="I love #Python")
    await post_status(client, alice, status="#python but private", visibility="private")
    r = await client.get("/api/v1/timelines/tag/python")
    assert [x["id"] for x in r.json()] == [s["id"]]
    assert (await client.get("/api/v1/timelines/tag/nothing")).json() == []


async def test_profile_filters(client, make_person):
    alice = await make_person("alice")
    top = await post_status(client, alice, status="top #tagged")
    reply = await post_status(client, alice, status="self reply", in_reply_to_id=top["id"])
    bob = await make_person("bob")
    other = await post_status(client, bob, status="bob's")
    await post_status(client, alice, status="reply to bob", in_reply_to_id=other["id"])
    await client.post(f"/api/v1/statuses/{other['id']}/reblog", headers=alice.headers)
    url = f"/api/v1/accounts/{alice.id}/statuses"
    no_replies = (await client.get(url, params={"exclude_replies": "true"})).json()
    assert {s["id"] for s in no_replies} >= {top["id"], reply["id"]}
    assert all(s["content"] != "<p>reply to bob</p>" for s in no_replies)
    no_boosts = (await client.get(url, params={"exclude_reblogs": "1"})).json()
    assert all(s["reblog"] is None for s in no_boosts)
    tagged = (await client.get(url, params={"tagged": "tagged"})).json()
    assert [s["id"] for s in tagged] == [top["id"]]
    assert (await client.get(url, params={"only_media": "true"})).json() == []


async def test_high_reach_accounts_are_merged_at_read_time(
    client, make_person, run_jobs, monkeypatch
):
    star, fan = await make_person("star"), await make_person("fan")
    await client.post(f"/api/v1/accounts/{star.id}/follow", headers=fan.headers)
    await run_jobs()
    monkeypatch.setattr(get_settings(), "fanout_follower_threshold", 0)
    s = await post_status(client, star, status="to the masses")
    await run_jobs()
    home = (await client.get("/api/v1/timelines/home", headers=fan.headers)).json()
    assert [x["id"] for x in home] == [s["id"]]


async def test_notifications_filters_dismiss_and_clear(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    s = await post_status(client, alice, status="hi")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    await client.post(f"/api/v1/statuses/{s['id']}/favourite", headers=bob.headers)
    await post_status(client, bob, status="@alice hello")
    await run_jobs()
    notes = (await client.get("/api/v1/notifications", headers=alice.headers)).json()
    assert [n["type"] for n in notes] == ["mention", "favourite", "follow"]
    only = await client.get(
        "/api/v1/notifications", headers=alice.headers, params={"types[]": ["favourite", "follow"]}
    )
    assert [n["type"] for n in only.json()] == ["favourite", "follow"]
    excl = await client.get(
        "/api/v1/notifications", headers=alice.headers, params={"exclude_types[]": "mention"}
    )
    assert [n["type"] for n in excl.json()] == ["favourite", "follow"]
    one = await client.get(f"/api/v1/notifications/{notes[0]['id']}", headers=alice.headers)
    assert one.json()["status"]["content"].startswith('<p><span class="h-card"')
    assert (
        await client.get(f"/api/v1/notifications/{notes[0]['id']}", headers=bob.headers)
    ).status_code == 404
    await client.post(f"/api/v1/notifications/{notes[0]['id']}/dismiss", headers=alice.headers)
    assert len((await client.get("/api/v1/notifications", headers=alice.headers)).json()) == 2
    await client.post("/api/v1/notifications/clear", headers=alice.headers)
    assert (await client.get("/api/v1/notifications", headers=alice.headers)).json() == []


async def test_update_notification_for_boosters(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    s = await post_status(client, alice, status="v1")
    await client.post(f"/api/v1/statuses/{s['id']}/reblog", headers=bob.headers)
    await client.put(f"/api/v1/statuses/{s['id']}", headers=alice.headers, data={"status": "v2"})
    await run_jobs()
    notes = (await client.get("/api/v1/notifications", headers=bob.headers)).json()
    assert [n["type"] for n in notes] == ["update"]


async def test_deleted_post_disappears_from_notifications(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    s = await post_status(client, bob, status="@alice hi")
    await run_jobs()
    before = (await client.get("/api/v1/notifications", headers=alice.headers)).json()
    assert [(n["type"], n["status"]["id"]) for n in before] == [("mention", s["id"])]
    deleted = await client.delete(f"/api/v1/statuses/{s['id']}", headers=bob.headers)
    assert deleted.status_code == 200, deleted.text
    assert (await client.get("/api/v1/notifications", headers=alice.headers)).json() == []
    one = await client.get(f"/api/v1/notifications/{before[0]['id']}", headers=alice.headers)
    assert one.status_code == 404


async def test_markers(client, make_person):
    alice = await make_person("alice")
    r = await client.post(
        "/api/v1/markers", headers=alice.headers, data={"home[last_read_id]": "123"}
    )
    assert r.json()["home"]["last_read_id"] == "123"
    r = await client.post(
        "/api/v1/markers", headers=alice.headers, json={"home": {"last_read_id": "456"}}
    )
    assert r.json()["home"]["version"] == 2
    got = (
        await client.get("/api/v1/markers", headers=alice.headers, params={"timeline[]": "home"})
    ).json()
    assert got["home"]["last_read_id"] == "456"


async def test_status_notifications_for_subscribers(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    r = await client.post(
        f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers, data={"notify": "true"}
    )
    assert r.json()["notifying"] is True
    await post_status(client, alice, status="news!")
    await post_status(client, alice, status="secret", visibility="direct")
    await run_jobs()
    notes = (await client.get("/api/v1/notifications", headers=bob.headers)).json()
    assert [(n["type"], n["status"]["content"]) for n in notes] == [("status", "<p>news!</p>")]


# Mastodon's home-feed cases (FeedManager#filter_from_home), as seen by alice, who follows bob
# and carol but not dave: which of bob's posts enter alice's home timeline.
HOME_CASES = {
    "reply to me": True,
    "reply to someone I follow": True,
    "reply to a stranger": False,
    "self-reply": True,
    "mention of me": True,
    "mention of me in a reply to a stranger": False,
    "boost of a reply": True,
}


@pytest.mark.parametrize("merged_at_read_time", [False, True], ids=["fan-out", "read-time"])
async def test_home_timeline_keeps_mastodons_reply_cases(
    client, make_person, run_jobs, monkeypatch, merged_at_read_time
):
    """Replies from people alice follows reach her home when they reply to her, to someone
    she follows, or to themselves, both when fanned out and when merged at read time."""
    alice, bob, carol, dave = [await make_person(n) for n in ("alice", "bob", "carol", "dave")]
    for followed in (bob, carol):
        await client.post(f"/api/v1/accounts/{followed.id}/follow", headers=alice.headers)
    await run_jobs()
    mine = await post_status(client, alice, status="mine")
    carols = await post_status(client, carol, status="carol's")
    daves = await post_status(client, dave, status="dave's")
    bobs = await post_status(client, bob, status="bob's")
    daves_reply = await post_status(
        client, dave, status="a stranger's reply", in_reply_to_id=carols["id"]
    )
    await run_jobs()
    if merged_at_read_time:  # bob and carol (one follower each) are high-reach from now on
        monkeypatch.setattr(get_settings(), "fanout_follower_threshold", 0)
    made = {
        "reply to me": await post_status(client, bob, status="to alice", in_reply_to_id=mine["id"]),
        "reply to someone I follow": await post_status(
            client, bob, status="to carol", in_reply_to_id=carols["id"]
        ),
        "reply to a stranger": await post_status(
            client, bob, status="to dave", in_reply_to_id=daves["id"]
        ),
        "self-reply": await post_status(client, bob, status="thread", in_reply_to_id=bobs["id"]),
        "mention of me": await post_status(client, bob, status="hi @alice"),
        "mention of me in a reply to a stranger": await post_status(
            client, bob, status="@alice look", in_reply_to_id=daves["id"]
        ),
        "boost of a reply": await boost(client, bob, daves_reply["id"]),
    }
    await run_jobs()
    home = await client.get("/api/v1/timelines/home", headers=alice.headers, params={"limit": 40})
    shown = {s["id"] for s in home.json()}
    assert {case: made[case]["id"] in shown for case in HOME_CASES} == HOME_CASES
    assert {mine["id"], carols["id"], bobs["id"]} <= shown
    assert daves["id"] not in shown and daves_reply["id"] not in shown
