"""The streaming hub of one server process: its open connections (`Listener`s), what each
streams, and the dispatch of every event from the bus to the listeners that may receive it.

For each event the hub gathers who listens here (`Candidates`), asks the service layer who
among them receives it (social/live/audience.py: the timelines' rules and the visibility
rule, in a few queries whatever the number of listeners), renders the payload once per
distinct viewer state with the `Payloads` the application gives it (the API's Mastodon
entities, api/stream_payloads.py: this layer imports no door) and hands ready-made frames to
the listeners.

A listener never blocks the hub: frames go into a bounded queue without waiting, and a
listener whose queue is full (a client that does not read) is closed and forgotten.
Events are handled one at a time, in order, so an `update` never overtakes its `delete`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agora.auth.oauth import valid_token_ids
from agora.db.engine import Database
from agora.events.bus import Event, EventBus, Subscription
from agora.events.event_kinds import ANNOUNCEMENT_EVENTS, EventName
from agora.events.process_bus import close_bus, get_bus
from agora.http.streaming.frames import SSE_HEARTBEAT, sse_frame, ws_frame
from agora.metrics import STREAMING_CONNECTIONS
from agora.social.live.audience import Candidates, deletion_audience, post_audience
from agora.social.live.streams import (
    MEDIA_PUBLIC,
    PUBLIC_STREAMS,
    TAG_STREAMS,
    Stream,
    StreamViewer,
    event_id,
    filter_context,
    public_streams,
    tag_streams,
)

log = logging.getLogger("agora.streaming")
TOKEN_RECHECK_SECONDS = 60.0
MAX_STREAMS_PER_CONNECTION = 100
Frame = str | bytes


@dataclass(frozen=True, slots=True)
class Payloads:
    """How the hub renders events: a post for a set of viewers (a JSON string for each who
    may see it), a notification for its recipient (None when it may no longer be shown), an
    announcement for everyone (None when it is no longer shown)."""

    statuses: Callable[
        [AsyncSession, int, set[int | None], str], Awaitable[dict[int | None, str]]
    ]  # the last argument: the filter context the post is shown in (`filter_context`)
    notification: Callable[[AsyncSession, int, int], Awaitable[str | None]]
    conversation: Callable[[AsyncSession, int, int], Awaitable[str | None]]
    announcement: Callable[[AsyncSession, int], Awaitable[str | None]]


class Listener:
    """One open streaming connection (an SSE response or a WebSocket)."""

    def __init__(self, viewer: StreamViewer, wire: str, queue_size: int) -> None:
        self.viewer = viewer
        self.wire = wire  # "sse" or "ws"
        self.streams: dict[tuple[str, Any], Stream] = {}
        self._frames: asyncio.Queue[Frame] = asyncio.Queue(maxsize=max(1, queue_size))
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.close_code = 1000

    def frame(self, stream: Stream, event: str, payload: str) -> Frame:
        """This connection's wire form of one event."""
        if self.wire == "sse":
            return sse_frame(event, payload)
        return ws_frame(stream.label, event, payload)

    def offer(self, frame: Frame) -> bool:
        """Queue a frame without waiting; False (and closed) when the queue is full."""
        if self.closed.is_set():
            return False
        try:
            self._frames.put_nowait(frame)
            return True
        except asyncio.QueueFull:
            self.close(f"too slow: {self._frames.qsize()} messages waiting", 1013)
            return False

    async def next_frame(self) -> Frame:
        """The next frame to send (waits for one)."""
        return await self._frames.get()

    def pending(self) -> int:
        """Frames waiting to be sent."""
        return self._frames.qsize()

    def close(self, reason: str, code: int = 1000) -> None:
        """Ask the connection to end (its handler sees `closed`); `code` is the WebSocket
        close code (1013 too slow, 1008 token revoked, 1001 server going away)."""
        if not self.closed.is_set():
            self.close_reason, self.close_code = reason, code
            self.closed.set()


def _key(stream: Stream) -> tuple[str, Any]:
    return (stream.name, stream.key)


