"""The admin console (`/admin/...`, web/admin_*.py): admins only (a 404 for anyone else, on
every route the app has under /admin), every form CSRF-checked, every action one call of the
service the API and the CLI use, logged in the moderation log; settings changed at run time
seen at once by the API; the job queue's dead letters; the dashboard's charts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
from fastapi.routing import APIRoute
from sqlalchemy import func, select, update

from agora.db.models import (
    Account,
    InstanceSetting,
    Job,
    ModerationAction,
    Post,
    Report,
    User,
    utcnow,
)
from agora.ids import new_id
from agora.jobs import queue
from agora.social.instance import activity_stats, instance_settings
from helpers import csrf_of, make_admin, post_status_id, web_sign_in

PARAMS = re.compile(r"\{(\w+)\}")


def _all_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute with its full path, through included routers (as the probes read
    them: tests/test_visibility_probes.py)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):
            inner = prefix + route.include_context.prefix
            yield from _all_routes(route.original_router.routes, inner)


def _admin_routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Every (method, path) the app answers under /admin, read from the app itself."""
    found = []
    for path, route in _all_routes(app.routes):
        if path.startswith("/admin"):
            found += [(method, path) for method in sorted(route.methods - {"HEAD", "OPTIONS"})]
    return found


def _filled(path: str, values: dict[str, str]) -> str:
    return PARAMS.sub(lambda m: values.get(m.group(1), "1"), path)


async def _client(app) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def _log(db, action: str | None = None) -> list[ModerationAction]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        query = select(ModerationAction).order_by(ModerationAction.id)
        if action is not None:
            query = query.where(ModerationAction.action == action)
        return list((await session.scalars(query)).all())


async def _dead_job(db, kind: str = "send_mail", error: str = "SMTP refused") -> int:  # type: ignore[no-untyped-def]
    async with db.session(write=True) as session:
        job = Job(
            id=new_id(),
            kind=kind,
            payload={"to": "x@example.org"},
            state="dead",
            attempts=8,
            max_attempts=8,
            run_at=utcnow(),
            last_error=f"Traceback...\n{error}",
            created_at=utcnow(),
            finished_at=utcnow(),
        )
        session.add(job)
        await session.commit()
        return job.id


async def _report(client, reporter, target, text: str = "rude post") -> tuple[str, str]:  # type: ignore[no-untyped-def]
    post_id = await post_status_id(client, target, text)
    r = await client.post(
        "/api/v1/reports",
        headers=reporter.headers,
        data={"account_id": target.id, "status_ids[]": post_id, "comment": "please look"},
    )
    assert r.status_code == 200, r.text
    return r.json()["id"], post_id


async def test_every_console_route_is_a_404_for_anyone_but_an_admin(app, client, db, make_person):
    routes = _admin_routes(app)
    paths = {path for _, path in routes}
    for expected in (
        "/admin",
        "/admin/reports",
        "/admin/accounts",
        "/admin/settings",
        "/admin/jobs",
    ):
        assert expected in paths
    assert len(routes) >= 14
    alice = await make_person("alice")
    troll = await make_person("troll")
    await make_admin(db, make_person, "boss")
    report_id, _ = await _report(client, alice, troll)
    job_id = await _dead_job(db)
    values = {
        "report_id": report_id,
        "account_id": str(troll.id),
        "job_id": str(job_id),
        "block_id": "1",
        "change": "resolve",
    }
    csrf = await web_sign_in(client, "alice")
    async with await _client(app) as signed_out:
        page = await signed_out.get("/auth/sign_in")
        anonymous_csrf = csrf_of(page.text)
        for method, path in routes:
            url = _filled(path, values)
            for who, token in ((client, csrf), (signed_out, anonymous_csrf)):
                data = {
                    "csrf": token,
                    "type": "suspend",
                    "confirm": "troll",
                    "domain": "x.example",
                    "registrations": "closed",
                }
                r = await who.request(method, url, data=data if method == "POST" else None)
                assert r.status_code == 404, (method, url, r.status_code)
                assert "text/html" in r.headers["content-type"]
    # nothing happened
    assert [e.action for e in await _log(db)] == []
    async with db.session() as session:
        assert (await session.get(Account, troll.id)).suspended_at is None
        assert await session.scalar(select(func.count()).select_from(InstanceSetting)) == 0
        assert (await session.get(Job, job_id)).state == "dead"
    # and the admin sees every page
    client.cookies.clear()
    await web_sign_in(client, "boss")
    for method, path in routes:
        if method == "GET":
            r = await client.get(_filled(path, values))
            assert r.status_code == 200, (path, r.text[:300])
    home = await client.get("/home")
    assert 'href="/admin"' in home.text  # the admin finds the console from every page


