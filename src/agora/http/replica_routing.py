"""Which requests may read from the PostgreSQL replica (`AGORA_DATABASE_REPLICA_URL`).

A replica lags the primary by a little (usually milliseconds, seconds under load), so a read
goes there only when that lag cannot show a person something wrong. Invariants:

- only GET / HEAD routes marked `@replica_reads` (timelines, public pages: reads that never
  write) are candidates; every other request, and every request without a replica, uses the
  primary as before;
- read-your-writes by WAL position: a requester (a bearer token or a web session cookie,
  keyed by its SHA-256) who sent a write in the last `AGORA_DATABASE_STICKY_SECONDS` reads
  from the replica only once it has replayed the primary's WAL up to where it was when the
  write ended (`pg_current_wal_insert_lsn()`, one statement on the row reader; the replica
  checks `pg_last_wal_replay_lsn()` in the read's own session, db/engine.py), else from the
  primary, so a post just made is in one's own timeline at once, and a writer's reads leave
  the primary as soon as the replica has caught up. The mark is set without a position when
  the write starts (its requester reads the primary until it ends) and with one when it ends,
  in this process and, with `AGORA_REDIS_URL`, in Redis for every process; a mark whose
  position is unknown (the row reader could not answer, Redis failed) keeps reads on the
  primary for the window, as before positions;
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
UNKNOWN = ""  # a write mark without a WAL position: its requester reads the primary
ANY_POSITION = "0/0"  # every replica has replayed it: the replica as it is
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


def lsn_number(position: str) -> int:
    """A PostgreSQL WAL position ("16/B374D848") as a number, to compare."""
    high, _, low = position.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def later(a: str | None, b: str | None) -> str | None:
    """Of two write marks, the one a read must wait for: no mark < a position < UNKNOWN."""
    if a is None or b is None:
        return b if a is None else a
    if a == UNKNOWN or b == UNKNOWN:
        return UNKNOWN
    return a if lsn_number(a) >= lsn_number(b) else b


class RecentWriters:
    """Who wrote in the last `seconds`, and up to which WAL position of the primary: a dict in
    this process, and Redis when configured."""

    def __init__(self, seconds: float, redis_url: str | None) -> None:
        self.seconds = seconds
        self._local: dict[str, tuple[float, str]] = {}  # key -> (expiry, position)
        self._redis: Any = None
        if redis_url:
            import redis.asyncio as redis

            self._redis = redis.from_url(redis_url, socket_timeout=0.5)

    async def mark(self, key: str, position: str = UNKNOWN) -> None:
        """`key` writes now (`position` UNKNOWN: until it has ended) or wrote up to
        `position`. A write starting hides the earlier position until it ends; a position
        replaces UNKNOWN, and of two positions this process keeps the later (two writes of
        one requester ending out of order). Redis keeps the last one set."""
        now = time.monotonic()
        if len(self._local) > _MAX_LOCAL:
            self._local = {k: v for k, v in self._local.items() if v[0] > now}
        expiry, previous = self._local.get(key, (0.0, UNKNOWN))
        if position != UNKNOWN and previous != UNKNOWN and expiry > now:
            position = later(previous, position) or position
        self._local[key] = (now + self.seconds, position)
        if self._redis is not None:
            try:
                await self._redis.set(_KEY_PREFIX + key, position, px=int(self.seconds * 1000))
            except Exception:  # Redis down: this process still knows; others read the primary
                log.warning("could not record a write in Redis", exc_info=True)

    async def written_to(self, key: str) -> str | None:
        """None when `key` wrote nothing within the window; else the primary's WAL position
        its reads must wait for on the replica, or UNKNOWN (a write under way, a position
        not known, Redis unable to say): the primary. With Redis, the later of this
        process's mark and Redis's (another process may have seen a later write)."""
        expiry, position = self._local.get(key, (0.0, UNKNOWN))
        local = position if expiry > time.monotonic() else None
        if self._redis is None or local == UNKNOWN:
            return local
        try:
            shared = await self._redis.get(_KEY_PREFIX + key)
        except Exception:
            return UNKNOWN
        return later(local, None if shared is None else shared.decode())


def recent_writers(request: Request) -> RecentWriters:
    """The application's one `RecentWriters` (made on first use)."""
    found: RecentWriters | None = getattr(request.app.state, "recent_writers", None)
    if found is None:
        settings = get_settings()
        found = RecentWriters(settings.database_sticky_seconds, settings.redis_url)
        request.app.state.recent_writers = found
    return found


async def note_write(request: Request, position: str | None = None) -> None:
    """Record that this request's requester writes: at the start of every write request
    when a replica is configured (no position), and at its end with the primary's WAL
    position then (None when it could not be read: the window keeps them on the primary)."""
    key = _requester_key(request)
    if key is not None:
        await recent_writers(request).mark(key, position or UNKNOWN)


def replica_read(request: Request) -> bool:
    """Whether this request's route is marked `replica_reads` (it never writes)."""
    endpoint = request.scope.get("endpoint")
    return endpoint is not None and bool(getattr(endpoint, _MARK, False))


async def replica_from(request: Request) -> str | None:
    """Where this (GET) request's reads may come from (see the module doc): None, the
    primary; else the WAL position the replica must have replayed first (ANY_POSITION: the
    replica as it is)."""
    if not replica_read(request):
        return None
    token = _bearer(request)
    if token is not None and token_cache().get(token) is None:
        return None  # checked on the primary first; the next request may use the replica
    if token is None and request.cookies.get(SESSION_COOKIE):
        return None
    key = _requester_key(request)
    written = None if key is None else await recent_writers(request).written_to(key)
    if written == UNKNOWN:
        return None
    return written or ANY_POSITION
