"""Push notifications end to end: `agora serve` as a real process (its own in-process worker),
Mastodon.py subscribing as phone apps do, and a real Web Push receiver on a loopback port
(tests/push_receiver.py) that decrypts every push and checks its VAPID JWT. A mention must
reach it within seconds of the post's answer; a muted sender's must not; a 410 removes the
subscription. On SQLite, or on PostgreSQL with AGORA_TEST_DATABASE=postgresql."""

from __future__ import annotations

import base64
import os
import statistics
import time
from collections.abc import Iterator

import pytest
from mastodon import Mastodon, MastodonNotFoundError

from live_server import LiveServer, wait_for
from push_receiver import PushReceiver

PASSWORD = "correct horse battery"
SECONDS = 5.0  # a mention reaches the receiver within this (p50 is printed, ~0.1 s here)


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer(
        os.environ.get("AGORA_TEST_DATABASE", "sqlite"),
        extra_env={"AGORA_FEDERATION_ALLOW_PRIVATE_ADDRESSES": "true"},
    )
    live.start()
    try:
        yield live
    finally:
        live.stop()


def _person(server: LiveServer, keys: tuple[str, str], name: str) -> Mastodon:
    api = Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=server.url)
    api.create_account(name, PASSWORD, f"{name}@example.org", agreement=True)
    return api


@pytest.fixture
def receiver() -> Iterator[PushReceiver]:
    found = PushReceiver().start()
    yield found
    found.stop()


def _keys_of(receiver: PushReceiver) -> dict[str, bytes]:
    """The receiver's keys in the shape Mastodon.py's push_subscription_set takes."""
    point = base64.urlsafe_b64decode(receiver.p256dh + "=")
    return {"pubkey": point, "auth": receiver.auth}


def test_mastodon_py_subscribes_and_a_mention_is_pushed_within_seconds(
    server: LiveServer, receiver: PushReceiver
) -> None:
    keys = Mastodon.create_app("agora push", api_base_url=server.url)
    ana = _person(server, keys, "ana")
    ben = _person(server, keys, "ben")
    cleo = _person(server, keys, "cleo")
    server_key = ana.instance_v2().configuration.vapid.public_key
    made = ana.push_subscription_set(receiver.endpoint, _keys_of(receiver), mention_events=True)
    assert made.endpoint == receiver.endpoint and made.alerts.mention is True
    assert made.server_key == server_key and made.policy == "all"
    assert ana.push_subscription().id == made.id

    waits = []
    for n in range(8):
        before = len(receiver.pushes)
        sent = time.monotonic()
        ben.status_post(f"@ana ping {n}")
        push = receiver.wait(before + 1, timeout=SECONDS)[-1]
        waits.append(push.received_at - sent)
        assert push.message["notification_type"] == "mention"
        assert push.message["body"].endswith(f"ping {n}")
        assert push.vapid_key == server_key
    print(f"\npush latency after the post returned: p50 {statistics.median(waits) * 1000:.0f} ms")

    # muted: the notification is listed, nothing is pushed
    cleo_id = cleo.account_verify_credentials().id
    ana.account_mute(cleo_id, notifications=False)
    cleo.status_post("@ana muted ping")
    wait_for(
        lambda: any(n.account.id == cleo_id for n in ana.notifications()),
        SECONDS,
        "the muted mention to be listed",
    )
    ben.status_post("@ana after the muted one")
    pushes = receiver.wait(len(waits) + 1, timeout=SECONDS)
    assert [p.message["body"] for p in pushes][-1].endswith("after the muted one")
    assert not any("muted ping" in p.message["body"] for p in pushes)

    # the push service says the subscription is gone: Agora forgets it
    receiver.status = 410
    ben.status_post("@ana gone?")
    receiver.wait(len(pushes) + 1, timeout=SECONDS)
    wait_for(lambda: _gone(ana), SECONDS, "the subscription to be dropped")
    updated = ana.push_subscription_set(receiver.endpoint, _keys_of(receiver), follow_events=True)
    assert updated.alerts.follow is True and updated.alerts.mention is False
    ana.push_subscription_delete()
    assert _gone(ana)


def _gone(api: Mastodon) -> bool:
    try:
        api.push_subscription()
    except MastodonNotFoundError:
        return True
    return False
