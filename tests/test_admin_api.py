"""The admin API: the admin role, reports workflow, account actions; 403 for everyone else."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from agora.db.models import ModerationAction
from helpers import make_admin, post_status_id


async def _report(client, reporter, target, **data):
    r = await client.post(
        "/api/v1/reports", headers=reporter.headers, data={"account_id": target.id, **data}
    )
    assert r.status_code == 200, r.text
    return r.json()["id"]


async def test_role_in_credentials(client, db, make_person):
    admin = await make_admin(db, make_person)
    alice = await make_person("alice")
    role = (await client.get("/api/v1/accounts/verify_credentials", headers=admin.headers)).json()[
        "role"
    ]
    assert role["name"] == "Admin" and int(role["permissions"]) & 1 and role["highlighted"]
    mine = (await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)).json()
    assert mine["role"]["permissions"] == "0"


async def test_only_admins_with_admin_scopes(client, db, make_person):
    alice, troll = await make_person("alice", scopes="read write admin:read admin:write"), None
    troll = await make_person("troll")
    plain_admin = await make_admin(db, make_person, "boss", scopes="read write")
    granular = await make_admin(db, make_person, "mod", scopes="admin:read:reports")
    paths = [
        ("GET", "/api/v1/admin/reports"),
        ("GET", f"/api/v1/admin/accounts/{troll.id}"),
        ("POST", f"/api/v1/admin/accounts/{troll.id}/action"),
        ("POST", f"/api/v1/admin/accounts/{troll.id}/unsuspend"),
    ]
    for method, path in paths:
        assert (await client.request(method, path)).status_code == 401
        for who in (alice, plain_admin):  # not an admin / no admin scope
            r = await client.request(method, path, headers=who.headers, data={"type": "suspend"})
            assert r.status_code == 403, (method, path, r.text)
            assert "error" in r.json()
    assert (await client.get("/api/v1/admin/reports", headers=granular.headers)).status_code == 200
    r = await client.get(f"/api/v1/admin/accounts/{troll.id}", headers=granular.headers)
    assert r.status_code == 403  # admin:read:reports does not cover accounts
    shown = (await client.get(f"/api/v1/accounts/{troll.id}")).json()
    assert "limited" not in shown  # nothing happened


async def test_report_workflow(client, db, make_person):
    admin = await make_admin(db, make_person)
    alice, bob, troll = [await make_person(n) for n in ("alice", "bob", "troll")]
    secret = await post_status_id(client, troll, status="for followers", visibility="private")
    await client.post(f"/api/v1/accounts/{troll.id}/follow", headers=alice.headers)
    first = await _report(client, alice, troll, **{"status_ids[]": secret, "category": "spam"})
    second = await _report(client, bob, troll, comment="rude")
    listed = await client.get("/api/v1/admin/reports", headers=admin.headers)
    assert [r["id"] for r in listed.json()] == [second, first]
    one = (await client.get(f"/api/v1/admin/reports/{first}", headers=admin.headers)).json()
    assert one["account"]["account"]["username"] == "alice"
    assert one["target_account"]["username"] == "troll" and one["target_account"]["email"]
    # the admin sees the reported post as the reporter saw it, though the admin may not
    assert [s["id"] for s in one["statuses"]] == [secret]
    assert one["assigned_account"] is None and one["action_taken_by_account"] is None
    by_reporter = await client.get(
        "/api/v1/admin/reports", headers=admin.headers, params={"account_id": bob.id}
    )
    assert [r["id"] for r in by_reporter.json()] == [second]
    r = await client.post(f"/api/v1/admin/reports/{first}/assign_to_self", headers=admin.headers)
    assert r.json()["assigned_account"]["id"] == str(admin.id)
    r = await client.post(f"/api/v1/admin/reports/{first}/unassign", headers=admin.headers)
    assert r.json()["assigned_account"] is None
    r = await client.post(f"/api/v1/admin/reports/{first}/resolve", headers=admin.headers)
    assert r.json()["action_taken"] is True
    assert r.json()["action_taken_by_account"]["id"] == str(admin.id)
    open_ = await client.get("/api/v1/admin/reports", headers=admin.headers)
    assert [x["id"] for x in open_.json()] == [second]
    done = await client.get("/api/v1/admin/reports?resolved=true", headers=admin.headers)
    assert [x["id"] for x in done.json()] == [first]
    r = await client.post(f"/api/v1/admin/reports/{first}/reopen", headers=admin.headers)
    assert r.json()["action_taken"] is False
    bad_urls = ("/api/v1/admin/reports/123", "/api/v1/admin/reports/x/resolve")
    for bad in (*bad_urls, f"/api/v1/admin/reports/{first}/delete"):
        method = "GET" if bad == bad_urls[0] else "POST"
        assert (await client.request(method, bad, headers=admin.headers)).status_code == 404
    r = await client.get("/api/v1/admin/reports?account_id=zzz", headers=admin.headers)
    assert r.status_code == 422


async def test_suspend_with_report_resolves_every_open_report(client, db, make_person):
    admin = await make_admin(db, make_person)
    alice, bob, troll = [await make_person(n) for n in ("alice", "bob", "troll")]
    first = await _report(client, alice, troll)
    second = await _report(client, bob, troll)
    other = await _report(client, troll, alice)
    r = await client.post(
        f"/api/v1/admin/accounts/{troll.id}/action",
        headers=admin.headers,
        data={"type": "suspend", "report_id": first, "text": "spam network"},
    )
    assert r.status_code == 200 and r.json() == {}
    open_ = (await client.get("/api/v1/admin/reports", headers=admin.headers)).json()
    assert [x["id"] for x in open_] == [other]
    done = (await client.get("/api/v1/admin/reports?resolved=1", headers=admin.headers)).json()
    assert {x["id"] for x in done} == {first, second}
    shown = (await client.get(f"/api/v1/admin/accounts/{troll.id}", headers=admin.headers)).json()
    assert shown["suspended"] is True and shown["silenced"] is False
    assert shown["account"]["username"] == "troll"
    assert (
        await client.get("/api/v1/accounts/verify_credentials", headers=troll.headers)
    ).status_code == 403
    r = await client.post(f"/api/v1/admin/accounts/{troll.id}/unsuspend", headers=admin.headers)
    assert r.status_code == 200 and r.json()["suspended"] is False
    assert (
        await client.get("/api/v1/accounts/verify_credentials", headers=troll.headers)
    ).status_code == 200
    async with db.session() as session:
        log = (await session.scalars(select(ModerationAction).order_by(ModerationAction.id))).all()
    assert [(e.action, e.text) for e in log] == [("suspend", "spam network"), ("unsuspend", "")]
    assert log[0].account_id == admin.id and log[0].report_id == int(first)


async def test_warning_resolves_only_its_report(client, db, make_person):
    admin = await make_admin(db, make_person)
    alice, bob, troll = [await make_person(n) for n in ("alice", "bob", "troll")]
    first = await _report(client, alice, troll)
    second = await _report(client, bob, troll)
    r = await client.post(
        f"/api/v1/admin/accounts/{troll.id}/action",
        headers=admin.headers,
        json={"type": "none", "report_id": int(first)},
    )
    assert r.status_code == 200
    open_ = (await client.get("/api/v1/admin/reports", headers=admin.headers)).json()
    assert [x["id"] for x in open_] == [second]


async def test_silence_and_unsilence(client, db, make_person):
    admin = await make_admin(db, make_person)
    troll = await make_person("troll")
    r = await client.post(
        f"/api/v1/admin/accounts/{troll.id}/action", headers=admin.headers, data={"type": "silence"}
    )
    assert r.status_code == 200
    assert (await client.get(f"/api/v1/accounts/{troll.id}")).json()["limited"] is True
    r = await client.post(f"/api/v1/admin/accounts/{troll.id}/unsilence", headers=admin.headers)
    assert r.status_code == 200 and r.json()["silenced"] is False
    assert "limited" not in (await client.get(f"/api/v1/accounts/{troll.id}")).json()
    again = await client.post(f"/api/v1/admin/accounts/{troll.id}/unsilence", headers=admin.headers)
    assert again.status_code == 403 and "not silenced" in again.json()["error"]


async def test_bad_actions_change_nothing(client, db, make_person):
    admin = await make_admin(db, make_person)
    other_admin = await make_admin(db, make_person, "colleague")
    alice, troll = await make_person("alice"), await make_person("troll")
    about_alice = await _report(client, troll, alice)
    cases = [
        (troll.id, {"type": "disable"}, 422),
        (troll.id, {"type": "delete-everything"}, 422),
        (troll.id, {"type": "suspend", "report_id": "987654321"}, 404),
        (troll.id, {"type": "suspend", "report_id": about_alice}, 422),
        (troll.id, {"type": "suspend", "text": "x" * 5001}, 422),
        (admin.id, {"type": "suspend"}, 403),  # yourself
        (other_admin.id, {"type": "silence"}, 403),  # another admin
        ("987654321", {"type": "suspend"}, 404),
    ]
    for target, data, status in cases:
        r = await client.post(
            f"/api/v1/admin/accounts/{target}/action", headers=admin.headers, data=data
        )
        assert r.status_code == status, (data, r.text)
        assert "error" in r.json()
    for who in (troll, other_admin):
        shown = (await client.get(f"/api/v1/admin/accounts/{who.id}", headers=admin.headers)).json()
        assert shown["suspended"] is False and shown["silenced"] is False
    r = await client.post(f"/api/v1/admin/accounts/{troll.id}/unsuspend", headers=admin.headers)
    assert r.status_code == 403
    async with db.session() as session:
        assert (await session.scalars(select(ModerationAction))).all() == []


async def test_concurrent_suspensions_log_both_and_suspend_once(client, db, make_person):
    admin = await make_admin(db, make_person)
    other = await make_admin(db, make_person, "colleague")
    troll = await make_person("troll")
    url = f"/api/v1/admin/accounts/{troll.id}/action"
    results = await asyncio.gather(
        client.post(url, headers=admin.headers, data={"type": "suspend"}),
        client.post(url, headers=other.headers, data={"type": "suspend"}),
    )
    assert [r.status_code for r in results] == [200, 200]
    shown = (await client.get(f"/api/v1/admin/accounts/{troll.id}", headers=admin.headers)).json()
    assert shown["suspended"] is True


async def test_account_lists_for_admins(client, db, make_person):
    admin = await make_admin(db, make_person)
    alice, troll, tramp = [await make_person(n) for n in ("alice", "troll", "tramp")]
    for target, kind in ((troll, "suspend"), (tramp, "silence")):
        r = await client.post(
            f"/api/v1/admin/accounts/{target.id}/action", headers=admin.headers, data={"type": kind}
        )
        assert r.status_code == 200

    async def names(path: str, **params: str) -> list[str]:
        r = await client.get(path, headers=admin.headers, params=params)
        assert r.status_code == 200, r.text
        return [a["username"] for a in r.json()]

    v1, v2 = "/api/v1/admin/accounts", "/api/v2/admin/accounts"
    assert await names(v2) == ["tramp", "troll", "alice", "moderator"]
    assert await names(v2, status="suspended") == ["troll"]
    assert await names(v1, suspended="true") == ["troll"]
    assert await names(v2, status="silenced") == await names(v1, silenced="1") == ["tramp"]
    assert await names(v2, status="active") == ["tramp", "alice", "moderator"]
    assert await names(v2, permissions="staff") == await names(v1, staff="true") == ["moderator"]
    assert await names(v2, username="TR") == ["tramp", "troll"]
    assert await names(v2, username="%") == []  # wildcards are literal
    assert await names(v2, email="alice@") == ["alice"]
    assert await names(v2, origin="remote") == await names(v2, ip="10.0.0.1") == []
    page = await client.get(v2, headers=admin.headers, params={"limit": 2})
    assert len(page.json()) == 2 and 'rel="next"' in page.headers["link"]
    r = await client.get(v2, headers=admin.headers, params={"status": "banished"})
    assert r.status_code == 422
    assert (await client.get(v2, headers=alice.headers)).status_code == 403