async def test_every_console_form_refuses_a_missing_or_wrong_csrf_token(
    app, client, db, make_person
):
    alice = await make_person("alice")
    troll = await make_person("troll")
    await make_admin(db, make_person, "boss")
    report_id, _ = await _report(client, alice, troll)
    job_id = await _dead_job(db)
    values = {
        "report_id": report_id,
        "account_id": str(troll.id),
        "job_id": str(job_id),
        "block_id": "1",
        "change": "resolve",
    }
    await web_sign_in(client, "boss")
    posts = [(m, p) for m, p in _admin_routes(app) if m == "POST"]
    assert len(posts) >= 7
    for _, path in posts:
        for data in ({}, {"csrf": "0" * 64}):
            data.update(type="suspend", confirm="troll", domain="x.example", registrations="closed")
            r = await client.post(_filled(path, values), data=data)
            assert r.status_code == 403, (path, r.status_code)
            assert "form has expired" in r.text
    assert await _log(db) == []
    async with db.session() as session:
        assert (await session.get(Account, troll.id)).suspended_at is None
        assert (await session.get(Report, int(report_id))).action_taken_at is None


async def test_a_report_is_read_and_its_account_suspended_from_the_console(client, db, make_person):
    alice = await make_person("alice")
    troll = await make_person("troll")
    boss = await make_admin(db, make_person, "boss")
    report_id, post_id = await _report(client, alice, troll, "a very rude post")
    other_id, _ = await _report(client, alice, troll, "another one")
    csrf = await web_sign_in(client, "boss")

    listing = await client.get("/admin/reports")
    assert f"/admin/reports/{report_id}" in listing.text and "@troll" in listing.text
    page = await client.get(f"/admin/reports/{report_id}")
    assert "a very rude post" in page.text and "please look" in page.text  # through hydration
    assert f'data-id="{post_id}"' in page.text

    r = await client.post(
        f"/admin/accounts/{troll.id}/action",
        data={"csrf": csrf, "type": "suspend", "report_id": report_id, "text": "spam"},
    )
    assert r.status_code == 303 and r.headers["location"].endswith("done=suspend")
    async with db.session() as session:
        assert (await session.get(Account, troll.id)).suspended_at is not None
        for rid in (report_id, other_id):  # a suspension resolves every open report
            assert (await session.get(Report, int(rid))).action_taken_by_account_id == boss.id
    [entry] = await _log(db, "suspend")
    assert (entry.account_id, entry.target_account_id, entry.report_id, entry.text) == (
        boss.id,
        troll.id,
        int(report_id),
        "spam",
    )
    assert (await client.get(f"/api/v1/accounts/{troll.id}")).status_code == 404
    assert "No open reports" in (await client.get("/admin/reports")).text
    resolved = await client.get("/admin/reports?resolved=1")
    assert f"/admin/reports/{report_id}" in resolved.text
    # reopen, then resolve without action
    for change, state in (("reopen", None), ("resolve", boss.id)):
        r = await client.post(f"/admin/reports/{report_id}/{change}", data={"csrf": csrf})
        assert r.status_code == 303
        async with db.session() as session:
            assert (await session.get(Report, int(report_id))).action_taken_by_account_id == state
    assert [e.action for e in await _log(db)][-2:] == ["reopen", "resolve"]
    assert (
        await client.post(f"/admin/reports/{report_id}/explode", data={"csrf": csrf})
    ).status_code == 404


