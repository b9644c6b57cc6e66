"""The in-process streaming harness shared by the streaming tests: a hub fed by hand from a
bus subscription, so every effect is deterministic (fixture `harness` in conftest)."""

from __future__ import annotations

from typing import Any

from agora.api.stream_payloads import MASTODON_PAYLOADS
from agora.events.bus import Subscription
from agora.events.process_bus import get_bus
from agora.http.streaming.hub import Hub, Listener
from agora.social.live.streams import StreamViewer, open_stream

READ = frozenset({"read"})


class Harness:
    """A hub fed by hand from a bus subscription."""

    def __init__(self, db: Any, subscription: Subscription) -> None:
        self.db = db
        self.subscription = subscription
        self.hub = Hub(db, get_bus(), MASTODON_PAYLOADS, queue_size=64)

    async def listen(
        self, person: Any = None, name: str = "user", scopes: frozenset[str] = READ, **params: Any
    ) -> Listener:
        """A listener (SSE wire) on one stream, as `person` (None: anonymous), opened after
        every event published so far has been dispatched."""
        await self.pump()
        viewer = StreamViewer(person.id, None, scopes) if person else StreamViewer()
        async with self.db.session() as session:
            stream = await open_stream(session, viewer, name, params)
        listener = self.hub.connect(viewer, "sse")
        self.hub.subscribe(listener, stream)
        return listener

    async def pump(self) -> None:
        """Dispatch every event published so far."""
        for event in self.subscription.drain():
            await self.hub.dispatch(event)
