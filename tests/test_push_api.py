"""Push subscriptions and Web Push delivery: /api/v1/push/subscription through HTTP, and the
pushes a real receiver (tests/push_receiver.py: decrypts RFC 8291, checks the VAPID JWT)
gets when the `web_push` jobs run. Nothing is mocked: the job encrypts with pywebpush, signs
with the server's VAPID key and POSTs through federation's guarded client to a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update

from agora.config import get_settings
from agora.db.models import AccessToken, Job, PushSubscription
from helpers import follow, post_status
from push_receiver import PushReceiver

SUBSCRIPTION = "/api/v1/push/subscription"


@pytest.fixture
def allow_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Push endpoints on 127.0.0.1 (the receiver) are allowed, as in local development."""
    monkeypatch.setenv("AGORA_FEDERATION_ALLOW_PRIVATE_ADDRESSES", "true")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def receiver() -> Iterator[PushReceiver]:
    found = PushReceiver().start()
    yield found
    found.stop()


async def _subscriptions(db: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(PushSubscription)) or 0)


async def _subscribe(client: Any, person: Any, receiver: PushReceiver, **kw: Any) -> Any:
    response = await client.post(SUBSCRIPTION, headers=person.headers, data=receiver.form(**kw))
    assert response.status_code == 200, response.text
    return response.json()


# --- the API ---------------------------------------------------------------------------------


async def test_subscription_lifecycle_and_the_server_key_everywhere(
    client: Any, make_person: Any, receiver: PushReceiver
) -> None:
    alice = await make_person("alice")
    made = await _subscribe(client, alice, receiver, mention=True, follow=True)
    assert made["endpoint"] == receiver.endpoint
    assert made["standard"] is True
    assert made["policy"] == "all"
    assert made["alerts"]["mention"] is True and made["alerts"]["follow"] is True
    assert made["alerts"]["favourite"] is False
    key = made["server_key"]
    assert len(key) == 87  # a P-256 point, base64url without padding
    instance = (await client.get("/api/v2/instance")).json()
    assert instance["configuration"]["vapid"]["public_key"] == key
    app = await client.post("/api/v1/apps", data={"client_name": "x", "scopes": "read push"})
    assert app.json()["vapid_key"] == key
    verified = await client.get("/api/v1/apps/verify_credentials", headers=alice.headers)
    assert verified.json()["vapid_key"] == key

    shown = await client.get(SUBSCRIPTION, headers=alice.headers)
    assert shown.status_code == 200 and shown.json() == made

    changed = await client.put(
        SUBSCRIPTION,
        headers=alice.headers,
        data={"data[alerts][favourite]": "true", "data[policy]": "followed"},
    )
    assert changed.status_code == 200
    assert changed.json()["policy"] == "followed"
    assert changed.json()["alerts"] | {} == made["alerts"] | {"favourite": True}

    again = await _subscribe(client, alice, receiver, standard=False, reblog=True)
    assert again["id"] != made["id"] and again["standard"] is False  # replaced: one per token
    assert again["alerts"]["reblog"] is True and again["alerts"]["mention"] is False

    gone = await client.delete(SUBSCRIPTION, headers=alice.headers)
    assert gone.status_code == 200 and gone.json() == {}
    assert (await client.get(SUBSCRIPTION, headers=alice.headers)).status_code == 404
    assert (await client.put(SUBSCRIPTION, headers=alice.headers, data={})).status_code == 404


async def test_someone_elses_subscription_is_not_found_and_left_alone(
    client: Any, db: Any, make_person: Any, receiver: PushReceiver
) -> None:
    alice = await make_person("alice")
    bob = await make_person("bob")
    made = await _subscribe(client, alice, receiver)
    for method in ("GET", "PUT"):
        answer = await client.request(method, SUBSCRIPTION, headers=bob.headers)
        assert answer.status_code == 404, method
        assert answer.json() == {"error": "Record not found"}
    assert (await client.delete(SUBSCRIPTION, headers=bob.headers)).status_code == 200
    # another token of the same person has no subscription of its own either
    from agora.auth import oauth

    async with db.session(write=True) as session:
        app_row = await oauth.register_app(
            session, name="other", redirect_uris=oauth.OOB, scopes="read push", website=None
        )
        issued = await oauth.issue_token(session, app_row, alice.id, ["read", "push"])
    other = {"Authorization": f"Bearer {issued.token}"}
    assert (await client.get(SUBSCRIPTION, headers=other)).status_code == 404
    assert (await client.get(SUBSCRIPTION, headers=alice.headers)).json() == made
    assert await _subscriptions(db) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subscription[endpoint]", ""),
        ("subscription[endpoint]", "ftp://push.example/x"),
        ("subscription[endpoint]", "not a url"),
        ("subscription[keys][p256dh]", "AAAA"),
        ("subscription[keys][p256dh]", "!!!"),
        ("subscription[keys][auth]", "c2hvcnQ"),
        ("data[policy]", "everyone"),
    ],
)
async def test_bad_values_are_422_and_change_nothing(
    client: Any, db: Any, make_person: Any, receiver: PushReceiver, field: str, value: str
) -> None:
    alice = await make_person("alice")
    made = await _subscribe(client, alice, receiver)
    form = receiver.form() | {field: value}
    answer = await client.post(SUBSCRIPTION, headers=alice.headers, data=form)
    assert answer.status_code == 422, answer.text
    assert "error" in answer.json()
    assert (await client.get(SUBSCRIPTION, headers=alice.headers)).json() == made
    assert await _subscriptions(db) == 1