class Hub:
    """Every listener of this process and the task that feeds them from the bus."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        payloads: Payloads,
        queue_size: int = 256,
        heartbeat: float = 15.0,
    ) -> None:
        self.db = db
        self.bus = bus
        self.payloads = payloads
        self.queue_size = queue_size
        self.heartbeat = heartbeat
        self.listeners: set[Listener] = set()
        self._index: dict[str, dict[Any, set[Listener]]] = defaultdict(lambda: defaultdict(set))
        self._subscription: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.restore_signals: Callable[[], None] = lambda: None
        self._frame_cache: dict[tuple[str, tuple[str, ...], str, str], Frame] = {}

    # -- connections -------------------------------------------------------------------------

    def connect(self, viewer: StreamViewer, wire: str) -> Listener:
        """Register a new connection."""
        listener = Listener(viewer, wire, self.queue_size)
        self.listeners.add(listener)
        STREAMING_CONNECTIONS.labels(wire).inc()
        return listener

    def subscribe(self, listener: Listener, stream: Stream) -> bool:
        """Add a stream to a connection; False when it has too many already."""
        if _key(stream) in listener.streams:
            return True
        if len(listener.streams) >= MAX_STREAMS_PER_CONNECTION:
            return False
        listener.streams[_key(stream)] = stream
        self._index[stream.name][stream.key].add(listener)
        return True

    def unsubscribe(self, listener: Listener, stream: Stream) -> None:
        """Remove a stream from a connection (no-op when it was not subscribed)."""
        if listener.streams.pop(_key(stream), None) is not None:
            self._forget(listener, stream)

    def disconnect(self, listener: Listener) -> None:
        """Forget a connection and everything it streamed."""
        for stream in listener.streams.values():
            self._forget(listener, stream)
        listener.streams.clear()
        if listener in self.listeners:
            self.listeners.discard(listener)
            STREAMING_CONNECTIONS.labels(listener.wire).dec()
        listener.close(listener.close_reason or "disconnected")

    def _forget(self, listener: Listener, stream: Stream) -> None:
        by_key = self._index.get(stream.name)
        if by_key is None or stream.key not in by_key:
            return
        by_key[stream.key].discard(listener)
        if not by_key[stream.key]:
            del by_key[stream.key]

    def close_all(self, reason: str) -> None:
        """End every connection (at shutdown)."""
        for listener in list(self.listeners):
            listener.close(reason, 1001)

    def _deliver(self, listener: Listener, stream: Stream, event: str, payload: str) -> None:
        """Queue one event for one listener; the wire form is built once per distinct
        (wire, stream, event, payload) of the event being dispatched."""
        key = (listener.wire, stream.label, event, payload)
        frame = self._frame_cache.get(key)
        if frame is None:
            frame = self._frame_cache[key] = listener.frame(stream, event, payload)
        if not listener.offer(frame):
            log.warning("dropped a streaming connection: %s", listener.close_reason)
            self.disconnect(listener)

    def _streaming(self, name: str, key: Any) -> Iterator[tuple[Listener, Stream]]:
        for listener in list(self._index.get(name, {}).get(key, ())):
            stream = listener.streams.get((name, key))
            if stream is not None:
                yield listener, stream

    # -- running -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to the bus and start dispatching."""
        self._subscription = self.bus.subscribe()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(coro)
            for coro in (self._run(), self._recheck_tokens(), self._heartbeats())
        ]

    def running(self) -> bool:
        """True while events are being dispatched."""
        return bool(self._tasks) and not self._tasks[0].done()

    async def stop(self) -> None:
        """Close every connection and stop dispatching."""
        self.close_all("server shutting down")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._subscription is not None:
            self._subscription.close()

    async def _run(self) -> None:
        assert self._subscription is not None
        async for event in self._subscription:
            try:
                await self.dispatch(event)
            except Exception:
                log.exception("could not dispatch a live event %r", event.get("event"))

    async def dispatch(self, event: Event) -> None:
        """Deliver one event to the listeners of this process that may receive it."""
        kind = event.get("event")
        if not self.listeners:
            return
        self._frame_cache.clear()
        try:
            if kind in (EventName.UPDATE, EventName.STATUS_UPDATE):
                await self._post(event, kind)
            elif kind == EventName.DELETE:
                await self._deletion(event)
            elif kind == EventName.NOTIFICATION:
                await self._notification(event)
            elif kind == EventName.CONVERSATION:
                await self._conversation(event)
            elif kind in ANNOUNCEMENT_EVENTS:
                await self._announcement(event, str(kind))
        finally:
            self._frame_cache.clear()

    async def _announcement(self, event: Event, kind: str) -> None:
        """An announcement's change goes to every `user` stream, the same payload for all:
        the Announcement (rendered once), a reaction's `{name, count, announcement_id}`, or
        the deleted announcement's id."""
        announcement_id = event_id(event, "announcement_id")
        if announcement_id is None or not self._index.get("user"):
            return
        payload: str | None
        if kind == EventName.ANNOUNCEMENT:
            async with self.db.session() as session:
                payload = await self.payloads.announcement(session, announcement_id)
        elif kind == EventName.ANNOUNCEMENT_REACTION:
            payload = json.dumps(
                {
                    "name": str(event.get("name")),
                    "count": int(event.get("count") or 0),
                    "announcement_id": str(announcement_id),
                }
            )
        else:
            payload = str(announcement_id)
        if payload is None:
            return
        for account_id in list(self._index.get("user", {})):
            for listener, stream in self._streaming("user", account_id):
                self._deliver(listener, stream, kind, payload)

    def _candidates(self) -> Candidates:
        found = Candidates(home=set(self._index.get("user", {})))
        for name in PUBLIC_STREAMS:
            for key, listeners in self._index.get(name, {}).items():
                found.public.update(listener.viewer.account_id for listener in listeners)
                if name in TAG_STREAMS:
                    found.tags.add(key)
        found.lists = set(self._index.get("list", {}))
        found.media = any(self._index.get(name) for name in MEDIA_PUBLIC)
        return found

    async def _post(self, event: Event, kind: str) -> None:
        post_id = event_id(event, "post_id")
        candidates = self._candidates()
        if post_id is None or not candidates:
            return
        async with self.db.session() as session:
            audience = await post_audience(session, post_id, candidates)
            if audience is None:
                return
            targets = list(self._post_targets(audience))
            by_context: dict[str, set[int | None]] = {}
            for listener, stream in targets:
                by_context.setdefault(filter_context(stream), set()).add(listener.viewer.account_id)
            payloads = {
                context: await self.payloads.statuses(session, post_id, viewers, context)
                for context, viewers in by_context.items()
            }
        for listener, stream in targets:
            payload = payloads[filter_context(stream)].get(listener.viewer.account_id)
            if payload is not None:
                self._deliver(listener, stream, kind, payload)

    def _post_targets(self, audience: Any) -> Iterator[tuple[Listener, Stream]]:
        for account_id in audience.home:
            yield from self._streaming("user", account_id)
        names = public_streams(local=audience.local, media=audience.media)
        public = [(n, None) for n in names if audience.public]
        tagged = [(n, t) for n in tag_streams(local=audience.local) for t in audience.tags]
        for name, key in public + tagged:
            for listener, stream in self._streaming(name, key):
                if listener.viewer.account_id in audience.listed:
                    yield listener, stream
        for list_id in audience.lists:
            yield from self._streaming("list", list_id)

    async def _deletion(self, event: Event) -> None:
        if event_id(event, "post_id") is None or event_id(event, "account_id") is None:
            return
        candidates = self._candidates()
        list_streams = [pair for key in candidates.lists for pair in self._streaming("list", key)]
        candidates.home |= {
            viewer
            for listener, _ in list_streams
            if (viewer := listener.viewer.account_id) is not None
        }
        async with self.db.session() as session:
            audience = await deletion_audience(session, event, candidates)
        user_streams = [
            pair for account_id in audience.home for pair in self._streaming("user", account_id)
        ]
        for listener, stream in user_streams + list_streams:
            for deleted in audience.home.get(listener.viewer.account_id or 0, ()):  # 0: nobody
                self._deliver(listener, stream, "delete", str(deleted))
        names = public_streams(local=audience.local, media=True)
        public = [(n, None) for n in names if audience.public]
        tagged = [(n, t) for n in tag_streams(local=audience.local) for t in audience.tags]
        for name, key in public + tagged:
            for listener, stream in self._streaming(name, key):
                self._deliver(listener, stream, "delete", str(event["post_id"]))

    async def _notification(self, event: Event) -> None:
        account_id = event_id(event, "account_id")
        note_id = event_id(event, "notification_id")
        if account_id is None or note_id is None:
            return
        targets = [
            (listener, stream)
            for name in ("user", "user:notification")
            for listener, stream in self._streaming(name, account_id)
            if name == "user:notification" or listener.viewer.notifications_allowed
        ]
        if not targets:
            return
        async with self.db.session() as session:
            payload = await self.payloads.notification(session, account_id, note_id)
        if payload is not None:
            for listener, stream in targets:
                self._deliver(listener, stream, "notification", payload)

    async def _conversation(self, event: Event) -> None:
        account_id = event_id(event, "account_id")
        conversation_id = event_id(event, "conversation_id")
        if account_id is None or conversation_id is None:
            return
        targets = list(self._streaming("direct", account_id))
        if not targets:
            return
        async with self.db.session() as session:
            payload = await self.payloads.conversation(session, account_id, conversation_id)
        if payload is not None:
            for listener, stream in targets:
                self._deliver(listener, stream, "conversation", payload)

    async def _heartbeats(self) -> None:
        """`:thump` to every SSE connection every `heartbeat` seconds (WebSockets have their
        pings); a connection that stopped reading fills up with them and is dropped."""
        while True:
            await asyncio.sleep(self.heartbeat)
            for listener in list(self.listeners):
                if listener.wire == "sse" and not listener.offer(SSE_HEARTBEAT):
                    self.disconnect(listener)

    async def _recheck_tokens(self) -> None:
        """Close connections whose token was revoked or whose account was suspended."""
        while True:
            await asyncio.sleep(TOKEN_RECHECK_SECONDS)
            try:
                await self.recheck_tokens()
            except Exception:
                log.exception("could not re-check the tokens of streaming connections")

    async def recheck_tokens(self) -> int:
        """One pass of the token check; returns how many connections were closed."""
        tokens = {token for each in self.listeners if (token := each.viewer.token_id) is not None}
        if not tokens:
            return 0
        async with self.db.session() as session:
            valid = await valid_token_ids(session, tokens)
        closed = 0
        for listener in list(self.listeners):
            if listener.viewer.token_id is not None and listener.viewer.token_id not in valid:
                listener.close("access token revoked", 1008)
                self.disconnect(listener)
                closed += 1
        return closed


