"""The event bus: how live events get from the job that produced them to every server
process that streams them.

An event is a small JSON-ready dict naming what happened by ids (`{"event": "update",
"post_id": 1}`), never a rendered entity: each server process renders it for its own
listeners, through the visibility rule (see social/live/streams.py and http/streaming/hub.py).

This module holds the interface (`EventBus`, `Subscription`) and `InProcessBus`, the default
(one process serves everything); `RedisBus` (redis_bus.py) is the other implementation, used
when `AGORA_REDIS_URL` is set, so that several server processes and `agora worker` processes
share one stream of events. `process_bus.get_bus` picks one per process, and
`publishing.publish_after_commit` sends an event only once the transaction that produced it has
committed. Delivery is best effort (a client that reconnects reloads its timeline), and every
buffer is bounded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from agora.events.event_kinds import LiveEvent

log = logging.getLogger("agora.events")

# An event as a subscriber receives it: a JSON object, maybe from another process (or version),
# so read defensively; what producers publish is a `LiveEvent` (events/event_kinds.py).
Event = Mapping[str, Any]
SUBSCRIPTION_BACKLOG = 10_000


class Subscription:
    """One consumer's view of the bus: an async iterator with a bounded backlog (events that
    do not fit are dropped with a warning rather than growing memory)."""

    def __init__(self, on_close: Any = None, backlog: int = SUBSCRIPTION_BACKLOG) -> None:
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=backlog)
        self._on_close = on_close
        self.dropped = 0

    def offer(self, event: Event) -> None:
        """Hand an event to this subscriber without waiting."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("event subscriber is behind; %d event(s) dropped", self.dropped)

    async def get(self) -> Event:
        """The next event (waits for one)."""
        return await self._queue.get()

    def drain(self) -> list[Event]:
        """Every event waiting now, without waiting for more."""
        events = []
        while not self._queue.empty():
            events.append(self._queue.get_nowait())
        return events

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self._queue.get()

    def close(self) -> None:
        """Stop receiving events."""
        if self._on_close is not None:
            self._on_close(self)
            self._on_close = None


class EventBus(Protocol):
    """What producers and consumers of live events need."""

    def publish(self, event: LiveEvent) -> None:
        """Send an event to every subscriber, in every process (never waits)."""

    def subscribe(self) -> Subscription:
        """Start receiving every event published from now on."""

    async def close(self) -> None:
        """Deliver what is still buffered (briefly) and release connections."""

    def healthy(self) -> bool:
        """True when events can flow (the health endpoint reports it)."""


class InProcessBus:
    """Publish and subscribe inside one process."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def publish(self, event: LiveEvent) -> None:
        """Offer the event to every subscriber of this process."""
        for subscription in list(self._subscriptions):
            subscription.offer(event)

    def subscribe(self) -> Subscription:
        """A new subscription; `close()` it when done."""
        subscription = Subscription(on_close=self._subscriptions.discard)
        self._subscriptions.add(subscription)
        return subscription

    async def close(self) -> None:
        """Nothing to flush."""

    def healthy(self) -> bool:
        """Always: nothing outside the process is involved."""
        return True