async def test_account_actions_call_moderation_and_are_logged(client, db, make_person):
    alice = await make_person("alice")
    boss = await make_admin(db, make_person, "boss")
    await make_admin(db, make_person, "other_admin")
    csrf = await web_sign_in(client, "boss")
    found = await client.get("/admin/accounts?q=ali&by=username")
    assert f"/admin/accounts/{alice.id}" in found.text and "other_admin" not in found.text
    by_mail = await client.get("/admin/accounts?q=alice@example&by=email")
    assert f"/admin/accounts/{alice.id}" in by_mail.text

    steps = [
        ("action", {"type": "silence"}),
        ("unsilence", {}),
        ("action", {"type": "suspend"}),
        ("unsuspend", {}),
        ("action", {"type": "none", "text": "be nice"}),
    ]
    for change, data in steps:
        r = await client.post(f"/admin/accounts/{alice.id}/{change}", data={"csrf": csrf, **data})
        assert r.status_code == 303, r.text
    async with db.session() as session:
        account = await session.get(Account, alice.id)
        assert account.suspended_at is None and account.silenced_at is None
    log = [(e.action, e.account_id, e.target_account_id) for e in await _log(db)]
    assert log == [
        (a, boss.id, alice.id) for a in ("silence", "unsilence", "suspend", "unsuspend", "none")
    ]
    page = await client.get(f"/admin/accounts/{alice.id}")
    assert "be nice" in page.text and "unsuspend" in page.text

    # refused actions say why and change nothing
    refused = await client.post(f"/admin/accounts/{alice.id}/unsuspend", data={"csrf": csrf})
    assert refused.status_code == 403 and "not suspended" in refused.text
    other = (await client.get("/admin/accounts?q=other_admin")).text
    admin_id = re.search(r"/admin/accounts/(\d+)", other).group(1)
    refused = await client.post(
        f"/admin/accounts/{admin_id}/action", data={"csrf": csrf, "type": "suspend"}
    )
    assert refused.status_code == 403 and "Admins cannot be" in refused.text
    refused = await client.post(
        f"/admin/accounts/{boss.id}/action", data={"csrf": csrf, "type": "silence"}
    )
    assert refused.status_code == 403
    assert len(await _log(db)) == 5


async def test_sign_ups_are_approved_or_turned_down(client, db, make_person, run_jobs):
    first = await make_person("first")
    second = await make_person("second")
    boss = await make_admin(db, make_person, "boss")
    async with db.session(write=True) as session:
        await session.execute(
            update(User).where(User.account_id.in_([first.id, second.id])).values(approved=False)
        )
        await session.commit()
    csrf = await web_sign_in(client, "boss")
    pending = await client.get("/admin/accounts?status=pending")
    assert (
        f"/admin/accounts/{first.id}" in pending.text
        and f"/admin/accounts/{second.id}" in pending.text
    )
    assert "2 sign-ups waiting" in (await client.get("/admin")).text
    assert (
        await client.post(f"/admin/accounts/{first.id}/approve", data={"csrf": csrf})
    ).status_code == 303
    assert (
        await client.post(f"/admin/accounts/{second.id}/reject", data={"csrf": csrf})
    ).status_code == 303
    again = await client.post(f"/admin/accounts/{first.id}/reject", data={"csrf": csrf})
    assert again.status_code == 403  # approved: not pending any more
    await run_jobs()
    async with db.session() as session:
        assert (await session.get(User, first.id)).approved is True
        assert await session.get(User, second.id) is None  # erased by the deletion job
        assert (await session.get(Account, second.id)).deleted_at is not None
    assert [(e.action, e.account_id) for e in await _log(db)] == [
        ("approve", boss.id),
        ("reject", boss.id),
    ]
    r = await client.get("/api/v1/accounts/verify_credentials", headers=first.headers)
    assert r.status_code == 200


async def test_an_admin_deletes_an_account_as_its_owner_would(client, db, make_person, run_jobs):
    alice = await make_person("alice")
    boss = await make_admin(db, make_person, "boss")
    await post_status_id(client, alice, "my first post")
    csrf = await web_sign_in(client, "boss")
    wrong = await client.post(
        f"/admin/accounts/{alice.id}/delete", data={"csrf": csrf, "confirm": "alic"}
    )
    assert wrong.status_code == 422 and "Type the account" in wrong.text
    refused = await client.post(
        f"/admin/accounts/{boss.id}/delete", data={"csrf": csrf, "confirm": "boss"}
    )
    assert refused.status_code == 403
    assert await _log(db) == []
    r = await client.post(
        f"/admin/accounts/{alice.id}/delete", data={"csrf": csrf, "confirm": "@Alice"}
    )
    assert r.status_code == 303
    # at once: suspended, signed out
    assert (
        await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)
    ).status_code == 401
    [entry] = await _log(db)
    assert (entry.action, entry.account_id, entry.target_account_id) == (
        "delete",
        boss.id,
        alice.id,
    )
    await run_jobs()
    async with db.session() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(Post).where(Post.account_id == alice.id)
            )
            == 0
        )
        assert await session.get(User, alice.id) is None
    page = await client.get(f"/admin/accounts/{alice.id}")
    assert "deleted" in page.text and "Delete the account" not in page.text
    again = await client.post(
        f"/admin/accounts/{alice.id}/delete", data={"csrf": csrf, "confirm": "alice"}
    )
    assert again.status_code == 422


