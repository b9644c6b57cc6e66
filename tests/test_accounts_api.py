"""Account states: suspension hides everything and locks the door."""

from __future__ import annotations

from agora.social.accounts import set_suspended


async def test_suspended_account_disappears(client, db, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    r = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": "hi @bob"})
    post_id = r.json()["id"]
    await run_jobs()
    async with db.session(write=True) as session:
        await set_suspended(session, "alice", True)
    assert (await client.get(f"/api/v1/statuses/{post_id}")).status_code == 404
    assert (await client.get(f"/api/v1/accounts/{alice.id}")).status_code == 404
    assert (await client.get("/api/v1/timelines/home", headers=bob.headers)).json() == []
    assert (await client.get("/api/v1/timelines/public")).json() == []
    assert (await client.get("/api/v1/notifications", headers=bob.headers)).json() == []
    assert (
        await client.get("/api/v1/accounts/lookup", params={"acct": "alice"})
    ).status_code == 404
    r = await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)
    assert r.status_code == 403
    async with db.session(write=True) as session:
        await set_suspended(session, "alice", False)
    assert (await client.get(f"/api/v1/statuses/{post_id}")).status_code == 200


async def test_assistant_account_cannot_sign_in(client, db):
    from agora.social.bootstrap import ensure_assistant

    async with db.transaction() as session:
        assistant = await ensure_assistant(session)
    async with db.transaction() as session:
        again = await ensure_assistant(session)
    assert again.id == assistant.id and assistant.bot is True
    app = (await client.post("/api/v1/apps", data={"client_name": "x", "scopes": "read"})).json()
    r = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "username": "assistant",
            "password": "anything",
        },
    )
    assert r.status_code == 400
    shown = (await client.get(f"/api/v1/accounts/{assistant.id}")).json()
    assert shown["bot"] is True and shown["username"] == "assistant"