async def test_a_bad_policy_on_update_is_422_and_changes_nothing(
    client: Any, make_person: Any, receiver: PushReceiver
) -> None:
    alice = await make_person("alice")
    made = await _subscribe(client, alice, receiver)
    answer = await client.put(
        SUBSCRIPTION,
        headers=alice.headers,
        data={"data[policy]": "strangers", "data[alerts][follow]": "true"},
    )
    assert answer.status_code == 422
    assert (await client.get(SUBSCRIPTION, headers=alice.headers)).json() == made


async def test_scopes_and_tokens(client: Any, make_person: Any, receiver: PushReceiver) -> None:
    reader = await make_person("reader", scopes="read write")
    answer = await client.post(SUBSCRIPTION, headers=reader.headers, data=receiver.form())
    assert answer.status_code == 403
    assert (await client.get(SUBSCRIPTION)).status_code == 401
    app = (await client.post("/api/v1/apps", data={"client_name": "x", "scopes": "push"})).json()
    token = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "push",
        },
    )
    app_only = {"Authorization": f"Bearer {token.json()['access_token']}"}
    answer = await client.post(SUBSCRIPTION, headers=app_only, data=receiver.form())
    assert answer.status_code == 422  # a push subscription needs a user


# --- delivery to a real receiver ---------------------------------------------------------------


@pytest.fixture
async def pair(
    client: Any, make_person: Any, receiver: PushReceiver, allow_loopback: None
) -> AsyncIterator[tuple[Any, Any]]:
    alice = await make_person("alice")
    bob = await make_person("bob")
    yield alice, bob


@pytest.mark.parametrize("standard", [True, False])
async def test_a_mention_is_pushed_encrypted_and_signed(
    client: Any, pair: Any, receiver: PushReceiver, run_jobs: Any, standard: bool
) -> None:
    alice, bob = pair
    server_key = (await _subscribe(client, alice, receiver, standard=standard))["server_key"]
    post = await post_status(client, bob, "hello @alice, a secret garden")
    await run_jobs()
    [push] = receiver.wait(1)
    assert push.headers["content-encoding"] == ("aes128gcm" if standard else "aesgcm")
    assert push.vapid_key == server_key
    message = push.message
    assert message["notification_type"] == "mention"
    assert message["title"] == "bob mentioned you"
    assert "secret garden" in message["body"]
    notes = (await client.get("/api/v1/notifications", headers=alice.headers)).json()
    assert message["notification_id"] == notes[0]["id"]
    assert notes[0]["status"]["id"] == post["id"]


async def test_muted_and_blocked_senders_are_never_pushed(
    client: Any, db: Any, make_person: Any, pair: Any, receiver: PushReceiver, run_jobs: Any
) -> None:
    alice, bob = pair
    carol = await make_person("carol")
    await _subscribe(client, alice, receiver)
    # a mute that keeps notifications in the list still pushes nothing
    muted = await client.post(
        f"/api/v1/accounts/{bob.id}/mute", headers=alice.headers, data={"notifications": "false"}
    )
    assert muted.status_code == 200
    await client.post(f"/api/v1/accounts/{carol.id}/block", headers=alice.headers)
    await post_status(client, bob, "@alice muted hello")
    await run_jobs()
    await post_status(client, carol, "@alice blocked hello")
    await run_jobs()
    notes = (await client.get("/api/v1/notifications", headers=alice.headers)).json()
    assert [n["account"]["username"] for n in notes] == ["bob"]  # listed, not pushed
    assert receiver.pushes == [] and receiver.failures == []
    # unmuted, the next one arrives
    await client.post(f"/api/v1/accounts/{bob.id}/unmute", headers=alice.headers)
    await post_status(client, bob, "@alice unmuted hello")
    await run_jobs()
    assert "unmuted hello" in receiver.wait(1)[0].message["body"]


async def test_a_mention_a_filter_hides_in_notifications_is_not_pushed(
    client: Any, pair: Any, receiver: PushReceiver, run_jobs: Any
) -> None:
    alice, bob = pair
    await _subscribe(client, alice, receiver)
    made = await client.post(
        "/api/v2/filters",
        headers=alice.headers,
        json={
            "title": "Food",
            "context": ["notifications"],
            "filter_action": "hide",
            "keywords_attributes": [{"keyword": "soup"}],
        },
    )
    assert made.status_code == 200
    await post_status(client, bob, "@alice soup tonight")
    await post_status(client, bob, "@alice films tonight")
    await run_jobs()
    [push] = receiver.wait(1)
    assert "films" in push.message["body"]
    await run_jobs()
    assert len(receiver.pushes) == 1


