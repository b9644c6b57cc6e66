"""Scheduled posts: POST /api/v1/statuses with `scheduled_at`, /api/v1/scheduled_statuses
(list, show, move, cancel), publishing when due (once, with media and poll), times too soon
or past, someone else's, reserved media, and a reply whose parent went away."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from agora.db.models import Job, MediaAttachment, ScheduledPost
from agora.jobs.job_kinds import JobKind
from agora.social.posts.scheduled_posts import TOO_SOON
from helpers import post_status
from test_media_api import png_bytes, uploaded


def _in(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def _schedule(client, person, text: str, at: str, **fields: Any) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/statuses",
        headers=person.headers,
        data={"status": text, "scheduled_at": at, **fields},
    )
    assert r.status_code == 200, r.text
    return r.json()


async def _make_due(db, scheduled_id: str) -> None:
    """Travel to the post's time: it and its job are due now."""
    async with db.transaction() as session:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.execute(
            update(ScheduledPost)
            .where(ScheduledPost.id == int(scheduled_id))
            .values(scheduled_at=past)
        )
        await session.execute(
            update(Job).where(Job.kind == JobKind.PUBLISH_SCHEDULED).values(run_at=past)
        )


async def _own_posts(client, person) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/accounts/{person.id}/statuses", headers=person.headers)
    assert r.status_code == 200
    return r.json()


async def test_a_scheduled_post_waits_then_is_published_once(client, db, make_person, run_jobs):
    alice = await make_person("alice")
    at = _in(hours=2)
    kept = await _schedule(client, alice, "good morning", at, visibility="unlisted")
    assert set(kept) == {"id", "scheduled_at", "params", "media_attachments"}
    assert kept["params"]["text"] == "good morning"
    assert kept["params"]["visibility"] == "unlisted"
    assert datetime.fromisoformat(kept["scheduled_at"]) - datetime.fromisoformat(at) < timedelta(
        seconds=1
    )
    await run_jobs()
    assert await _own_posts(client, alice) == []  # not yet
    listed = await client.get("/api/v1/scheduled_statuses", headers=alice.headers)
    assert [s["id"] for s in listed.json()] == [kept["id"]]
    one = await client.get(f"/api/v1/scheduled_statuses/{kept['id']}", headers=alice.headers)
    assert one.json() == kept
    await _make_due(db, kept["id"])
    await run_jobs()
    await run_jobs()
    (published,) = await _own_posts(client, alice)
    assert published["content"] == "<p>good morning</p>" and published["visibility"] == "unlisted"
    listed = await client.get("/api/v1/scheduled_statuses", headers=alice.headers)
    assert listed.json() == []
    gone = await client.get(f"/api/v1/scheduled_statuses/{kept['id']}", headers=alice.headers)
    assert gone.status_code == 404


async def test_times_too_soon_invalid_or_past(client, make_person):
    alice = await make_person("alice")
    for at, status in ((_in(minutes=2), 422), ("next tuesday", 422)):
        r = await client.post(
            "/api/v1/statuses", headers=alice.headers, data={"status": "x", "scheduled_at": at}
        )
        assert r.status_code == status, r.text
    r = await client.post(
        "/api/v1/statuses",
        headers=alice.headers,
        data={"status": "x", "scheduled_at": _in(minutes=2)},
    )
    assert r.json()["error"] == TOO_SOON
    r = await client.post(  # a time already past: published now, as Mastodon does
        "/api/v1/statuses",
        headers=alice.headers,
        data={"status": "right now", "scheduled_at": _in(minutes=-10)},
    )
    assert r.status_code == 200 and r.json()["content"] == "<p>right now</p>"
    r = await client.post(
        "/api/v1/statuses", headers=alice.headers, data={"status": "", "scheduled_at": _in(hours=1)}
    )
    assert r.status_code == 422  # the draft is checked when it is scheduled
    listed = await client.get("/api/v1/scheduled_statuses", headers=alice.headers)
    assert listed.json() == []