async def start_hub(db: Database, payloads: Payloads, queue_size: int, heartbeat: float) -> Hub:
    """The process's hub, subscribed to the bus; its connections close on SIGTERM / SIGINT
    (server-sent events would otherwise hold a graceful shutdown open)."""
    hub = Hub(db, get_bus(), payloads, queue_size, heartbeat)
    await hub.start()
    hub.restore_signals = _close_on_signals(hub)
    return hub


async def stop_hub(hub: Hub) -> None:
    """Close every connection, stop dispatching, flush the bus."""
    hub.restore_signals()
    await hub.stop()
    await close_bus()


def _close_on_signals(hub: Hub) -> Callable[[], None]:
    """Chain a handler that closes the hub's connections before the server's own handler
    (uvicorn's) for SIGTERM and SIGINT; returns how to undo it."""
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        handler = signal.getsignal(sig)
        if not callable(handler):
            continue

        def close_then(signum: int, frame: Any, handler: Any = handler) -> None:
            loop.call_soon_threadsafe(hub.close_all, "server shutting down")
            handler(signum, frame)

        try:
            signal.signal(sig, close_then)
        except ValueError:  # not the main thread: leave signals alone
            break
        previous[sig] = handler

    def restore() -> None:
        for sig, handler in previous.items():
            with contextlib.suppress(ValueError):
                signal.signal(sig, handler)

    return restore
