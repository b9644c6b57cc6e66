"""The bus of this process: Redis pub/sub when `AGORA_REDIS_URL` is set, else in-process.
The one place that chooses between the two implementations (neither imports the other)."""

from __future__ import annotations

from agora.config import get_settings
from agora.events.bus import EventBus, InProcessBus
from agora.events.redis_bus import RedisBus

_bus: EventBus | None = None


def get_bus() -> EventBus:
    """The process-wide bus: Redis pub/sub when `AGORA_REDIS_URL` is set, else in-process."""
    global _bus
    if _bus is None:
        settings = get_settings()
        if settings.redis_url:
            _bus = RedisBus(settings.redis_url, settings.streaming_channel)
        else:
            _bus = InProcessBus()
    return _bus


async def close_bus() -> None:
    """Flush and forget the process-wide bus (at shutdown; tests use it to switch buses)."""
    global _bus
    bus, _bus = _bus, None
    if bus is not None:
        await bus.close()
