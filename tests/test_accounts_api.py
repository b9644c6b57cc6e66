"""Account states: suspension hides everything and locks the door."""

from __future__ import annotations

from sqlalchemy import func, select

from agora.db.models import Post
from agora.social.people.moderation import lift, take_action


async def test_suspended_account_disappears(client, db, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    r = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": "hi @bob"})
    post_id = r.json()["id"]
    await run_jobs()
    async with db.session(write=True) as session:
        await take_action(session, alice.id, "suspend", by=None)
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
        await lift(session, alice.id, "unsuspend", by=None)
    assert (await client.get(f"/api/v1/statuses/{post_id}")).status_code == 200


async def test_assistant_account_cannot_sign_in(client, db):
    from agora.social.people.assistant_account import ensure_assistant

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


async def _sign_up_pending(client, monkeypatch) -> dict[str, str]:
    """Sign up through the API with AGORA_REGISTRATIONS=approval; the token's headers."""
    from agora.config import get_settings

    monkeypatch.setattr(get_settings(), "registrations", "approval")
    app = (
        await client.post("/api/v1/apps", data={"client_name": "x", "scopes": "read write"})
    ).json()
    keys = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    grant = {"grant_type": "client_credentials", "scope": "read write", **keys}
    app_token = (await client.post("/oauth/token", data=grant)).json()["access_token"]
    signup = {
        "username": "waiting",
        "email": "w@example.org",
        "password": "long enough pw",
        "agreement": "true",
    }
    r = await client.post(
        "/api/v1/accounts", headers={"Authorization": f"Bearer {app_token}"}, data=signup
    )
    assert r.status_code == 200, r.text  # Mastodon answers with a token, as here
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_pending_account_token_cannot_act_until_approved(client, db, monkeypatch):
    from sqlalchemy import update

    from agora.db.models import User

    headers = await _sign_up_pending(client, monkeypatch)
    pending = "Your login is currently pending approval"
    r = await client.get("/api/v1/accounts/verify_credentials", headers=headers)
    assert r.status_code == 403 and r.json() == {"error": pending}
    r = await client.post("/api/v1/statuses", headers=headers, data={"status": "spam"})
    assert r.status_code == 403 and r.json() == {"error": pending}
    # with the token in the query string too (streaming clients send it there)
    token = headers["Authorization"].removeprefix("Bearer ")
    r = await client.get("/api/v1/timelines/home", params={"access_token": token})
    assert r.status_code == 403
    assert (await client.get("/api/v1/timelines/public")).json() == []
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Post)) == 0
    async with db.transaction() as session:
        await session.execute(update(User).values(approved=True))
    r = await client.post("/api/v1/statuses", headers=headers, data={"status": "hello"})
    assert r.status_code == 200
    assert [p["content"] for p in (await client.get("/api/v1/timelines/public")).json()] == [
        "<p>hello</p>"
    ]


async def test_an_admin_approves_a_pending_account_and_its_token_works(
    client, db, make_person, monkeypatch
):
    from helpers import make_admin

    headers = await _sign_up_pending(client, monkeypatch)
    admin = await make_admin(db, make_person)
    pending = (
        await client.get(
            "/api/v1/admin/accounts", headers=admin.headers, params={"pending": "true"}
        )
    ).json()
    assert [a["username"] for a in pending] == ["waiting"]
    target = pending[0]["id"]
    stranger = await make_person("stranger")
    r = await client.post(f"/api/v1/admin/accounts/{target}/approve", headers=stranger.headers)
    assert r.status_code == 403  # not an admin
    assert (
        await client.get("/api/v1/accounts/verify_credentials", headers=headers)
    ).status_code == 403
    r = await client.post(f"/api/v1/admin/accounts/{target}/approve", headers=admin.headers)
    assert r.status_code == 200 and r.json()["approved"] is True
    r = await client.get("/api/v1/accounts/verify_credentials", headers=headers)
    assert r.status_code == 200 and r.json()["username"] == "waiting"
    r = await client.post(f"/api/v1/admin/accounts/{target}/approve", headers=admin.headers)
    assert r.status_code == 403  # approved already


async def test_pending_account_streaming_token_is_not_valid(client, db, monkeypatch):
    from agora.auth.oauth import valid_token_ids
    from agora.db.models import AccessToken

    await _sign_up_pending(client, monkeypatch)
    async with db.session() as session:
        ids = set((await session.scalars(select(AccessToken.id))).all())
        account_tokens = set(
            (
                await session.scalars(
                    select(AccessToken.id).where(AccessToken.account_id.isnot(None))
                )
            ).all()
        )
        assert len(account_tokens) == 1
        assert await valid_token_ids(session, ids) == ids - account_tokens


async def test_standing_rule_and_its_sql_twin_agree(db, make_person):
    """`standing.refusal` (Python) and `standing.may_act` (SQL) on every state: active,
    suspended, pending, unconfirmed, unconfirmed and pending, suspended and pending, and an
    account without sign-in (assistant)."""
    from sqlalchemy import update

    from agora.auth.standing import PENDING, SUSPENDED, UNCONFIRMED, may_act, refusal
    from agora.db.models import Account, User, utcnow
    from agora.social.people.assistant_account import ensure_assistant

    names = ("ok", "susp", "pend", "both", "unconf", "unconf_pend")
    people = {name: await make_person(name) for name in names}
    async with db.transaction() as session:
        await ensure_assistant(session)
        ids = {name: person.id for name, person in people.items()}
        await session.execute(
            update(Account)
            .where(Account.id.in_([ids["susp"], ids["both"]]))
            .values(suspended_at=utcnow())
        )
        await session.execute(
            update(User)
            .where(User.account_id.in_([ids["pend"], ids["both"], ids["unconf_pend"]]))
            .values(approved=False)
        )
        await session.execute(
            update(User)
            .where(User.account_id.in_([ids["unconf"], ids["unconf_pend"]]))
            .values(confirmed_at=None)
        )
    async with db.session() as session:
        rows = (
            await session.execute(
                select(Account, User, may_act()).outerjoin(User, User.account_id == Account.id)
            )
        ).all()
    assert len(rows) == 7
    for account, user, sql_says in rows:
        assert (refusal(account, user) is None) == bool(sql_says), account.username
    said = {account.username: refusal(account, user) for account, user, _ in rows}
    assert said == {
        "ok": None,
        "susp": SUSPENDED,
        "pend": PENDING,
        "both": SUSPENDED,
        "unconf": UNCONFIRMED,
        "unconf_pend": UNCONFIRMED,
        "assistant": None,
    }
