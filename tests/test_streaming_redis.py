"""Streaming over Redis pub/sub: the bus itself, and two `agora serve` processes sharing one
database and one Redis channel, where a post made through one server reaches a listener
connected to the other. Skipped when no Redis answers on 127.0.0.1:6379."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
from collections.abc import Iterator

import pytest

from agora.events.redis_bus import RedisBus
from streaming_clients import Server, api, connect, next_event, sign_up

REDIS_URL = os.environ.get("AGORA_TEST_REDIS", "redis://127.0.0.1:6379/0")
BACKEND = os.environ.get("AGORA_TEST_DATABASE", "sqlite")


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")


def _channel() -> str:
    return f"agora-test:{secrets.token_hex(4)}"


async def test_the_redis_bus_carries_events_between_buses():
    channel = _channel()
    publisher, listener = RedisBus(REDIS_URL, channel), RedisBus(REDIS_URL, channel)
    subscription = listener.subscribe()
    try:
        await asyncio.wait_for(listener.listening.wait(), 5)
        assert listener.healthy()
        await publisher._client.publish(channel, b"not json")  # ignored, not fatal
        await publisher._client.publish(channel, b"[1, 2]")
        publisher.publish({"event": "update", "post_id": 1})
        publisher.publish({"event": "delete", "post_id": 1})
        got = [await asyncio.wait_for(subscription.get(), 5) for _ in range(2)]
        assert got == [{"event": "update", "post_id": 1}, {"event": "delete", "post_id": 1}]
    finally:
        subscription.close()
        await publisher.close()
        await listener.close()


async def test_an_unreachable_redis_is_survived():
    bus = RedisBus("redis://127.0.0.1:1/0", _channel())  # nothing listens on port 1
    subscription = bus.subscribe()
    try:
        bus.publish({"event": "update", "post_id": 1})  # never raises
        await asyncio.sleep(0.5)
        assert not bus.healthy()
    finally:
        subscription.close()
        await bus.close()


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Server, Server]]:
    env = {"AGORA_REDIS_URL": REDIS_URL, "AGORA_STREAMING_CHANNEL": _channel()}
    first = Server(BACKEND, extra_env=env)
    first.start()
    second = Server("shared", extra_env=env, shared_database_url=first.database_url)
    try:
        second.start()
        yield first, second
    finally:
        second.stop()
        first.stop()


async def test_a_post_through_one_server_reaches_a_listener_on_the_other(servers):
    first, second = servers
    alice, bob = sign_up(first, "alice"), sign_up(second, "bob")
    await api(second, bob, "POST", f"/api/v1/accounts/{alice.id}/follow")
    async with connect(f"{second.ws_url}?stream=user", subprotocols=[bob.token]) as ws:
        await asyncio.sleep(0.3)
        post = await api(first, alice, "POST", "/api/v1/statuses", status="across processes")
        event = await next_event(ws)
        assert event["event"] == "update" and json.loads(event["payload"])["id"] == post["id"]
        await api(first, alice, "POST", "/api/v1/statuses", status="hello @bob")
        kinds = {(await next_event(ws))["event"] for _ in range(2)}  # the post, the mention
        assert kinds == {"update", "notification"}
    for server in servers:
        health = await asyncio.to_thread(_health, server)
        assert health == (200, "OK")


def _health(server: Server) -> tuple[int, str]:
    import httpx

    r = httpx.get(f"{server.url}/api/v1/streaming/health")
    return r.status_code, r.text
