"""Announcements: written by admins (console and `/api/v1/admin/announcements`), listed to
everyone (`/api/v1/announcements`), dismissed and reacted to per person, streamed to every
`user` stream (`announcement`, `announcement.reaction`, `announcement.delete`), and shown on
the web app's home page with a dismiss button. Unhappy paths: a non-admin's 403 / 404, an
unknown or ended announcement's 404, a bad reaction's 422, nothing changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from agora.db.models import utcnow
from helpers import csrf_of, make_admin, web_sign_in
from test_streaming import received

ADMIN = "/api/v1/admin/announcements"
LIST = "/api/v1/announcements"


async def _announce(client: Any, admin: Any, text: str, **extra: Any) -> dict[str, Any]:
    r = await client.post(ADMIN, headers=admin.headers, json={"text": text, **extra})
    assert r.status_code == 200, r.text
    return r.json()


async def test_people_see_dismiss_and_react_to_announcements(
    client, db, make_person, harness
) -> None:
    admin = await make_admin(db, make_person, "boss")
    alice, bob = await make_person("alice"), await make_person("bob")
    stream = await harness.listen(bob)
    made = await _announce(client, admin, "Maintenance <tonight>")
    await harness.pump()  # rendered when dispatched: while it is shown
    assert made["content"] == "<p>Maintenance &lt;tonight&gt;</p>"
    ended = await _announce(
        client, admin, "Old news", ends_at=(utcnow() - timedelta(hours=1)).isoformat()
    )
    shown = (await client.get(LIST, headers=alice.headers)).json()
    assert [a["id"] for a in shown] == [made["id"]]  # the ended one is not shown
    assert shown[0]["read"] is False and shown[0]["reactions"] == []
    one = f"{LIST}/{made['id']}"
    assert (await client.put(f"{one}/reactions/🎉", headers=alice.headers)).status_code == 200
    assert (await client.put(f"{one}/reactions/🎉", headers=alice.headers)).status_code == 200
    assert (await client.put(f"{one}/reactions/🎉", headers=bob.headers)).status_code == 200
    [seen] = (await client.get(LIST, headers=alice.headers)).json()
    assert seen["reactions"] == [
        {"name": "🎉", "count": 2, "me": True, "url": None, "static_url": None}
    ]
    assert (await client.delete(f"{one}/reactions/🎉", headers=alice.headers)).status_code == 200
    [seen] = (await client.get(LIST, headers=alice.headers)).json()
    assert seen["reactions"][0]["count"] == 1 and seen["reactions"][0]["me"] is False
    assert (await client.post(f"{one}/dismiss", headers=alice.headers)).status_code == 200
    assert (await client.get(LIST, headers=alice.headers)).json() == []
    again = await client.get(LIST, headers=alice.headers, params={"with_dismissed": "true"})
    assert [a["read"] for a in again.json()] == [True]
    assert len((await client.get(LIST, headers=bob.headers)).json()) == 1  # bob's is unread
    # unhappy paths: nothing changes
    for bad in ("smile", "a" * 20, "🎉 x"):
        r = await client.put(f"{one}/reactions/{bad}", headers=bob.headers)
        assert r.status_code == 422, bad
    for path in (f"{LIST}/12345/dismiss", f"{LIST}/{ended['id']}/dismiss"):
        assert (await client.post(path, headers=bob.headers)).status_code == 404
    r = await client.put(f"{LIST}/{ended['id']}/reactions/🎉", headers=bob.headers)
    assert r.status_code == 404
    [seen] = (await client.get(LIST, headers=bob.headers)).json()
    assert [r["name"] for r in seen["reactions"]] == ["🎉"]
    assert (await client.get(LIST)).status_code == 401
    # the streams: every user stream, the same payloads
    await client.delete(f"{ADMIN}/{made['id']}", headers=admin.headers)
    assert (await client.get(LIST, headers=bob.headers)).json() == []
    await harness.pump()
    got = await received(stream)
    kinds = [k for k, _ in got]
    assert kinds == [
        "announcement",  # not the ended one: it is no longer shown when dispatched
        "announcement.reaction",
        "announcement.reaction",
        "announcement.reaction",
        "announcement.delete",
    ]
    assert got[0][1]["id"] == made["id"] and got[0][1]["read"] is False
    assert [p["count"] for k, p in got if k == "announcement.reaction"] == [1, 2, 1]
    assert str(got[-1][1]) == made["id"]


async def test_only_admins_write_announcements(client, db, make_person) -> None:
    alice = await make_person("alice", scopes="read write admin:read admin:write")
    admin = await make_admin(db, make_person, "boss")
    r = await client.post(ADMIN, headers=alice.headers, json={"text": "I am the admin now"})
    assert r.status_code == 403
    made = await _announce(client, admin, "Real")
    assert (await client.delete(f"{ADMIN}/{made['id']}", headers=alice.headers)).status_code == 403
    r = await client.put(f"{ADMIN}/{made['id']}", headers=alice.headers, json={"text": "Fake"})
    assert r.status_code == 403
    for body in ({"text": "  "}, {"text": "x", "ends_at": "soon"}):
        assert (await client.post(ADMIN, headers=admin.headers, json=body)).status_code == 422
    r = await client.put(f"{ADMIN}/{made['id']}", headers=admin.headers, json={"text": "Changed"})
    assert r.json()["content"] == "<p>Changed</p>"
    assert (await client.delete(f"{ADMIN}/12345", headers=admin.headers)).status_code == 404
    listed = (await client.get(LIST, headers=alice.headers)).json()
    assert [a["content"] for a in listed] == ["<p>Changed</p>"]


async def test_console_publishes_and_home_page_dismisses(client, db, make_person) -> None:
    await make_admin(db, make_person, "boss")
    await make_person("alice")
    csrf = await web_sign_in(client, "boss")
    refused = await client.post("/admin/announcements", data={"csrf": csrf, "text": " "})
    assert refused.status_code == 422
    sent = {"csrf": csrf, "text": "Welcome, everyone", "ends_at": "", "starts_at": ""}
    assert (await client.post("/admin/announcements", data=sent)).status_code == 303
    console = await client.get("/admin/announcements")
    assert "Welcome, everyone" in console.text
    client.cookies.clear()
    csrf = await web_sign_in(client, "alice")
    assert (await client.get("/admin/announcements")).status_code == 404
    assert (await client.post("/admin/announcements", data=sent)).status_code == 404
    home = await client.get("/home")
    assert 'id="announcements"' in home.text and "Welcome, everyone" in home.text
    action = home.text.split('action="/announcements/')[1].split('"')[0]
    assert (
        await client.post("/announcements/99999/dismiss", data={"csrf": csrf})
    ).status_code == 404
    assert (await client.post(f"/announcements/{action}", data={"csrf": csrf})).status_code == 303
    assert "Welcome, everyone" not in (await client.get("/home")).text
    assert csrf_of((await client.get("/home")).text) == csrf