async def test_the_admin_api_deletes_and_rejects_through_the_same_path(
    client, db, make_person, run_jobs
):
    alice = await make_person("alice")
    pending = await make_person("pending")
    boss = await make_admin(db, make_person, "boss")
    async with db.session(write=True) as session:
        await session.execute(
            update(User).where(User.account_id == pending.id).values(approved=False)
        )
        await session.commit()
    r = await client.delete(f"/api/v1/admin/accounts/{alice.id}", headers=boss.headers)
    assert r.status_code == 200 and r.json()["suspended"] is True
    r = await client.post(f"/api/v1/admin/accounts/{pending.id}/reject", headers=boss.headers)
    assert r.status_code == 200
    r = await client.post(f"/api/v1/admin/accounts/{alice.id}/reject", headers=boss.headers)
    assert r.status_code == 403
    assert [(e.action, e.account_id) for e in await _log(db)] == [
        ("delete", boss.id),
        ("reject", boss.id),
    ]
    r = await client.delete(f"/api/v1/admin/accounts/{boss.id}", headers=alice.headers)
    assert r.status_code == 401  # alice's token ended with her account


async def test_settings_change_at_run_time_and_the_api_shows_them_at_once(client, db, make_person):
    boss = await make_admin(db, make_person, "boss")
    before = (await client.get("/api/v1/instance")).json()
    assert before["registrations"] is True and before["rules"] == []
    csrf = await web_sign_in(client, "boss")
    form = {
        "csrf": csrf,
        "registrations": "approval",
        "instance_description": "A calm place.",
        "instance_extended_description": "About us, at length.",
        "instance_rules": "Be kind\n\n  No spam  \n",
        "ai_training_default": "true",
        "search_indexing": "true",
        "tdm_reservation": "true",
    }
    r = await client.post("/admin/settings", data=form)
    assert r.status_code == 303
    v1 = (await client.get("/api/v1/instance")).json()
    assert (v1["registrations"], v1["approval_required"]) == (True, True)
    assert (
        v1["short_description"] == "A calm place." and v1["description"] == "About us, at length."
    )
    assert v1["rules"] == [
        {"id": "1", "text": "Be kind", "hint": ""},
        {"id": "2", "text": "No spam", "hint": ""},
    ]
    v2 = (await client.get("/api/v2/instance")).json()
    assert v2["registrations"]["approval_required"] is True and v2["description"] == "A calm place."
    assert "GPTBot" not in (await client.get("/robots.txt")).text  # training now allowed
    changed = sorted(e.text.split(" = ")[0] for e in await _log(db, "setting"))
    assert changed == [
        "ai_training_default",
        "instance_description",
        "instance_extended_description",
        "instance_rules",
        "registrations",
    ]
    assert all(e.account_id == boss.id for e in await _log(db, "setting"))
    # a report may now name the rules
    alice = await make_person("alice")
    troll = await make_person("troll")
    r = await client.post(
        "/api/v1/reports",
        headers=alice.headers,
        data={"account_id": troll.id, "rule_ids[]": "2", "category": "violation"},
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        "/api/v1/reports",
        headers=alice.headers,
        data={"account_id": troll.id, "rule_ids[]": "3", "category": "violation"},
    )
    assert r.status_code == 422

    # a bad value changes nothing
    bad = await client.post(
        "/admin/settings", data={**form, "registrations": "sometimes", "instance_rules": ""}
    )
    assert bad.status_code == 422 and "registrations must be" in bad.text
    assert len((await client.get("/api/v1/instance")).json()["rules"]) == 2

    # closing registrations, as another process would (straight in the database)
    async with db.session(write=True) as session:
        await instance_settings.change(
            session, instance_settings.SettingsInput(registrations="closed"), by=None
        )
    assert (await client.get("/api/v1/instance")).json()["registrations"] is False
    signed_out = await _client(client._transport.app)  # type: ignore[attr-defined]
    async with signed_out:
        assert "Create an account" not in (await signed_out.get("/auth/sign_in")).text
        start = (await signed_out.get("/")).text  # pages read them too
        assert "A calm place." in start and "<li>No spam</li>" in start
    r = await client.post(
        "/api/v1/accounts",
        headers=boss.headers,
        data={
            "username": "newbie",
            "email": "n@example.org",
            "password": "long enough pw",
            "agreement": "true",
        },
    )
    assert r.status_code == 403
    # back to the environment's value: the override row goes
    async with db.session(write=True) as session:
        await instance_settings.change(
            session,
            instance_settings.SettingsInput(registrations="open", instance_rules=[]),
            by=None,
        )
        names = set(await session.scalars(select(InstanceSetting.name)))
    assert "registrations" not in names and "instance_rules" not in names
    assert (await client.get("/api/v1/instance")).json()["registrations"] is True


