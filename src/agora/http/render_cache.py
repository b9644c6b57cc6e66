"""The render cache both HTTP doors keep their renderings in: the API's Status and Account
JSON (api/status_cache.py, api/account_cache.py) and the web app's post cards
(web/post_cards.py), each keyed by (kind, id, the render versions it was rendered under...).

**Invariant.** An entry is a rendering only, the same for every viewer: never an access
decision, never a viewer's marks, never a URL signed for one viewer. Its key holds every
version the rendering was read under (bumped by database triggers, migration 0015), so a
changed post or account is simply looked up under a new key; nothing is ever invalidated.
Nothing is stored from a session whose transaction has written and not committed
(`db.session_writes.has_written`, asked by the callers).

**Where.** An LRU of `render_cache_entries` entries in each process (no lock: one event
loop), and, when `redis_url` is set, Redis (`render_cache_redis_seconds`), shared by every
process: a miss here is looked up there in one round trip before the database is asked. An
entry goes to Redis as its `dump()` and comes back through the loader the caller gives
(one kind of entry per call). A Redis failure is a miss.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from agora.config import get_settings

log = logging.getLogger("agora.render_cache")
Key = tuple[int, ...]  # (kind, id, versions...)
# The kinds of entry (a key's first number): the API's Status and Account JSON, the web
# app's post card (web/post_cards.py)
POST, ACCOUNT, CARD = 0, 1, 2


class Entry(Protocol):
    """What the cache holds: a rendering that can go to Redis and back."""

    def dump(self) -> bytes: ...


E = TypeVar("E", bound=Entry)


class RenderCache:
    """A bounded LRU of renderings, optionally backed by Redis."""

    def __init__(self, entries: int, redis_url: str | None = None, redis_seconds: int = 0) -> None:
        self.entries = max(1, entries)
        self._lru: OrderedDict[Key, Any] = OrderedDict()
        self._redis: Any = None
        self._redis_seconds = redis_seconds
        if redis_url and redis_seconds > 0:
            import redis.asyncio as redis

            self._redis = redis.from_url(redis_url)
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._lru)

    def clear(self) -> None:
        """Forget everything this process holds (tests; Redis entries expire by themselves)."""
        self._lru.clear()

    async def get_many(self, keys: list[Key], load: Callable[[bytes], E]) -> dict[Key, E]:
        """The renderings held for `keys` (here, else in Redis, read back by `load`; absent
        ones left out). The keys are of one kind of entry, `load`'s."""
        found: dict[Key, E] = {}
        lru = self._lru
        missing = []
        for key in keys:
            entry = lru.get(key)
            if entry is None:
                missing.append(key)
            else:
                lru.move_to_end(key)
                found[key] = entry
        if missing and self._redis is not None:
            for key, raw in zip(missing, await self._redis_get(missing), strict=True):
                if raw is not None:
                    found[key] = fetched = load(raw)
                    self._remember(key, fetched)
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    async def put_many(self, entries: dict[Key, E]) -> None:
        """Keep these renderings (here, and in Redis)."""
        for key, entry in entries.items():
            self._remember(key, entry)
        if entries and self._redis is not None:
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for key, entry in entries.items():
                        pipe.set(_redis_key(key), entry.dump(), ex=self._redis_seconds)
                    await pipe.execute()
            except Exception as exc:  # a cache must never fail a request
                log.warning("render cache: Redis write failed: %r", exc)

    def _remember(self, key: Key, entry: Any) -> None:
        self._lru[key] = entry
        self._lru.move_to_end(key)
        while len(self._lru) > self.entries:
            self._lru.popitem(last=False)

    async def _redis_get(self, keys: list[Key]) -> list[bytes | None]:
        try:
            return list(await self._redis.mget([_redis_key(k) for k in keys]))
        except Exception as exc:
            log.warning("render cache: Redis read failed: %r", exc)
            return [None] * len(keys)

    async def close(self) -> None:
        """Release the Redis connection."""
        if self._redis is not None:
            await self._redis.aclose()


def _redis_key(key: Key) -> str:
    return "agora:render2:" + ":".join(map(str, key))  # 2: entries hold PostText


_cache: RenderCache | None = None


def get_render_cache() -> RenderCache:
    """The process's cache, sized by the settings."""
    global _cache
    if _cache is None:
        settings = get_settings()
        _cache = RenderCache(
            settings.render_cache_entries, settings.redis_url, settings.render_cache_redis_seconds
        )
    return _cache


async def close_render_cache() -> None:
    """Forget the process's cache (at shutdown)."""
    global _cache
    cache, _cache = _cache, None
    if cache is not None:
        await cache.close()
