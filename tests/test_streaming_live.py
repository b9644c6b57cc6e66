"""Streaming against a real `agora serve`: a real WebSocket client (websockets), server-sent
events read with httpx, Mastodon.py's `stream_user`, clients that send garbage or never
read, and a prompt shutdown with streams open.

One server per module (its own database, in-process worker), with a short SSE heartbeat and
a small per-connection queue so that a stuck client is dropped quickly.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets
from mastodon import Mastodon, StreamListener

from live_server import wait_for
from streaming_clients import (
    SSE,
    Person,
    Server,
    api,
    connect,
    next_event,
    nothing_more,
    sign_up,
)

BACKEND = os.environ.get("AGORA_TEST_DATABASE", "sqlite")
SETTINGS = {"AGORA_STREAM_HEARTBEAT_SECONDS": "0.5", "AGORA_STREAM_QUEUE_SIZE": "64"}
STUCK = {"max_queue": 1, "compression": None}  # reads nothing once one frame is buffered


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    live = Server(BACKEND, extra_env=SETTINGS)
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def people(server: Server) -> dict[str, Person]:
    """alice (followed by bob), bob, carol (a stranger to both)."""
    found = {name: sign_up(server, name) for name in ("alice", "bob", "carol")}
    r = httpx.post(
        f"{server.url}/api/v1/accounts/{found['alice'].id}/follow",
        headers=found["bob"].headers,
    )
    assert r.status_code == 200, r.text
    return found


async def test_websocket_user_stream_with_the_token_as_protocol(server, people):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    async with connect(f"{server.ws_url}?stream=user", subprotocols=[bob.token]) as ws:
        assert ws.subprotocol == bob.token  # echoed back, as browsers require
        post = await api(server, alice, "POST", "/api/v1/statuses", status="hello bob")
        event = await next_event(ws)
        assert event["stream"] == ["user"] and event["event"] == "update"
        assert isinstance(event["payload"], str)
        assert json.loads(event["payload"])["id"] == post["id"]

        await api(server, alice, "PUT", f"/api/v1/statuses/{post['id']}", status="edited")
        event = await next_event(ws)
        assert event["event"] == "status.update"
        assert json.loads(event["payload"])["content"] == "<p>edited</p>"

        await api(server, carol, "POST", "/api/v1/statuses", status="hey @bob")
        event = await next_event(ws)
        note = json.loads(event["payload"])
        assert event["event"] == "notification" and note["type"] == "mention"
        assert note["account"]["username"] == "carol"

        await api(server, alice, "DELETE", f"/api/v1/statuses/{post['id']}")
        event = await next_event(ws)
        assert (event["event"], event["payload"]) == ("delete", post["id"])


async def test_websocket_subscriptions_and_garbage(server, people):
    alice, bob = people["alice"], people["bob"]
    async with connect(server.ws_url, additional_headers=bob.headers) as ws:
        for garbage, error in [
            ("not json", "Invalid message: not JSON"),
            ("[1, 2]", "Invalid message: expected a JSON object"),
            ('{"type": "dance"}', "Unknown message type"),
            ('{"type": "subscribe", "stream": "nope"}', "Unknown stream type"),
            ('{"type": "subscribe", "stream": "hashtag"}', "Missing tag name parameter"),
            ("x" * 10_000, "Message too long"),
        ]:
            await ws.send(garbage)
            assert await next_event(ws) == {"error": error, "status": 400}
        await ws.send(json.dumps({"type": "subscribe", "stream": "hashtag", "tag": "Cats"}))
        await ws.send(json.dumps({"type": "subscribe", "stream": "public:local"}))
        await asyncio.sleep(0.2)
        first = await api(server, alice, "POST", "/api/v1/statuses", status="#cats are nice")
        events = [await next_event(ws), await next_event(ws)]
        assert sorted(e["stream"] for e in events) == [["hashtag", "Cats"], ["public:local"]]
        assert {json.loads(e["payload"])["id"] for e in events} == {first["id"]}
        await ws.send(json.dumps({"type": "unsubscribe", "stream": "hashtag", "tag": "cats"}))
        await asyncio.sleep(0.2)
        second = await api(server, alice, "POST", "/api/v1/statuses", status="more #cats")
        event = await next_event(ws)  # still connected, still subscribed to public:local
        assert event["stream"] == ["public:local"]
        assert json.loads(event["payload"])["id"] == second["id"]
        assert await nothing_more(ws)
        await ws.send(b"\x00\x01binary")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003


async def test_websocket_authentication(server, people):
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(f"{server.ws_url}?access_token=nope"):
            pass
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body) == {"error": "Invalid access token"}
    async with connect(f"{server.ws_url}?stream=user") as ws:  # anonymous: public only
        assert await next_event(ws) == {"error": "Missing access token", "status": 401}
        await ws.send(json.dumps({"type": "subscribe", "stream": "public"}))
        post = await api(server, people["alice"], "POST", "/api/v1/statuses", status="for all")
        event = await next_event(ws)
        assert event["stream"] == ["public"] and json.loads(event["payload"])["id"] == post["id"]


async def test_a_list_stream(server, people):
    alice, bob = people["alice"], people["bob"]
    listed = await api(server, bob, "POST", "/api/v1/lists", title="friends")
    await api(
        server, bob, "POST", f"/api/v1/lists/{listed['id']}/accounts", **{"account_ids[]": alice.id}
    )
    url = f"{server.ws_url}?stream=list&list={listed['id']}"
    async with connect(url, additional_headers=bob.headers) as ws:
        await asyncio.sleep(0.2)
        post = await api(server, alice, "POST", "/api/v1/statuses", status="for the list")
        event = await next_event(ws)
        assert event["stream"] == ["list", listed["id"]] and event["event"] == "update"
        assert json.loads(event["payload"])["id"] == post["id"]
    async with connect(url, additional_headers=people["carol"].headers) as ws:  # not hers
        assert await next_event(ws) == {
            "error": "Not authorized to stream this list",
            "status": 401,
        }


async def test_server_sent_events(server, people):
    alice, carol = people["alice"], people["carol"]
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
        client.stream("GET", "/api/v1/streaming/public") as public,
        client.stream("GET", "/api/v1/streaming/user", headers=carol.headers) as stranger,
        client.stream("GET", "/api/v1/streaming/public/local?only_media=true") as media,
    ):
        assert public.status_code == stranger.status_code == media.status_code == 200
        assert public.headers["content-type"].startswith("text/event-stream")
        events, strangers_events = SSE(public), SSE(stranger)
        hidden = await api(
            server, alice, "POST", "/api/v1/statuses", status="shh", visibility="private"
        )
        shown = await api(server, alice, "POST", "/api/v1/statuses", status="hi all")
        kind, data = await events.next()
        assert kind == "update" and json.loads(data)["id"] == shown["id"]  # not `hidden`
        await asyncio.sleep(1.2)
        await api(server, alice, "DELETE", f"/api/v1/statuses/{shown['id']}")
        assert await events.next() == ("delete", shown["id"])
        assert events.comments[0] == ":)" and ":thump" in events.comments  # heartbeats
        await api(server, alice, "DELETE", f"/api/v1/statuses/{hidden['id']}")
        with pytest.raises(TimeoutError):  # a stranger's user stream got nothing at all
            await strangers_events.next(timeout=1.0)
        assert strangers_events.comments[0] == ":)"


def test_mastodon_py_stream_user(server, people):
    alice, bob = people["alice"], people["bob"]
    client = Mastodon(access_token=bob.token, api_base_url=server.url)
    received: dict[str, list[object]] = {"update": [], "notification": []}

    class Listener(StreamListener):
        def on_update(self, status: object) -> None:
            received["update"].append(status)

        def on_notification(self, notification: object) -> None:
            received["notification"].append(notification)

    handle = client.stream_user(Listener(), run_async=True, reconnect_async=False)
    try:
        time.sleep(0.3)
        author = Mastodon(access_token=alice.token, api_base_url=server.url)
        posted = author.status_post("streamed to Mastodon.py")
        wait_for(lambda: received["update"], 10, "an update")
        assert received["update"][0].id == posted.id
        assert received["update"][0].account.acct == "alice"
        author.status_favourite(author.status_post("like this, @bob"))
        wait_for(lambda: received["notification"], 10, "a notification")
        assert received["notification"][0].type == "mention"
    finally:
        handle.close()


async def test_a_client_that_never_reads_blocks_nobody(server, people):
    """A WebSocket client with 40 hashtag streams stops reading; each post sends it 40 large
    frames. The other listener keeps getting every post at once, and once the stuck client's
    socket buffers and its queue on the server are full, the server drops it."""
    tags = [f"t{n:02}" for n in range(40)]
    text = " ".join(f"#{tag}" for tag in tags)
    async with (
        connect(server.ws_url, additional_headers=people["carol"].headers, **STUCK) as stuck,
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
        client.stream("GET", "/api/v1/streaming/public") as reader,
    ):
        for tag in tags:
            await stuck.send(json.dumps({"type": "subscribe", "stream": "hashtag", "tag": tag}))
        await asyncio.sleep(0.3)
        events = SSE(reader)
        for n in range(40):
            post = await api(
                server, people["alice"], "POST", "/api/v1/statuses", status=f"{n} {text}"
            )
            kind, data = await events.next()
            assert kind == "update" and json.loads(data)["id"] == post["id"]
            if "dropped a streaming connection: too slow" in server.log():
                break
        else:
            raise AssertionError("the stuck connection was never dropped")
        with pytest.raises(websockets.ConnectionClosed):  # what it had, then the end
            while True:
                await asyncio.wait_for(stuck.recv(), 10)


def test_shutdown_with_streams_open_is_prompt(server):
    """Last in the module: it stops the module's server. Open event streams do not hold a
    graceful shutdown open; they are ended."""
    opened = threading.Event()
    ended: list[str] = []

    def listen() -> None:
        with httpx.stream("GET", f"{server.url}/api/v1/streaming/public", timeout=30) as r:
            opened.set()
            for _ in r.iter_lines():
                pass
        ended.append("sse")

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert opened.wait(10)
    time.sleep(0.3)
    started = time.monotonic()
    assert server.process is not None
    server.process.terminate()
    server.process.wait(15)
    assert time.monotonic() - started < 8  # without closing the streams: never (uvicorn waits)
    thread.join(5)
    assert ended == ["sse"]  # the stream was ended, not left hanging