async def test_dead_letters_are_retried_or_discarded_and_logged(client, db, make_person):
    boss = await make_admin(db, make_person, "boss")
    kept = await _dead_job(db, "send_mail", "SMTP refused")
    dropped = await _dead_job(db, "ap_deliver", "HTTP 410 Gone")
    csrf = await web_sign_in(client, "boss")
    page = await client.get("/admin/jobs")
    assert "SMTP refused" in page.text and "HTTP 410 Gone" in page.text
    assert re.search(r"<th scope=\"row\">send_mail</th><td>0</td><td>0</td><td>1</td>", page.text)
    assert (await client.post(f"/admin/jobs/{kept}/retry", data={"csrf": csrf})).status_code == 303
    assert (
        await client.post(f"/admin/jobs/{dropped}/discard", data={"csrf": csrf})
    ).status_code == 303
    async with db.session() as session:
        job = await session.get(Job, kept)
        assert (job.state, job.attempts) == ("pending", 0)
        assert await session.get(Job, dropped) is None
    # only dead letters: a pending job is neither retried nor discarded
    assert (await client.post(f"/admin/jobs/{kept}/retry", data={"csrf": csrf})).status_code == 404
    assert (
        await client.post(f"/admin/jobs/{kept}/discard", data={"csrf": csrf})
    ).status_code == 404
    log = [(e.action, e.account_id, e.text) for e in await _log(db)]
    assert log == [
        ("job_retry", boss.id, f"job {kept} (send_mail)"),
        ("job_discard", boss.id, f"job {dropped} (ap_deliver): HTTP 410 Gone"),
    ]
    assert "No dead letters" in (await client.get("/admin/jobs")).text


async def test_dashboard_charts_count_the_days(client, db, make_person):
    alice = await make_person("alice")
    await make_admin(db, make_person, "boss")
    for n in range(3):
        await post_status_id(client, alice, f"post {n}")
    assert await queue.sample_depth(db) is True
    assert await queue.sample_depth(db) is False  # one sample per bucket, whoever comes first
    async with db.session() as session:
        series = {s.key: s for s in await activity_stats.dashboard(session)}
    assert len(series["posts"].days) == activity_stats.DAYS
    assert series["posts"].values[-1] == 3 and series["active"].values[-1] == 1
    assert series["signups"].values[-1] == 2 and series["posts"].total == 3
    await web_sign_in(client, "boss")
    page = await client.get("/admin")
    assert page.text.count('role="img"') == 5 and page.text.count("<table>") == 5
    assert "<script" not in page.text.split("<main")[1]
    today = utcnow().date().isoformat()
    assert f"<tr><td>{today}</td><td>3</td></tr>" in page.text


async def test_old_queue_samples_are_forgotten(db):
    from agora.db.models import JobQueueSample

    async with db.session(write=True) as session:
        session.add(JobQueueSample(taken_at=utcnow() - timedelta(days=40), pending=5, dead=0))
        await session.commit()
    await queue.sample_depth(db)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(JobQueueSample)) == 1
