"""End-to-end slice through the API: sign up, post, follow, home timeline, notifications."""

from __future__ import annotations


async def test_post_follow_home_and_notify(client, make_person, run_jobs):
    alice = await make_person("alice")
    bob = await make_person("bob")
    r = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    assert r.status_code == 200, r.text
    assert r.json()["following"] is True
    r = await client.post(
        "/api/v1/statuses",
        headers=alice.headers,
        data={"status": "Hello @bob #agora https://example.com"},
    )
    assert r.status_code == 200, r.text
    status = r.json()
    assert "#<span>agora</span>" in status["content"]
    assert status["mentions"][0]["username"] == "bob"
    await run_jobs()
    r = await client.get("/api/v1/timelines/home", headers=bob.headers)
    assert r.status_code == 200
    assert [s["id"] for s in r.json()] == [status["id"]]
    r = await client.get("/api/v1/notifications", headers=alice.headers)
    assert [n["type"] for n in r.json()] == ["follow"]
    r = await client.get("/api/v1/notifications", headers=bob.headers)
    assert [n["type"] for n in r.json()] == ["mention"]
