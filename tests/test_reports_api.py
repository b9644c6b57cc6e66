"""POST /api/v1/reports: who may report what, the Report entity, admins notified by a job."""

from __future__ import annotations

from sqlalchemy import func, select

from agora.db.models import Report
from helpers import make_admin, post_status_id


async def reports_count(db) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Report)))


async def test_report_with_posts_notifies_admins(client, db, make_person, run_jobs):
    admin = await make_admin(db, make_person)
    alice, troll = await make_person("alice"), await make_person("troll")
    first = await post_status_id(client, troll, status="spam one")
    second = await post_status_id(client, troll, status="spam two")
    r = await client.post(
        "/api/v1/reports",
        headers=alice.headers,
        data={
            "account_id": troll.id,
            "status_ids[]": [first, second],
            "comment": "buy my stuff, every hour",
            "category": "spam",
            "forward": "true",
        },
    )
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["category"] == "spam" and report["action_taken"] is False
    assert report["status_ids"] == [first, second] and report["rule_ids"] is None
    assert report["target_account"]["id"] == str(troll.id)
    assert report["forwarded"] is False and report["comment"] == "buy my stuff, every hour"
    await run_jobs()
    await run_jobs()  # idempotent: one notification per admin
    notes = (await client.get("/api/v1/notifications", headers=admin.headers)).json()
    assert [n["type"] for n in notes] == ["admin.report"]
    assert notes[0]["report"]["id"] == report["id"]
    assert notes[0]["account"]["id"] == str(alice.id)
    assert notes[0]["report"]["target_account"]["username"] == "troll"
    # nobody else hears about it
    assert (await client.get("/api/v1/notifications", headers=troll.headers)).json() == []
    assert (await client.get("/api/v1/notifications", headers=alice.headers)).json() == []


async def test_admin_sees_report_even_from_someone_they_block(client, db, make_person, run_jobs):
    admin = await make_admin(db, make_person)
    alice, troll = await make_person("alice"), await make_person("troll")
    await client.post(f"/api/v1/accounts/{alice.id}/block", headers=admin.headers)
    r = await client.post("/api/v1/reports", headers=alice.headers, data={"account_id": troll.id})
    assert r.status_code == 200 and r.json()["category"] == "other"
    await run_jobs()
    notes = (await client.get("/api/v1/notifications", headers=admin.headers)).json()
    assert [n["type"] for n in notes] == ["admin.report"]


async def test_only_visible_posts_of_the_reported_account(client, db, make_person):
    alice, bob, troll = [await make_person(n) for n in ("alice", "bob", "troll")]
    hidden = await post_status_id(client, troll, status="for followers", visibility="private")
    other = await post_status_id(client, bob, status="bob's own")
    public = await post_status_id(client, troll, status="public")
    for ids in ([hidden], [other], [public, "999999999"], ["abc"]):
        r = await client.post(
            "/api/v1/reports",
            headers=alice.headers,
            json={"account_id": str(troll.id), "status_ids": ids},
        )
        assert r.status_code == 422, (ids, r.text)
        assert "error" in r.json()
    assert await reports_count(db) == 0
    # a follower may see the private post, so may report it (JSON numbers work too)
    await client.post(f"/api/v1/accounts/{troll.id}/follow", headers=alice.headers)
    r = await client.post(
        "/api/v1/reports",
        headers=alice.headers,
        json={"account_id": troll.id, "status_ids": [int(hidden), int(public), int(hidden)]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status_ids"] == [hidden, public]


async def test_bad_reports_change_nothing(client, db, make_person):
    alice, troll = await make_person("alice"), await make_person("troll")
    cases = [
        ({"account_id": alice.id}, 422),  # yourself
        ({"account_id": "123456789"}, 404),  # nobody
        ({"account_id": "not-an-id"}, 404),
        ({}, 422),  # no account
        ({"account_id": troll.id, "category": "rude"}, 422),
        ({"account_id": troll.id, "rule_ids[]": "1"}, 422),  # this server has no rules
        ({"account_id": troll.id, "category": "spam", "rule_ids[]": "1"}, 422),
        ({"account_id": troll.id, "comment": "x" * 1001}, 422),
    ]
    for data, status in cases:
        r = await client.post("/api/v1/reports", headers=alice.headers, data=data)
        assert r.status_code == status, (data, r.text)
        assert "error" in r.json()
    assert (await client.post("/api/v1/reports", data={"account_id": troll.id})).status_code == 401
    read_only = await make_person("reader", scopes="read")
    r = await client.post("/api/v1/reports", headers=read_only.headers, data={"account_id": 1})
    assert r.status_code == 403
    assert await reports_count(db) == 0


async def test_reporting_a_suspended_account_is_not_found(client, db, make_person):
    admin = await make_admin(db, make_person)
    alice, troll = await make_person("alice"), await make_person("troll")
    r = await client.post(
        f"/api/v1/admin/accounts/{troll.id}/action", headers=admin.headers, data={"type": "suspend"}
    )
    assert r.status_code == 200
    r = await client.post("/api/v1/reports", headers=alice.headers, data={"account_id": troll.id})
    assert r.status_code == 404


async def test_admins_hear_of_reports_live(client, db, make_person, run_jobs, harness):
    from test_streaming import received

    admin = await make_admin(db, make_person)
    alice, troll = await make_person("alice"), await make_person("troll")
    stream = await harness.listen(admin, "user:notification")
    r = await client.post("/api/v1/reports", headers=alice.headers, data={"account_id": troll.id})
    await run_jobs()
    await harness.pump()
    events = await received(stream)
    assert [(kind, note["type"]) for kind, note in events] == [("notification", "admin.report")]
    assert events[0][1]["report"]["id"] == r.json()["id"]


async def test_a_demoted_admin_no_longer_reads_report_notifications(
    client, db, make_person, run_jobs
):
    """The role is checked whenever a notification is read (API list and single GET, the web
    page and its live fragment, the streamed payload), not only when it was created."""
    from agora.api.stream_payloads import notification_payload
    from agora.social.people.moderation import set_admin
    from helpers import web_sign_in

    admin = await make_admin(db, make_person)
    alice, troll = await make_person("alice"), await make_person("troll")
    await client.post(
        "/api/v1/reports",
        headers=alice.headers,
        data={"account_id": troll.id, "comment": "secret details"},
    )
    await run_jobs()
    (note,) = (await client.get("/api/v1/notifications", headers=admin.headers)).json()
    assert note["type"] == "admin.report"
    async with db.session(write=True) as session:
        await set_admin(session, "moderator", False)
    listed = await client.get("/api/v1/notifications", headers=admin.headers)
    assert listed.status_code == 200 and listed.json() == []
    only = await client.get("/api/v1/notifications?types[]=admin.report", headers=admin.headers)
    assert only.json() == []
    one = await client.get(f"/api/v1/notifications/{note['id']}", headers=admin.headers)
    assert one.status_code == 404
    async with db.session() as session:
        assert await notification_payload(session, admin.id, int(note["id"])) is None
    await web_sign_in(client, "moderator")
    page = await client.get("/notifications")
    assert page.status_code == 200 and "filed a report" not in page.text
    fragment = await client.get(f"/web/notifications/{note['id']}")
    assert fragment.status_code == 404 and "filed a report" not in fragment.text
    # given the role back, the admin reads it again (nothing was deleted)
    async with db.session(write=True) as session:
        await set_admin(session, "moderator", True)
    again = (await client.get("/api/v1/notifications", headers=admin.headers)).json()
    assert [n["id"] for n in again] == [note["id"]]
    assert "filed a report" in (await client.get("/notifications")).text