async def test_someone_elses_scheduled_post(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    kept = await _schedule(client, alice, "mine", _in(hours=1))
    path = f"/api/v1/scheduled_statuses/{kept['id']}"
    assert (await client.get(path, headers=bob.headers)).status_code == 404
    moved = await client.put(path, headers=bob.headers, data={"scheduled_at": _in(hours=3)})
    assert moved.status_code == 404
    assert (await client.delete(path, headers=bob.headers)).status_code == 404
    assert (await client.get(path, headers=alice.headers)).json() == kept  # unchanged
    assert (await client.get("/api/v1/scheduled_statuses", headers=bob.headers)).json() == []


async def test_moving_and_cancelling(client, db, make_person, run_jobs):
    alice = await make_person("alice")
    kept = await _schedule(client, alice, "later", _in(hours=1))
    path = f"/api/v1/scheduled_statuses/{kept['id']}"
    r = await client.put(path, headers=alice.headers, data={"scheduled_at": _in(minutes=1)})
    assert r.status_code == 422 and r.json()["error"] == TOO_SOON
    r = await client.put(path, headers=alice.headers, data={"scheduled_at": _in(days=2)})
    assert r.status_code == 200
    assert datetime.fromisoformat(r.json()["scheduled_at"]) > datetime.now(UTC) + timedelta(days=1)
    async with db.transaction() as session:  # the first job comes due: the post was moved
        await session.execute(
            update(Job)
            .where(Job.kind == JobKind.PUBLISH_SCHEDULED)
            .values(run_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    await run_jobs()
    assert await _own_posts(client, alice) == []
    assert (await client.get(path, headers=alice.headers)).status_code == 200
    assert (await client.delete(path, headers=alice.headers)).json() == {}
    assert (await client.get(path, headers=alice.headers)).status_code == 404


async def test_media_are_kept_for_the_scheduled_post(client, db, make_person, run_jobs):
    alice = await make_person("alice")
    image = await uploaded(client, alice, png_bytes(), description="a square")
    kept = await _schedule(
        client, alice, "with a picture", _in(hours=1), **{"media_ids[]": image["id"]}
    )
    assert [m["id"] for m in kept["media_attachments"]] == [image["id"]]
    assert kept["params"]["media_ids"] == [image["id"]]
    r = await client.post(  # nobody else can take them meanwhile
        "/api/v1/statuses",
        headers=alice.headers,
        data={"status": "steal", "media_ids[]": image["id"]},
    )
    assert r.status_code == 422
    again = await client.post(
        "/api/v1/statuses",
        headers=alice.headers,
        data={"status": "twice", "media_ids[]": image["id"], "scheduled_at": _in(hours=2)},
    )
    assert again.status_code == 422
    await _make_due(db, kept["id"])
    await run_jobs()
    (published,) = await _own_posts(client, alice)
    assert [m["id"] for m in published["media_attachments"]] == [image["id"]]
    assert published["media_attachments"][0]["description"] == "a square"


async def test_cancelling_lets_go_of_the_media(client, db, make_person):
    alice = await make_person("alice")
    image = await uploaded(client, alice, png_bytes())
    kept = await _schedule(client, alice, "pic", _in(hours=1), **{"media_ids[]": image["id"]})
    async with db.session() as session:
        row = await session.get(MediaAttachment, int(image["id"]))
        assert row is not None and row.unattached_since is None  # reserved: never swept
    await client.delete(f"/api/v1/scheduled_statuses/{kept['id']}", headers=alice.headers)
    async with db.session() as session:
        row = await session.get(MediaAttachment, int(image["id"]))
        assert row is not None and row.post_id is None and row.unattached_since is not None
    r = await client.post(
        "/api/v1/statuses",
        headers=alice.headers,
        data={"status": "now", "media_ids[]": image["id"]},
    )
    assert r.status_code == 200, r.text


async def test_a_poll_is_published_with_the_post(client, db, make_person, run_jobs):
    alice = await make_person("alice")
    fields = {"poll[options][]": ["tea", "coffee"], "poll[expires_in]": "3600"}
    kept = await _schedule(client, alice, "which?", _in(hours=1), **fields)
    assert kept["params"]["poll"]["options"] == ["tea", "coffee"]
    await _make_due(db, kept["id"])
    await run_jobs()
    (published,) = await _own_posts(client, alice)
    assert [o["title"] for o in published["poll"]["options"]] == ["tea", "coffee"]


async def test_a_reply_whose_parent_is_gone_is_published_alone(client, db, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    parent = await post_status(client, bob, "hello")
    kept = await _schedule(client, alice, "@bob hi back", _in(hours=1), in_reply_to_id=parent["id"])
    assert kept["params"]["in_reply_to_id"] == parent["id"]
    await client.delete(f"/api/v1/statuses/{parent['id']}", headers=bob.headers)
    await _make_due(db, kept["id"])
    await run_jobs()
    (published,) = await _own_posts(client, alice)
    assert published["in_reply_to_id"] is None and "hi back" in published["content"]
    async with db.session() as session:
        assert (await session.scalars(select(ScheduledPost))).all() == []


async def test_scheduling_from_the_web_composer_in_local_time(app, client, make_person):
    import httpx

    from helpers import csrf_of, web_sign_in

    alice = await make_person("alice")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        await web_sign_in(browser, "alice")
        home = await browser.get("/home")
        assert 'name="scheduled_at" type="datetime-local"' in home.text
        csrf = csrf_of(home.text)
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        local = (tomorrow + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")  # at UTC+2
        form = {"csrf": csrf, "status": "from the browser", "scheduled_at": local}
        r = await browser.post("/web/statuses", data={**form, "utc_offset": "120"})
        assert r.status_code == 303 and r.headers["location"] == "/scheduled"
        (kept,) = (await client.get("/api/v1/scheduled_statuses", headers=alice.headers)).json()
        at = datetime.fromisoformat(kept["scheduled_at"])
        assert abs(at - tomorrow) < timedelta(minutes=1)  # 2 hours ahead, read as UTC
        page = await browser.get("/scheduled")
        assert "from the browser" in page.text
        bad = await browser.post("/web/statuses", data={**form, "utc_offset": "soon"})
        assert bad.status_code == 422
        soon = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
        r = await browser.post("/web/statuses", data={**form, "scheduled_at": soon})
        assert r.status_code == 422
        r = await browser.post(f"/scheduled/{kept['id']}/cancel", data={"csrf": csrf})
        assert r.status_code == 303
        assert "Nothing scheduled." in (await browser.get("/scheduled")).text
        bob = await make_person("bob")
        theirs = await _schedule(client, bob, "bob's", _in(hours=3))
        r = await browser.post(f"/scheduled/{theirs['id']}/cancel", data={"csrf": csrf})
        assert r.status_code == 404
