"""Browser notifications in the web app, over HTTP: the settings page, a web session's own
subscription (the same table and `web_push` jobs as the API's), the service worker script.
The real browser and its service worker: test_push_browser.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from agora.config import get_settings
from agora.db.models import PushSubscription
from helpers import post_status, web_sign_in
from push_receiver import PushReceiver


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[PushReceiver]:
    monkeypatch.setenv("AGORA_FEDERATION_ALLOW_PRIVATE_ADDRESSES", "true")
    get_settings.cache_clear()
    found = PushReceiver().start()
    yield found
    found.stop()
    get_settings.cache_clear()


def _fields(receiver: PushReceiver) -> dict[str, str]:
    return {"endpoint": receiver.endpoint, "p256dh": receiver.p256dh, "auth": receiver.auth_secret}


async def _count(db: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(PushSubscription)) or 0)


async def test_a_browser_subscribes_gets_pushes_and_signs_out(
    client: Any, db: Any, make_person: Any, receiver: PushReceiver, run_jobs: Any
) -> None:
    alice = await make_person("alice")
    bob = await make_person("bob")
    csrf = await web_sign_in(client, "alice")
    page = await client.get("/settings/notifications")
    assert page.status_code == 200
    key = (await client.get("/api/v2/instance")).json()["configuration"]["vapid"]["public_key"]
    assert f'data-vapid-key="{key}"' in page.text and 'data-subscribed="false"' in page.text
    made = await client.post(
        "/web/push/subscription", data=_fields(receiver), headers={"X-CSRF-Token": csrf}
    )
    assert made.status_code == 200, made.text
    assert 'data-subscribed="true"' in (await client.get("/settings/notifications")).text
    # the API token of the same person has no subscription: each holder has its own
    assert (await client.get("/api/v1/push/subscription", headers=alice.headers)).status_code == 404

    await post_status(client, bob, "@alice look at this")
    await run_jobs()
    [push] = receiver.wait(1)
    assert push.headers["content-encoding"] == "aes128gcm"
    assert push.message["title"] == "bob mentioned you"

    off = await client.post("/web/push/unsubscribe", headers={"X-CSRF-Token": csrf})
    assert off.status_code == 200 and await _count(db) == 0
    await client.post(
        "/web/push/subscription", data=_fields(receiver), headers={"X-CSRF-Token": csrf}
    )
    assert await _count(db) == 1
    await client.post("/auth/sign_out", data={"csrf": csrf})
    assert await _count(db) == 0  # the session's subscription ends with it


async def test_bad_values_csrf_and_signed_out(
    client: Any, db: Any, make_person: Any, receiver: PushReceiver
) -> None:
    await make_person("alice")
    csrf = await web_sign_in(client, "alice")
    bad = _fields(receiver) | {"p256dh": "nope"}
    answer = await client.post("/web/push/subscription", data=bad, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 422 and await _count(db) == 0
    answer = await client.post("/web/push/subscription", data=_fields(receiver))
    assert answer.status_code == 403 and await _count(db) == 0  # no CSRF token
    await client.post("/auth/sign_out", data={"csrf": csrf})
    assert (await client.get("/settings/notifications")).status_code == 303


async def test_the_service_worker_is_served_at_the_root(client: Any) -> None:
    answer = await client.get("/sw.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["service-worker-allowed"] == "/"
    assert 'addEventListener("push"' in answer.text and "showNotification" in answer.text
