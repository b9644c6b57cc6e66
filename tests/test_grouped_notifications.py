"""Grouped notifications (`/api/v2/notifications`, Mastodon 4.3) through HTTP: groups of likes,
boosts and follows with their accounts and statuses listed once, the filters and
`grouped_types`, paging with Link headers, one group, its accounts, dismissing it, unread
counts against the marker, `expand_accounts`, the query count of a page, and the web page."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from agora.social.reading import notification_groups
from agora.social.rules.paging import Page
from helpers import boost, follow, post_status_id, web_sign_in

V2 = "/api/v2/notifications"
BEGIN = 0 if os.environ.get("AGORA_TEST_DATABASE", "sqlite") == "postgresql" else 1


async def _like(client: Any, person: Any, post_id: str) -> None:
    r = await client.post(f"/api/v1/statuses/{post_id}/favourite", headers=person.headers)
    assert r.status_code == 200, r.text


async def _scene(client: Any, make_person: Any, run_jobs: Any) -> dict[str, Any]:
    """alice's post liked by bob, carol and dave, boosted by bob; bob and carol follow her;
    dave mentions her."""
    alice, bob, carol, dave = [await make_person(n) for n in ("alice", "bob", "carol", "dave")]
    post = await post_status_id(client, alice, "hello world")
    for person in (bob, carol, dave):
        await _like(client, person, post)
    await boost(client, bob, post)
    await follow(client, bob, alice)
    await follow(client, carol, alice)
    mention = await post_status_id(client, dave, "@alice hi")
    await run_jobs()
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "post": post, "m": mention}


async def test_likes_boosts_and_follows_are_grouped_with_accounts_and_statuses_once(
    client, make_person, run_jobs
) -> None:
    s = await _scene(client, make_person, run_jobs)
    alice, bob, carol, dave = s["alice"], s["bob"], s["carol"], s["dave"]
    r = await client.get(V2, headers=alice.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    groups = body["notification_groups"]
    assert [g["type"] for g in groups] == ["mention", "follow", "reblog", "favourite"]
    mention, follows, boosts, likes = groups
    assert re.fullmatch(r"ungrouped-\d+", mention["group_key"])
    assert mention["status_id"] == s["m"] and mention["notifications_count"] == 1
    assert re.fullmatch(r"follow-\d+", follows["group_key"])
    assert follows["notifications_count"] == 2
    assert follows["sample_account_ids"] == [str(carol.id), str(bob.id)]
    assert "status_id" not in follows
    assert re.fullmatch(rf"favourite-{s['post']}-\d+", likes["group_key"])
    assert likes["notifications_count"] == 3 and likes["status_id"] == s["post"]
    assert likes["sample_account_ids"] == [str(dave.id), str(carol.id), str(bob.id)]
    assert boosts["notifications_count"] == 1
    assert int(likes["page_min_id"]) < int(likes["page_max_id"])
    assert likes["most_recent_notification_id"] == likes["page_max_id"]
    assert likes["latest_page_notification_at"].endswith("Z")
    # every account and status named is listed once at the root
    assert sorted(a["id"] for a in body["accounts"]) == sorted(
        str(p.id) for p in (bob, carol, dave)
    )
    assert sorted(st["id"] for st in body["statuses"]) == sorted([s["post"], s["m"]])
    # grouped_types: only follows grouped, likes one by one
    r = await client.get(V2, params={"grouped_types[]": "follow"}, headers=alice.headers)
    types = [g["type"] for g in r.json()["notification_groups"]]
    assert types.count("favourite") == 3 and types.count("follow") == 1
    # types[] / exclude_types[] / account_id
    r = await client.get(V2, params={"types[]": "favourite"}, headers=alice.headers)
    assert [g["type"] for g in r.json()["notification_groups"]] == ["favourite"]
    r = await client.get(
        V2, params={"exclude_types[]": ["favourite", "reblog"]}, headers=alice.headers
    )
    assert [g["type"] for g in r.json()["notification_groups"]] == ["mention", "follow"]
    r = await client.get(V2, params={"account_id": str(dave.id)}, headers=alice.headers)
    got = r.json()["notification_groups"]
    assert [(g["type"], g["notifications_count"]) for g in got] == [
        ("mention", 1),
        ("favourite", 3),  # the group's count is the group's, its page found through dave
    ]
    # someone else sees none of it
    r = await client.get(V2, headers=bob.headers)
    assert r.json()["notification_groups"] == []


async def test_pages_of_groups_follow_the_link_header(client, make_person, run_jobs) -> None:
    s = await _scene(client, make_person, run_jobs)
    alice = s["alice"]
    first = await client.get(V2, params={"limit": 2}, headers=alice.headers)
    assert [g["type"] for g in first.json()["notification_groups"]] == ["mention", "follow"]
    link = first.headers["link"]
    next_url = re.search(r'<([^>]+)>; rel="next"', link).group(1)  # type: ignore[union-attr]
    second = await client.get(next_url, headers=alice.headers)
    # as on Mastodon, the next page starts below the last group's newest notification: the
    # older follow is met again there, a group of one (clients merge the two)
    follows, boosts = second.json()["notification_groups"]
    assert (follows["type"], follows["notifications_count"], boosts["type"]) == (
        "follow",
        1,
        "reblog",
    )
    prev_url = re.search(r'<([^>]+)>; rel="prev"', second.headers["link"]).group(1)  # type: ignore[union-attr]
    back = await client.get(prev_url, headers=alice.headers)
    assert [g["type"] for g in back.json()["notification_groups"]] == ["mention", "follow"]


async def test_one_group_its_accounts_and_dismissing_it(client, make_person, run_jobs) -> None:
    s = await _scene(client, make_person, run_jobs)
    alice, bob = s["alice"], s["bob"]
    groups = (await client.get(V2, headers=alice.headers)).json()["notification_groups"]
    likes = next(g for g in groups if g["type"] == "favourite")
    key = likes["group_key"]
    r = await client.get(f"{V2}/{key}", headers=alice.headers)
    assert r.status_code == 200
    assert r.json()["notification_groups"][0]["notifications_count"] == 3
    r = await client.get(f"{V2}/{key}/accounts", headers=alice.headers)
    assert [a["username"] for a in r.json()] == ["dave", "carol", "bob"]
    mention_key = groups[0]["group_key"]
    assert (await client.get(f"{V2}/{mention_key}", headers=alice.headers)).status_code == 200
    follows = next(g for g in groups if g["type"] == "follow")  # a group with no post
    r = await client.get(f"{V2}/{follows['group_key']}", headers=alice.headers)
    assert r.json()["notification_groups"][0]["notifications_count"] == 2
    # someone else's group, and nonsense: 404, nothing dismissed
    for path in (f"{V2}/{key}", f"{V2}/{mention_key}", f"{V2}/ungrouped-x", f"{V2}/nope"):
        assert (await client.get(path, headers=bob.headers)).status_code == 404
    r = await client.post(f"{V2}/{key}/dismiss", headers=bob.headers)
    assert r.status_code == 404
    assert (await client.get(f"{V2}/{key}", headers=alice.headers)).status_code == 200
    r = await client.post(f"{V2}/{key}/dismiss", headers=alice.headers)
    assert r.status_code == 200
    assert (await client.get(f"{V2}/{key}", headers=alice.headers)).status_code == 404
    left = (await client.get(V2, headers=alice.headers)).json()["notification_groups"]
    assert [g["type"] for g in left] == ["mention", "follow", "reblog"]


async def test_partial_avatars_and_bad_expand_accounts(client, make_person, run_jobs) -> None:
    s = await _scene(client, make_person, run_jobs)
    alice = s["alice"]
    wanted = {"expand_accounts": "partial_avatars", "types[]": "favourite"}
    body = (await client.get(V2, params=wanted, headers=alice.headers)).json()
    assert [a["id"] for a in body["accounts"]] == [str(s["dave"].id)]  # the newest in full
    partial = {a["id"] for a in body["partial_accounts"]}
    assert partial == {str(s["carol"].id), str(s["bob"].id)}
    assert set(body["partial_accounts"][0]) == {
        "id", "acct", "url", "avatar", "avatar_static", "locked", "bot"
    }  # fmt: skip
    r = await client.get(V2, params={"expand_accounts": "everything"}, headers=alice.headers)
    assert r.status_code == 422


async def test_unread_counts_follow_the_marker(client, make_person, run_jobs) -> None:
    s = await _scene(client, make_person, run_jobs)
    alice = s["alice"]
    v1 = await client.get("/api/v1/notifications/unread_count", headers=alice.headers)
    v2 = await client.get(f"{V2}/unread_count", headers=alice.headers)
    assert v1.json() == {"count": 7} and v2.json() == {"count": 4}
    limited = await client.get(
        "/api/v1/notifications/unread_count", params={"limit": 2}, headers=alice.headers
    )
    assert limited.json() == {"count": 2}
    groups = (await client.get(V2, headers=alice.headers)).json()["notification_groups"]
    follows = next(g for g in groups if g["type"] == "follow")
    r = await client.post(
        "/api/v1/markers",
        json={"notifications": {"last_read_id": follows["most_recent_notification_id"]}},
        headers=alice.headers,
    )
    assert r.status_code == 200
    v1 = await client.get("/api/v1/notifications/unread_count", headers=alice.headers)
    v2 = await client.get(f"{V2}/unread_count", headers=alice.headers)
    assert v1.json() == {"count": 1} and v2.json() == {"count": 1}  # the mention


async def _statements(db: Any, viewer_id: int, *, cold: bool = True) -> tuple[int, int]:
    """Statements sent for one grouped page through the service and serialisation (`cold`:
    with nothing in the render cache, so every account and status is rendered)."""
    from agora.api import serialise
    from agora.api.status_cache import get_render_cache

    if cold:
        get_render_cache().clear()
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.session() as session:
            found = await notification_groups.list_groups(
                session, viewer_id, Page(limit=40), notification_groups.GroupFilters()
            )
            body = await serialise.notification_groups(session, viewer_id, found.items)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    return len(statements) - BEGIN, len(body["notification_groups"])


async def test_a_page_of_groups_is_a_constant_number_of_statements(
    db, client, make_person, run_jobs
) -> None:
    s = await _scene(client, make_person, run_jobs)
    few, shown = await _statements(db, s["alice"].id)
    assert shown == 4
    others = [await make_person(f"p{i}") for i in range(6)]
    for person in others:
        post = await post_status_id(client, s["alice"], f"post by alice for {person.username}")
        await _like(client, person, post)
        await follow(client, person, s["alice"])
        await post_status_id(client, person, "@alice hello")
    await run_jobs()
    more, shown = await _statements(db, s["alice"].id)
    assert shown == 4 + 12
    assert more == few <= 8
    warm, shown = await _statements(db, s["alice"].id, cold=False)
    assert shown == 4 + 12
    assert warm == few - 2  # accounts and statuses held: neither is loaded whole


async def test_the_web_page_groups_and_counts_unread(client, make_person, run_jobs) -> None:
    await _scene(client, make_person, run_jobs)
    csrf = await web_sign_in(client, "alice")
    browser = client
    badge = await browser.get("/web/notifications/unread_count")
    assert 'data-count="4"' in badge.text
    page = await browser.get("/notifications")
    assert page.status_code == 200
    assert "and 2 others</span>" not in page.text  # plain text, not markup
    assert "carol</strong></a> and 1 other followed you" in page.text
    assert "dave</strong></a> and 2 others liked your post" in page.text
    newest = re.search(r'"last_read_id": "(\d+)"', page.text).group(1)  # type: ignore[union-attr]
    r = await browser.post("/web/notifications/read", data={"last_read_id": newest, "csrf": csrf})
    assert r.status_code == 200 and "hidden" in r.text
    badge = await browser.get("/web/notifications/unread_count")
    assert 'data-count="0"' in badge.text


async def test_a_group_counts_its_listable_notifications_and_samples_eight_senders(
    db, client, make_person, run_jobs
) -> None:
    """A like group of twelve (one sender twice, one blocked): its count, its eight most
    recent distinct senders and its range, read in one statement; found through one sender
    (`account_id`), below a newer group, it still shows its newest notification and when."""
    from agora.db.models import Notification
    from agora.ids import new_id

    alice = await make_person("alice")
    people = [await make_person(f"p{i}") for i in range(11)]
    post = await post_status_id(client, alice, "like me")
    r = await client.post(f"/api/v1/accounts/{people[10].id}/block", headers=alice.headers)
    assert r.status_code == 200
    start = datetime.now(UTC) - timedelta(minutes=20)
    key = f"favourite-{post}-{int((start - timedelta(minutes=10)).timestamp()) // 3600}"
    senders = [*people, people[0]]  # oldest first: p0 .. p9, p10 (blocked), p0 again
    rows = [
        {
            "id": new_id(int((start + timedelta(seconds=i)).timestamp() * 1000)),
            "account_id": alice.id,
            "from_account_id": sender.id,
            "type": "favourite",
            "post_id": int(post),
            "activity_id": new_id(),
            "created_at": start + timedelta(seconds=i),
            "filtered": False,
            "group_key": key,
        }
        for i, sender in enumerate(senders)
    ]
    async with db.transaction() as session:
        await session.execute(Notification.__table__.insert(), rows)
    await post_status_id(client, people[5], "@alice look")  # a newer group: the mention
    await run_jobs()
    body = (await client.get(V2, headers=alice.headers)).json()
    mention, likes = body["notification_groups"]
    assert (mention["type"], likes["group_key"]) == ("mention", key)
    assert likes["notifications_count"] == 11  # p0 twice, the blocked one left out
    newest_first = [people[0], *people[9:2:-1]]  # p0, p9 .. p3: eight, p0 once
    assert likes["sample_account_ids"] == [str(p.id) for p in newest_first]
    assert likes["page_max_id"] == likes["most_recent_notification_id"] == str(rows[-1]["id"])
    assert likes["page_min_id"] == str(rows[0]["id"])
    assert likes["latest_page_notification_at"].startswith(
        rows[-1]["created_at"].strftime("%Y-%m-%dT%H:%M:%S")
    )
    through_p5 = await client.get(V2, params={"account_id": people[5].id}, headers=alice.headers)
    assert through_p5.json()["notification_groups"] == [mention, likes]
    # a page found oldest first (min_id): the group met at its oldest, and its newest shown
    below = str(rows[0]["id"] - 1)
    up = (await client.get(V2, params={"min_id": below}, headers=alice.headers)).json()
    assert [g["type"] for g in up["notification_groups"]] == ["mention", "favourite"]
    assert (
        up["notification_groups"][1]["latest_page_notification_at"]
        == (likes["latest_page_notification_at"])
    )


async def test_the_group_reads_rule_checks_each_post_once_and_agrees_with_the_rule(
    db, client, make_person, run_jobs
) -> None:
    """`_listable` with `known_posts` (the group read's form: each post checked once, the
    posts bound) selects exactly the rows the per-row rule selects, over notifications of
    every kind of post (public, deleted, followers-only followed or not, direct, by a
    blocked or a suspended author, none) from every kind of sender (fine, blocked,
    suspended, silenced followed or not, muted), and an admin report for a non-admin; a row
    whose post is not bound is left out."""
    from sqlalchemy import select, update

    from agora.db.models import Account, Notification, Post
    from agora.ids import new_id
    from agora.social.reading.notifications import ADMIN_REPORT, _listable

    names = ("alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank", "ivan")
    alice, bob, carol, dave, erin, frank, gina, hank, ivan = [await make_person(n) for n in names]
    await follow(client, alice, frank)
    await follow(client, alice, ivan)
    for action, target in (("block", carol), ("mute", gina)):
        r = await client.post(f"/api/v1/accounts/{target.id}/{action}", headers=alice.headers)
        assert r.status_code == 200, r.text
    posts = {
        "public": await post_status_id(client, alice, "mine"),
        "deleted": await post_status_id(client, alice, "gone"),
        "private unfollowed": await post_status_id(client, hank, "f-o", visibility="private"),
        "private followed": await post_status_id(client, ivan, "f-o", visibility="private"),
        "direct": await post_status_id(client, hank, "@alice psst", visibility="direct"),
        "blocked author": await post_status_id(client, carol, "hi"),
        "suspended author": await post_status_id(client, dave, "hi"),
    }
    await run_jobs()
    now = datetime.now(UTC)
    async with db.transaction() as session:
        await session.execute(Notification.__table__.delete())
        gone = int(posts["deleted"])
        await session.execute(update(Post).where(Post.id == gone).values(deleted_at=now))
        await session.execute(update(Account).where(Account.id == dave.id).values(suspended_at=now))
        silenced = Account.id.in_([erin.id, frank.id])
        await session.execute(update(Account).where(silenced).values(silenced_at=now))
    senders = {"fine": bob, "blocked": carol, "suspended": dave, "silenced": erin}
    senders |= {"silenced followed": frank, "muted": gina}
    rows, kinds = [], {}
    for post_kind, post in [*posts.items(), ("none", None)]:
        for sender_kind, sender in senders.items():
            note_id = new_id()
            kinds[note_id] = (post_kind, sender_kind)
            rows.append(
                {
                    "id": note_id,
                    "account_id": alice.id,
                    "from_account_id": sender.id,
                    "type": "follow" if post is None else "favourite",
                    "post_id": None if post is None else int(post),
                    "activity_id": new_id(),
                    "created_at": now,
                    "filtered": False,
                    "group_key": "follow-1" if post is None else f"favourite-{post}-1",
                }
            )
    report_id = new_id()
    kinds[report_id] = ("none", "report")
    rows.append({**rows[0], "id": report_id, "type": ADMIN_REPORT, "post_id": None})
    async with db.transaction() as session:
        await session.execute(Notification.__table__.insert(), rows)
    bound = [int(p) for p in posts.values()]

    async def read(rule: Any, post_ids: list[int] | None = None) -> set[int]:
        params = {} if post_ids is None else {"post_ids": post_ids}
        async with db.session() as session:
            return set((await session.scalars(select(Notification.id).where(rule), params)).all())

    per_row = await read(_listable(alice.id))
    once = await read(_listable(alice.id, known_posts=True), bound)
    readable = ("public", "direct", "private followed", "none")
    assert {kinds[i] for i in per_row} == {
        (post, sender) for post in readable for sender in ("fine", "silenced followed")
    }
    assert once == per_row
    unbound = await read(_listable(alice.id, known_posts=True), bound[1:])  # not "public"
    assert unbound == {i for i in per_row if kinds[i][0] != "public"}
