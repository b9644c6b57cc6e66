"""Direct-message conversations (/api/v1/conversations): who gets one, unread and read,
replies in the thread, removal, deleted messages, blocks, paging, someone else's, scopes."""

from __future__ import annotations

import re
from typing import Any

from helpers import post_status

DM = {"visibility": "direct"}


async def _conversations(client, person, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/conversations", headers=person.headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _summary(found: list[dict[str, Any]]) -> list[tuple[list[str], bool, str]]:
    return [
        (sorted(a["username"] for a in c["accounts"]), c["unread"], c["last_status"]["id"])
        for c in found
    ]


async def test_a_direct_post_opens_a_conversation_for_each_participant(
    client, make_person, run_jobs
):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    dm = await post_status(client, alice, "@bob @carol lunch?", **DM)
    await run_jobs()
    assert _summary(await _conversations(client, bob)) == [(["alice", "carol"], True, dm["id"])]
    assert _summary(await _conversations(client, carol)) == [(["alice", "bob"], True, dm["id"])]
    assert _summary(await _conversations(client, alice)) == [(["bob", "carol"], False, dm["id"])]
    assert (await _conversations(client, bob))[0]["last_status"]["visibility"] == "direct"


async def test_posts_that_are_not_direct_open_no_conversation(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    for visibility in ("public", "unlisted", "private"):
        await post_status(client, alice, "@bob hi", visibility=visibility)
    await run_jobs()
    assert await _conversations(client, bob) == []
    assert await _conversations(client, alice) == []


async def test_a_reply_moves_the_conversation_and_marks_it_unread_for_the_others(
    client, make_person, run_jobs
):
    alice, bob = await make_person("alice"), await make_person("bob")
    dm = await post_status(client, alice, "@bob lunch?", **DM)
    await run_jobs()
    reply = await post_status(client, bob, "@alice yes", in_reply_to_id=dm["id"], **DM)
    await run_jobs()
    assert _summary(await _conversations(client, alice)) == [(["bob"], True, reply["id"])]
    assert _summary(await _conversations(client, bob)) == [(["alice"], False, reply["id"])]


async def test_mark_read_and_someone_elses_conversation(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    await post_status(client, alice, "@bob lunch?", **DM)
    await run_jobs()
    (mine,) = await _conversations(client, bob)
    (theirs,) = await _conversations(client, alice)
    r = await client.post(f"/api/v1/conversations/{theirs['id']}/read", headers=bob.headers)
    assert r.status_code == 404
    r = await client.delete(f"/api/v1/conversations/{theirs['id']}", headers=bob.headers)
    assert r.status_code == 404
    assert len(await _conversations(client, alice)) == 1  # nothing changed
    r = await client.post(f"/api/v1/conversations/{mine['id']}/read", headers=bob.headers)
    assert r.status_code == 200, r.text
    assert r.json()["unread"] is False and r.json()["id"] == mine["id"]
    assert (await _conversations(client, bob))[0]["unread"] is False
    r = await client.post("/api/v1/conversations/not-an-id/read", headers=bob.headers)
    assert r.status_code == 404


async def test_removing_hides_until_the_next_message(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    dm = await post_status(client, alice, "@bob lunch?", **DM)
    await run_jobs()
    (mine,) = await _conversations(client, bob)
    r = await client.delete(f"/api/v1/conversations/{mine['id']}", headers=bob.headers)
    assert r.status_code == 200 and r.json() == {}
    assert await _conversations(client, bob) == []
    assert len(await _conversations(client, alice)) == 1  # only bob's went
    again = await post_status(client, alice, "@bob hello?", in_reply_to_id=dm["id"], **DM)
    await run_jobs()
    assert _summary(await _conversations(client, bob)) == [(["alice"], True, again["id"])]


async def test_deleting_the_last_message_falls_back_then_removes(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    first = await post_status(client, alice, "@bob one", **DM)
    second = await post_status(client, alice, "@bob two", in_reply_to_id=first["id"], **DM)
    await run_jobs()
    assert _summary(await _conversations(client, bob))[0][2] == second["id"]
    for gone, left in ((second, [first["id"]]), (first, [])):
        r = await client.delete(f"/api/v1/statuses/{gone['id']}", headers=alice.headers)
        assert r.status_code == 200, r.text
        await run_jobs()
        assert [c["last_status"]["id"] for c in await _conversations(client, bob)] == left
        assert [c["last_status"]["id"] for c in await _conversations(client, alice)] == left


async def test_a_blocked_persons_conversation_is_not_shown(client, make_person, run_jobs):
    bob, carol = await make_person("bob"), await make_person("carol")
    await post_status(client, carol, "@bob psst", **DM)
    await run_jobs()
    assert len(await _conversations(client, bob)) == 1
    r = await client.post(f"/api/v1/accounts/{carol.id}/block", headers=bob.headers)
    assert r.status_code == 200
    assert await _conversations(client, bob) == []


async def test_conversations_page_by_their_last_message(client, make_person, run_jobs):
    alice = await make_person("alice")
    friends = [await make_person(f"friend{i}") for i in range(3)]
    sent = [(await post_status(client, alice, f"@{f.username} hi", **DM))["id"] for f in friends]
    await run_jobs()
    r = await client.get("/api/v1/conversations", headers=alice.headers, params={"limit": 2})
    assert [c["last_status"]["id"] for c in r.json()] == [sent[2], sent[1]]
    older = re.search(r'<[^>]*max_id=(\d+)[^>]*>; rel="next"', r.headers["link"])
    assert older and older.group(1) == sent[1]
    rest = await _conversations(client, alice, max_id=older.group(1))
    assert [c["last_status"]["id"] for c in rest] == [sent[0]]


async def test_scopes_are_required(client, make_person, run_jobs):
    alice = await make_person("alice")
    reader = await make_person("bob", scopes="read")
    await post_status(client, alice, "@bob hi", **DM)
    await run_jobs()
    (mine,) = await _conversations(client, reader)
    r = await client.post(f"/api/v1/conversations/{mine['id']}/read", headers=reader.headers)
    assert r.status_code == 403
    assert (await client.get("/api/v1/conversations")).status_code == 401


async def test_the_messages_page_lists_marks_read_and_removes(app, client, make_person, run_jobs):
    import httpx

    from helpers import csrf_of, web_sign_in

    alice, bob = await make_person("alice"), await make_person("bob")
    dm = await post_status(client, alice, "@bob lunch at noon?", **DM)
    await post_status(client, alice, "a public post, not a message")
    await run_jobs()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as browser:
        await web_sign_in(browser, "bob")
        page = await browser.get("/messages")
        assert page.status_code == 200
        assert "lunch at noon?" in page.text and "a public post" not in page.text
        assert "Unread" in page.text and 'value="direct" selected' in page.text
        (mine,) = await _conversations(client, bob)
        csrf = csrf_of(page.text)
        refused = await browser.post(f"/messages/{mine['id']}/read", data={"csrf": "wrong"})
        assert refused.status_code == 403
        assert (await _conversations(client, bob))[0]["unread"] is True
        (theirs,) = await _conversations(client, alice)
        r = await browser.post(f"/messages/{theirs['id']}/remove", data={"csrf": csrf})
        assert r.status_code == 404
        r = await browser.post(f"/messages/{mine['id']}/read", data={"csrf": csrf})
        assert r.status_code == 303
        assert (await _conversations(client, bob))[0]["unread"] is False
        assert "Unread" not in (await browser.get("/messages")).text
        r = await browser.post(f"/messages/{mine['id']}/remove", data={"csrf": csrf})
        assert r.status_code == 303
        assert "No conversations yet." in (await browser.get("/messages")).text
        assert dm["id"] not in (await browser.get("/messages")).text
