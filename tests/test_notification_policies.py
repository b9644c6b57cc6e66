"""Notification policies and requests (Mastodon 4.3) through HTTP: the policy's defaults and
changes (bad values refused, nothing changed), filtered notifications kept out of v1, v2,
unread counts, streams and Web Push and held by a request counted in the summary; accepting
and dismissing requests (someone else's: 404); `drop` creating nothing; the web page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from agora.db.models import Job, Notification
from helpers import follow, post_status_id, web_sign_in
from push_receiver import PushReceiver

POLICY = "/api/v2/notifications/policy"
REQUESTS = "/api/v1/notifications/requests"


async def _count(db: Any, model: Any, *where: Any) -> int:
    async with db.session() as session:
        query = select(func.count()).select_from(model).where(*where)
        return int(await session.scalar(query) or 0)


async def _types(client: Any, person: Any, **params: Any) -> list[str]:
    r = await client.get("/api/v1/notifications", params=params, headers=person.headers)
    assert r.status_code == 200, r.text
    return [n["type"] for n in r.json()]


async def test_policy_defaults_changes_and_bad_values(client, make_person) -> None:
    alice = await make_person("alice")
    r = await client.get(POLICY, headers=alice.headers)
    assert r.json() == {
        "for_not_following": "accept",
        "for_not_followers": "accept",
        "for_new_accounts": "accept",
        "for_private_mentions": "filter",
        "for_limited_accounts": "filter",
        "summary": {"pending_requests_count": 0, "pending_notifications_count": 0},
    }
    r = await client.patch(
        POLICY, json={"for_not_following": "filter", "for_new_accounts": "drop"},
        headers=alice.headers,
    )  # fmt: skip
    assert r.status_code == 200
    assert r.json()["for_not_following"] == "filter" and r.json()["for_new_accounts"] == "drop"
    bad = await client.patch(
        POLICY, data={"for_not_following": "accept", "for_not_followers": "maybe"},
        headers=alice.headers,
    )  # fmt: skip
    assert bad.status_code == 422
    after = (await client.get(POLICY, headers=alice.headers)).json()
    assert after["for_not_following"] == "filter" and after["for_not_followers"] == "accept"
    assert (await client.get(POLICY)).status_code == 401


async def test_filtered_notifications_wait_in_a_request(db, client, make_person, run_jobs) -> None:
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    receiver = PushReceiver().start()
    try:
        r = await client.post(
            "/api/v1/push/subscription", headers=alice.headers, data=receiver.form(mention=True)
        )
        assert r.status_code == 200, r.text
    finally:
        receiver.stop()
    r = await client.patch(POLICY, data={"for_not_following": "filter"}, headers=alice.headers)
    assert r.status_code == 200
    await follow(client, alice, carol)
    await post_status_id(client, bob, "@alice one")
    await post_status_id(client, bob, "@alice two")
    await post_status_id(client, carol, "@alice from a friend")
    await run_jobs()
    # the stranger's mentions: in no list, no unread count, no push; the friend's: everywhere
    assert await _types(client, alice) == ["mention"]
    groups = (await client.get("/api/v2/notifications", headers=alice.headers)).json()
    assert len(groups["notification_groups"]) == 1
    r = await client.get("/api/v1/notifications/unread_count", headers=alice.headers)
    assert r.json() == {"count": 1}
    assert await _count(db, Job, Job.kind == "web_push") == 1
    assert await _types(client, alice, include_filtered="true") == ["mention"] * 3
    summary = (await client.get(POLICY, headers=alice.headers)).json()["summary"]
    assert summary == {"pending_requests_count": 1, "pending_notifications_count": 2}
    requests = (await client.get(REQUESTS, headers=alice.headers)).json()
    assert len(requests) == 1
    request = requests[0]
    assert request["account"]["username"] == "bob"
    assert request["notifications_count"] == "2"
    assert request["last_status"]["content"].endswith("two</p>")
    one = await client.get(f"{REQUESTS}/{request['id']}", headers=alice.headers)
    assert one.json()["id"] == request["id"]
    # someone else's request: 404 everywhere, nothing changed
    for path in ("", "/accept", "/dismiss"):
        method = client.get if not path else client.post
        r = await method(f"{REQUESTS}/{request['id']}{path}", headers=carol.headers)
        assert r.status_code == 404
    r = await client.post(f"{REQUESTS}/accept", data={"id[]": request["id"]}, headers=carol.headers)
    assert r.status_code == 200
    assert len((await client.get(REQUESTS, headers=alice.headers)).json()) == 1
    # accepted: bob's notifications join the list, and later ones arrive directly
    r = await client.post(f"{REQUESTS}/{request['id']}/accept", headers=alice.headers)
    assert r.status_code == 200
    assert await _types(client, alice) == ["mention"] * 3
    await post_status_id(client, bob, "@alice three")
    await run_jobs()
    assert await _types(client, alice) == ["mention"] * 4
    assert (await client.get(REQUESTS, headers=alice.headers)).json() == []
    merged = await client.get(f"{REQUESTS}/merged", headers=alice.headers)
    assert merged.json() == {"merged": True}


async def test_dismissed_requests_delete_and_drop_creates_nothing(
    db, client, make_person, run_jobs
) -> None:
    alice, bob, dave = [await make_person(n) for n in ("alice", "bob", "dave")]
    await client.patch(POLICY, data={"for_not_following": "filter"}, headers=alice.headers)
    await post_status_id(client, bob, "@alice hello")
    await post_status_id(client, dave, "@alice hey")
    await run_jobs()
    requests = (await client.get(REQUESTS, headers=alice.headers)).json()
    assert len(requests) == 2
    r = await client.post(
        f"{REQUESTS}/dismiss", data={"id[]": [q["id"] for q in requests]}, headers=alice.headers
    )
    assert r.status_code == 200
    assert await _count(db, Notification, Notification.account_id == alice.id) == 0
    assert (await client.get(REQUESTS, headers=alice.headers)).json() == []
    # drop: nothing is written, nothing waits
    await client.patch(POLICY, data={"for_not_following": "drop"}, headers=alice.headers)
    await post_status_id(client, bob, "@alice again")
    r = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    assert r.status_code == 200
    await run_jobs()
    assert await _count(db, Notification, Notification.account_id == alice.id) == 0
    summary = (await client.get(POLICY, headers=alice.headers)).json()["summary"]
    assert summary == {"pending_requests_count": 0, "pending_notifications_count": 0}


async def test_private_mentions_are_filtered_by_default_and_shown_on_the_web(
    client, make_person, run_jobs
) -> None:
    alice, bob = await make_person("alice"), await make_person("bob")
    await post_status_id(client, bob, "@alice psst", visibility="direct")
    await post_status_id(client, bob, "@alice in public")
    await run_jobs()
    assert await _types(client, alice) == ["mention"]
    csrf = await web_sign_in(client, "alice")
    page = await client.get("/notifications")
    assert "Filtered notifications (1 from 1 person)" in page.text
    requests = await client.get("/notifications/requests")
    assert "@bob" in requests.text and "1 notification<" in requests.text
    request_id = (await client.get(REQUESTS, headers=alice.headers)).json()[0]["id"]
    r = await client.post(f"/web/notifications/requests/{request_id}/accept", data={"csrf": csrf})
    assert r.status_code == 303
    assert await _types(client, alice) == ["mention", "mention"]
    r = await client.post(f"/web/notifications/requests/{request_id}/dismiss", data={"csrf": csrf})
    assert r.status_code == 404  # accepted: gone


async def test_a_notification_is_decided_by_statements_built_once(db, client, make_person) -> None:
    """`create_notification` decides with statements built once per shape (the rules take
    bound parameters): one statement object serves every pair of people, and gives each
    pair its own verdict (a block stops one, not the other); a mention from a stranger
    costs six statements (may it be made, the policy, is it a private mention, the sender's
    facts, the insert, the push subscriptions)."""
    from sqlalchemy import event

    from agora.social.reading import notifications

    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    post = await post_status_id(client, alice, "hello @bob and @carol")
    r = await client.post(f"/api/v1/accounts/{alice.id}/block", headers=carol.headers)
    assert r.status_code == 200, r.text
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    made: dict[str, bool] = {}
    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        for person in (bob, carol):
            statements.clear()
            async with db.transaction() as session:
                made[person.username] = await notifications.create_notification(
                    session,
                    type="mention",
                    account_id=person.id,
                    from_account_id=alice.id,
                    post_id=int(post),
                    activity_id=int(post) + 1,  # not the post's own: made again here
                )
            if person is bob:
                bob_statements = [s for s in statements if not s.startswith(("BEGIN", "COMMIT"))]
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert made == {"bob": True, "carol": False}  # carol blocked alice
    assert len(bob_statements) == 6, bob_statements
    assert notifications._deliverable(True) is notifications._deliverable(True)
