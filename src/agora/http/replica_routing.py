"""Which requests may read from the PostgreSQL replica (`AGORA_DATABASE_REPLICA_URL`).

A replica lags the primary by a little (usually milliseconds, seconds under load), so a read
goes there only when that lag cannot show a person something wrong. Invariants:

- only GET / HEAD routes marked `@replica_reads` (timelines, public pages: reads that never
  write) are candidates; every other request, and every request without a replica, uses the
  primary as before;
- read-your-writes: a requester (a bearer token or a web session cookie, keyed by its
  SHA-256) who sent a write in the last `AGORA_DATABASE_STICKY_SECONDS` reads from the
  primary, so a post just made is in one's own timeline at once. The mark is set when the
  write starts and again when it ends (so a slow write is covered), in this process and, with
  `AGORA_REDIS_URL`, in Redis for every process; if Redis fails, reads stay on the primary;
- a bearer token this process has not accepted recently (`auth/token_cache.py`) is checked on
  the primary, so a token made a moment ago is never refused because the replica lags;
- signed-in web pages stay on the primary; anonymous visitors' public pages may use the replica.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request

from agora.auth.token_cache import token_cache
from agora.auth.web_sessions import SESSION_COOKIE
from agora.config import get_settings

log = logging.getLogger(__name__)
_MARK = "__agora_replica_reads__"
_KEY_PREFIX = "agora:wrote:"
_MAX_LOCAL = 100_000  # marks kept in this process before expired ones are swept
F = TypeVar("F", bound=Callable[..., Any])


def replica_reads(endpoint: F) -> F:
    """Mark a GET route whose reads may come from the replica (it must never write)."""
    setattr(endpoint, _MARK, True)
    return endpoint


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.query_params.get("access_token")


def _requester_key(request: Request) -> str | None:
    """Who is asking, as far as writes go: a hash of the token or the session cookie."""
    secret = _bearer(request) or request.cookies.get(SESSION_COOKIE)
    return hashlib.sha256(secret.encode()).hexdigest()[:32] if secret else None


class RecentWriters:
    """Who wrote in the last `seconds`: a dict in this process, and Redis when configured."""

    def __init__(self, seconds: float, redis_url: str | None) -> None:
        self.seconds = seconds
        self._local: dict[str, float] = {}
        self._redis: Any = None
        if redis_url:
            import redis.asyncio as redis

            self._redis = redis.from_url(redis_url, socket_timeout=0.5)

    async def mark(self, key: str) -> None:
        """`key` wrote just now."""
        now = time.monotonic()
        if len(self._local) > _MAX_LOCAL:
            self._local = {k: t for k, t in self._local.items() if t > now}
        self._local[key] = now + self.seconds
        if self._redis is not None:
            try:
                await self._redis.set(_KEY_PREFIX + key, 1, px=int(self.seconds * 1000))
            except Exception:  # Redis down: this process still knows; others read the primary
                log.warning("could not record a write in Redis", exc_info=True)

    async def wrote_recently(self, key: str) -> bool:
        """Whether `key` wrote within the window (True when Redis cannot say)."""
        if self._local.get(key, 0.0) > time.monotonic():
            return True
        if self._redis is None:
            return False
        try:
            return bool(await self._redis.exists(_KEY_PREFIX + key))
        except Exception:
            return True


def recent_writers(request: Request) -> RecentWriters:
    """The application's one `RecentWriters` (made on first use)."""
    found: RecentWriters | None = getattr(request.app.state, "recent_writers", None)
    if found is None:
        settings = get_settings()
        found = RecentWriters(settings.database_sticky_seconds, settings.redis_url)
        request.app.state.recent_writers = found
    return found


async def note_write(request: Request) -> None:
    """Record that this request's requester writes (called at the start and the end of every
    write request when a replica is configured)."""
    key = _requester_key(request)
    if key is not None:
        await recent_writers(request).mark(key)


async def may_read_replica(request: Request) -> bool:
    """Whether this (GET) request's reads may come from the replica (see the module doc)."""
    endpoint = request.scope.get("endpoint")
    if endpoint is None or not getattr(endpoint, _MARK, False):
        return False
    token = _bearer(request)
    if token is not None and token_cache().get(token) is None:
        return False  # checked on the primary first; the next request may use the replica
    if token is None and request.cookies.get(SESSION_COOKIE):
        return False
    key = _requester_key(request)
    return key is None or not await recent_writers(request).wrote_recently(key)
