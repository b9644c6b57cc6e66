"""The event bus over Redis pub/sub: every process publishes to, and listens on, one channel.

Publishing never waits: events go into a bounded outbox that one task sends in order. One
listening task per process receives the channel and hands events to local subscribers. Both
tasks survive Redis going away (they log, back off and reconnect); events published while
Redis is unreachable are dropped after a few attempts, since live delivery is best effort.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import orjson
import redis.asyncio as redis
from redis.exceptions import RedisError

from agora.events.bus import Subscription
from agora.events.event_kinds import LiveEvent

log = logging.getLogger("agora.events")
OUTBOX_SIZE = 10_000
SEND_ATTEMPTS = 3
MAX_BACKOFF = 5.0


class RedisBus:
    """Publish and subscribe across processes through a Redis channel."""

    def __init__(self, url: str, channel: str) -> None:
        self.channel = channel
        self._client: Any = redis.from_url(url)
        self._outbox: asyncio.Queue[bytes] | None = None
        self._subscriptions: set[Subscription] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._publisher: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    def healthy(self) -> bool:
        """True while this process is subscribed to the channel (or needs no subscription)."""
        return self._listener is None or self.listening.is_set()

    def publish(self, event: LiveEvent) -> None:
        """Queue the event for Redis (dropped with a warning when the outbox is full)."""
        if self._outbox is None:
            self._outbox = asyncio.Queue(maxsize=OUTBOX_SIZE)
            self._publisher = self._start(self._publish_forever())
        try:
            self._outbox.put_nowait(orjson.dumps(event))
        except asyncio.QueueFull:
            log.warning("redis event outbox full; a live event was dropped")

    def subscribe(self) -> Subscription:
        """Receive every event published on the channel, by any process."""
        subscription = Subscription(on_close=self._subscriptions.discard)
        self._subscriptions.add(subscription)
        if self._listener is None:
            self._listener = self._start(self._listen_forever())
        return subscription

    def _start(self, coro: Any) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.append(task)
        return task

    async def _publish_forever(self) -> None:
        assert self._outbox is not None
        while True:
            data = await self._outbox.get()
            try:
                await self._send(data)
            except Exception:
                log.exception("could not publish a live event")
            finally:
                self._outbox.task_done()

    async def _send(self, data: bytes) -> None:
        for attempt in range(SEND_ATTEMPTS):
            try:
                await self._client.publish(self.channel, data)
                return
            except (RedisError, OSError) as exc:
                log.warning("redis publish failed (%s); attempt %d", exc, attempt + 1)
                await asyncio.sleep(min(MAX_BACKOFF, 0.2 * 2**attempt))
        log.error("a live event was dropped: redis unreachable")

    async def _listen_forever(self) -> None:
        backoff = 0.2
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.listening.set()
                backoff = 0.2
                async for message in pubsub.listen():
                    self._deliver(message)
            except (RedisError, OSError) as exc:
                log.warning("redis subscription lost (%s); reconnecting", exc)
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(MAX_BACKOFF, backoff * 2)

    def _deliver(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            event = orjson.loads(message["data"])
        except orjson.JSONDecodeError:
            log.warning("ignored a malformed event on %s", self.channel)
            return
        if not isinstance(event, dict):
            return
        for subscription in list(self._subscriptions):
            subscription.offer(event)

    async def close(self) -> None:
        """Send what is queued (for up to two seconds), then stop and disconnect."""
        if self._outbox is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.join(), 2.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self._client.aclose()