async def test_a_mute_made_before_the_job_runs_stops_the_push(
    client: Any, db: Any, pair: Any, receiver: PushReceiver, run_jobs: Any
) -> None:
    alice, bob = pair
    await _subscribe(client, alice, receiver)
    await post_status(client, bob, "@alice quick")
    await run_jobs()  # fan-out: the notification and its web_push job
    assert len(receiver.pushes) == 1
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Job)) == 0
    # the next one: the mute lands between the notification and its push
    from agora.jobs.worker import Worker

    await post_status(client, bob, "@alice later")
    worker = Worker(db, batch=1)
    for _ in range(10):  # run until the push job is the only one left
        async with db.session() as session:
            kinds = set(await session.scalars(select(Job.kind)))
        if kinds == {"web_push"}:
            break
        await worker.run_once()
    assert kinds == {"web_push"}
    await client.post(
        f"/api/v1/accounts/{bob.id}/mute", headers=alice.headers, data={"notifications": "false"}
    )
    await run_jobs()
    assert len(receiver.pushes) == 1


async def test_alerts_and_policy_decide_what_is_pushed(
    client: Any, db: Any, make_person: Any, pair: Any, receiver: PushReceiver, run_jobs: Any
) -> None:
    alice, bob = pair
    carol = await make_person("carol")
    await _subscribe(client, alice, receiver, mention=True, favourite=False)
    mine = await post_status(client, alice, "my post")
    await client.post(f"/api/v1/statuses/{mine['id']}/favourite", headers=bob.headers)
    await run_jobs()
    assert receiver.pushes == []  # favourite alert off
    changed = await client.put(
        SUBSCRIPTION, headers=alice.headers, data={"data[policy]": "followed"}
    )
    assert changed.json()["policy"] == "followed"
    await follow(client, alice, bob)
    await post_status(client, carol, "@alice from a stranger")
    await post_status(client, bob, "@alice from a friend")
    await run_jobs()
    [push] = receiver.wait(1)
    assert "from a friend" in push.message["body"]
    await client.put(SUBSCRIPTION, headers=alice.headers, data={"data[policy]": "follower"})
    await follow(client, carol, alice)
    await post_status(client, carol, "@alice from a follower")
    await post_status(client, bob, "@alice from someone alice follows")
    await run_jobs()
    assert [p.message["body"] for p in receiver.wait(2)][1].endswith("from a follower")
    await client.put(SUBSCRIPTION, headers=alice.headers, data={"data[policy]": "none"})
    await post_status(client, carol, "@alice none")
    await run_jobs()
    assert len(receiver.pushes) == 2
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Job)) == 0


async def test_a_gone_subscription_is_dropped(
    client: Any, db: Any, pair: Any, receiver: PushReceiver, run_jobs: Any
) -> None:
    alice, bob = pair
    await _subscribe(client, alice, receiver)
    receiver.status = 410
    await post_status(client, bob, "@alice are you there")
    await run_jobs()
    assert len(receiver.wait(1)) == 1
    assert await _subscriptions(db) == 0
    assert (await client.get(SUBSCRIPTION, headers=alice.headers)).status_code == 404


async def test_a_failing_push_service_is_retried(
    client: Any, db: Any, pair: Any, receiver: PushReceiver, run_jobs: Any
) -> None:
    alice, bob = pair
    await _subscribe(client, alice, receiver)
    receiver.status = 503
    await post_status(client, bob, "@alice retry me")
    await run_jobs()
    assert len(receiver.wait(1)) == 1
    async with db.session() as session:
        job = await session.scalar(select(Job).where(Job.kind == "web_push"))
        assert job is not None and job.attempts == 1 and job.state == "pending"
        assert "503" in (job.last_error or "")
    assert await _subscriptions(db) == 1


async def test_a_revoked_token_gets_no_push(
    client: Any, db: Any, pair: Any, receiver: PushReceiver, run_jobs: Any
) -> None:
    alice, bob = pair
    await _subscribe(client, alice, receiver)
    async with db.session(write=True) as session:
        await session.execute(
            update(AccessToken)
            .where(AccessToken.account_id == alice.id)
            .values(revoked_at=func.now())
        )
        await session.commit()
    await post_status(client, bob, "@alice hello")
    await run_jobs()
    assert receiver.pushes == []


async def test_private_addresses_are_refused_without_the_setting(
    client: Any, db: Any, make_person: Any, receiver: PushReceiver, run_jobs: Any
) -> None:
    assert get_settings().federation_allow_private_addresses is False
    alice = await make_person("alice")
    bob = await make_person("bob")
    await _subscribe(client, alice, receiver)  # accepted: the address is checked when sending
    await post_status(client, bob, "@alice hello")
    await run_jobs()
    assert receiver.pushes == []
    async with db.session() as session:
        job = await session.scalar(select(Job).where(Job.kind == "web_push"))
    assert job is not None and "not a public address" in (job.last_error or "")
