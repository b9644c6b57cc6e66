"""Rate limits, in one place: ASGI middleware for the API and a dependency for sign-in.

The counting is the `limits` library's fixed windows, in memory (one process) or in Redis
(shared by every server process) when `redis_url` is set. What is limited (config.py):

- every `/api/` and `/oauth/` request, per client IP (`ratelimit_per_ip`), except the
  streaming health check;
- `/api/` reads and writes, per access token, or per IP without one (`ratelimit_reads`,
  `ratelimit_writes`), with Mastodon's `X-RateLimit-Limit / -Remaining / -Reset` headers on
  every API response;
- the web app's forms (every POST of the web door: posting, likes, boosts, follows…), per
  account (per IP signed out), against the same `ratelimit_writes` (`web_write_attempt`);
- media uploads (`POST /api/v1/media`, `/api/v2/media`), per token or IP (`ratelimit_media`),
  and the web app's image uploads, per account (`web_upload_attempt`);
- password sign-in (`POST /oauth/token` with the password grant, the `/oauth/authorize`
  form, the web app's `/auth/sign_in`): `SignInThrottle`, below.

**Sign-in.** `oauth.sign_in` (the one function every door's password check goes through)
resolves the login to its account first, so every spelling of it (`alice`, `@@ALICE `, the
e-mail address) is one key; a login no account has is keyed by its normalised form, and is
limited exactly like an account (no enumeration). Then, with the client's address:

1. every attempt counts against `ratelimit_sign_in_ip` (one address guessing many accounts);
2. failed attempts count against `ratelimit_sign_in_account` twice: for the account from
   everywhere, and for the account from this address. Its default, `25/hour;100/day`, is
   stacked windows: after 25 failures an hour, then 100 a day, the waits grow (Mastodon's
   back-off, in steps);
3. an attempt is refused (before the password is checked, so a refusal says nothing about
   it) when this address has spent its own budget for the account, or when the account's
   budget is spent and this is not an address where the account signed in successfully in
   the last 30 days (`KNOWN_ADDRESS`).

So guessing one password from many addresses stops at the account's budget, guessing from
one address stops at that address's budgets, and failures from elsewhere never lock a person
out of the addresses they use (a new address waits until the window passes). Known addresses
live only in the limiter's storage (memory or Redis, keyed by a hash of the account), never
in the database.

Without Redis the windows are counted by `LocalWindows`: plain dictionaries of this process,
read and written without a lock or an `await` in between (one event loop), so the check on
every API request costs a few dictionary operations and creates no task. With Redis, the
per-request checks are counted by `RedisWindows`: in this process's memory too, and sent to
Redis (every window at once, one script call) at most `RedisWindows.SYNC` seconds later; a
window not seen yet, not synced for `FRESH` seconds, or past a quarter of its limit, is
counted in Redis at once. So a token under a quarter of its limit costs no round trip, and
past it every request is counted in Redis (its docstring gives the bound across processes). The
rarer checks (sign-in, web forms) go through the library, exactly, on the same keys. Both
derive the verdict with one function, `request_verdict`.

Past a limit the answer is `429 {"error": "Too many requests"}` with the headers and
`Retry-After`. Tokens and logins are hashed before they become keys. If the storage fails
(Redis down), requests are let through and the failure is logged: limits protect the server,
they must not take it down.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import Response
from limits import RateLimitItem, parse, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter

from agora.config import Settings
from agora.http import response_headers
from agora.http.error_responses import error_response
from agora.http.json import JSON

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Check = tuple[RateLimitItem, str, str]  # a limit, its bucket name, the key counted

log = logging.getLogger("agora.ratelimit")
TOO_MANY = "Too many requests"
READ_METHODS = {"GET", "HEAD", "OPTIONS"}
MEDIA_PATHS = {"/api/v1/media", "/api/v2/media"}
# An address where an account signed in successfully is remembered this long (one mark).
KNOWN_ADDRESS = parse("1/30days")
UNLIMITED = {"/api/v1/streaming/health"}  # load balancers poll it
WEB_UNCOUNTED = {"/auth/sign_in", "/auth/sign_out"}  # web forms not counted as writes


class Verdict(NamedTuple):
    """One counted request against one limit: allowed or not, and the window's state
    (immutable; a tuple, made on every API request, costs a fifth of a frozen dataclass)."""

    allowed: bool
    limit: int
    remaining: int
    reset: float  # epoch seconds when the window ends

    def headers(self) -> dict[str, str]:
        """Mastodon's headers (Reset in ISO 8601, as Mastodon sends it)."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": _reset_text(self.reset),
        }

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """`headers` as ASGI holds them (every API response carries them)."""
        return [
            (b"x-ratelimit-limit", _number(self.limit)),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
            (b"x-ratelimit-reset", _reset_bytes(self.reset)),
        ]


@lru_cache(maxsize=64)
def _number(value: int) -> bytes:
    """A limit's amount as a header value (a few limits: formatted once each)."""
    return str(value).encode()


@lru_cache(maxsize=4096)
def _reset_bytes(reset: float) -> bytes:
    return _reset_text(reset).encode()


@lru_cache(maxsize=4096)
def _reset_text(reset: float) -> str:
    """A window's end in ISO 8601 (a window's end is fixed: formatted once per window)."""
    text = datetime.fromtimestamp(reset, UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")


class RateLimited(Exception):
    """A limit was passed (raised by `SignInThrottle` and the web app's checks, answered
    with a 429)."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(TOO_MANY)
        self.verdict = verdict


def refusal_headers(verdict: Verdict) -> dict[str, str]:
    """The headers of a 429: the limit's, and `Retry-After` in seconds."""
    wait = max(1, math.ceil(verdict.reset - time.time()))
    return {**verdict.headers(), "Retry-After": str(wait)}


def too_many(verdict: Verdict) -> JSON:
    """The API's 429 answer, with `refusal_headers`."""
    response = error_response(429, TOO_MANY)
    response.headers.update(refusal_headers(verdict))
    return response


def request_verdict(checks: list[Check], counted: list[tuple[int, float]]) -> Verdict:
    """The verdict on one request, from the hits each of its `checks` has after counting it
    and each window's end (`counted`, in order; the first check is the per-address limit):
    the first refusal, else the API limit with the least left (the per-address one is not
    advertised). Every check was counted, refused or not. One rule for both storages."""
    if len(checks) != len(counted):
        raise ValueError("one count per check")
    shown: tuple[RateLimitItem, int, float] | None = None
    for index, check in enumerate(checks):  # no zip(strict=True): its keyword costs here
        item, (hits, end) = check[0], counted[index]
        if hits > item.amount:
            return Verdict(False, item.amount, 0, end)
        if index and (shown is None or item.amount - hits < shown[0].amount - shown[1]):
            shown = (item, hits, end)
    if shown is None:
        return Verdict(True, 0, 0, time.time())
    item, hits, end = shown
    return Verdict(True, item.amount, item.amount - hits, end)


# Add to each key its amount (ARGV, in order: amount, period in seconds) and give back, per
# key, its count and its window's time left (ms): the `limits` library's fixed window
# (INCRBY, then EXPIRE when the window is new) for many windows in one round trip. A key found
# without an expiry (a crash between the two, in an older script) is given one, so that no
# window lasts for ever.
_ADD_ALL = """
local out = {}
for i, key in ipairs(KEYS) do
    local expiry = tonumber(ARGV[2 * i])
    local hits = redis.call("incrby", key, tonumber(ARGV[2 * i - 1]))
    local left = redis.call("pttl", key)
    if hits == tonumber(ARGV[2 * i - 1]) or left < 0 then
        redis.call("expire", key, expiry)
        left = expiry * 1000
    end
    out[2 * i - 1] = hits
    out[2 * i] = left
end
return out
"""


@dataclass(slots=True)
class _Window:
    """What this process knows of one shared window: its end and the highest count Redis
    answered for it (this process's hits it had received included), this process's hits
    sent in script calls not answered yet (`in_flight`), and its hits not sent (`unsent`).
    A hit is in exactly one of the three: `counted + in_flight + unsent` is never less
    than this process's hits in the window, and more only while an earlier call's answer
    overtakes a later one's."""

    end: float  # epoch seconds, from Redis's time left
    counted: int
    synced: float  # time.monotonic() of the last sync
    period: int  # its limit's, in seconds
    unsent: int = 0
    in_flight: int = 0

    def seen(self) -> int:
        """The window's count as this process knows it."""
        return self.counted + self.in_flight + self.unsent


class RedisWindows:
    """The fixed windows of the API's per-request checks, shared by every process through
    Redis under the `limits` library's keys (`<prefix>:<item.key_for(...)>`): a window this
    counts is the one the library's `hit`, `test` and stats read, and the reverse (the web
    app's writes and the API's share one).

    Counted in this process's memory on the hot path, sent to Redis in the background:
    - a request whose windows are all known from a sync less than `FRESH` seconds old and
      have used less than a quarter of their limit as this process sees them
      (`_Window.seen`, `LOCAL_SHARE`) only adds to their `unsent` (no round trip, no lock:
      nothing awaits between reading and writing them); its verdict is `seen()`;
    - any other request (a window not seen yet, ended, synced longer ago, or past that
      share) is counted in Redis at once, with every hit of this process not sent yet: one
      script call, whose answer is every process's count but their unsent hits;
    - `SYNC` seconds after a hit counted in memory, one script call sends every window's
      unsent hits and reads the counts back (also when no request follows).
    Many of these calls can be in flight at once; each hit is sent by exactly one (`_sync`).
    So a limit holds exactly within a process. Across P processes a verdict misses only the
    others' unsent hits: each holds fewer than a quarter of the limit, and none older than
    `SYNC` seconds, so a limit is passed by at most (P - 1) / 4 of it in the worst burst
    (a quarter with `agora serve --workers 2`), and by what the others count in `SYNC`
    seconds at the steady rate. While a token is under that share, the headers'
    `Remaining` may lag the others' use by up to `FRESH` seconds."""

    SYNC = 0.2  # seconds between a hit and its sending, at most (while the loop runs)
    FRESH = 5.0  # seconds a window's count read from Redis is used without asking again
    LOCAL_SHARE = 4  # counted in memory while under 1 / LOCAL_SHARE of the limit
    SWEEP = 30.0  # seconds between two sweeps of ended windows

    def __init__(self, url: str, prefix: str, failed: Callable[[Exception], None]) -> None:
        import redis.asyncio as redis

        self._prefix = prefix
        self._add_all = redis.from_url(url).register_script(_ADD_ALL)
        self._failed = failed
        self._windows: dict[str, _Window] = {}
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._swept = time.monotonic()

    async def request(self, checks: list[Check]) -> Verdict:
        """Count one hit against each of a request's `checks` (`request_verdict`); raises
        what Redis raises when a window had to be read from it."""
        now, fresh = time.time(), time.monotonic() - self.FRESH
        keys = [f"{self._prefix}:{item.key_for(bucket, key)}" for item, bucket, key in checks]
        windows = [self._windows.get(key) for key in keys]
        if any(
            w is None
            or w.end <= now
            or w.synced < fresh
            or self.LOCAL_SHARE * w.seen() >= item.amount
            for w, (item, _, _) in zip(windows, checks, strict=True)
        ):
            periods = [item.get_expiry() for item, _, _ in checks]
            windows = await self._sync(dict(zip(keys, periods, strict=True)))
        else:
            for window in windows:
                assert window is not None
                window.unsent += 1
            self._schedule()
        found = [w for w in windows if w is not None]
        return request_verdict(checks, [(w.seen(), w.end) for w in found])

    async def flush(self) -> None:
        """Send every hit not sent yet (and read the counts back) now."""
        await self._sync({})

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_later(self.SYNC, self._start_sync)

    def _start_sync(self) -> None:
        self._scheduled = False
        task = asyncio.get_running_loop().create_task(self._background_sync())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _background_sync(self) -> None:
        try:
            await self._sync({})
        except Exception as exc:  # put back as unsent by `_sync`: the next sync sends them
            self._failed(exc)

    async def _sync(self, hit: dict[str, int]) -> list[_Window | None]:
        """Send the unsent hits of every window and one hit for each of `hit` (a request's
        keys, in its order, and their limits' periods), in one script call; the windows of
        `hit`, as Redis counts them.

        Syncs overlap (every request that needs Redis makes one), so each takes the hits it
        sends out of `unsent` before it awaits (into `in_flight`): no hit is sent twice. If
        the call fails or is cancelled they go back to `unsent` (so a call that reached
        Redis before failing may count them twice, never a hit lost). An answer raises a
        window's count, never lowers it: answers to overlapping calls can arrive in any
        order, and a window's count only grows until Redis starts a new one."""
        now = time.time()
        self._sweep(now)
        sent: dict[str, tuple[_Window, int, int]] = {}  # key -> its window, unsent taken, hit
        amounts: dict[str, tuple[int, int]] = {}  # key -> (amount, period)
        for key, window in self._windows.items():
            if window.unsent and window.end > now:
                sent[key] = (window, window.unsent, 0)
                amounts[key] = (window.unsent, window.period)
        for key, period in hit.items():
            amounts[key] = (amounts[key][0] + 1 if key in amounts else 1, period)
            known = self._windows.get(key)
            if known is not None:
                sent[key] = (known, sent[key][1] if key in sent else 0, 1)
        if not amounts:
            return []
        for window, taken, counted in sent.values():
            window.unsent -= taken
            window.in_flight += taken + counted
        argv = [number for amount_and_period in amounts.values() for number in amount_and_period]
        try:
            found = await self._add_all(list(amounts), argv)
        except BaseException:
            for window, taken, counted in sent.values():
                window.in_flight -= taken + counted
                window.unsent += taken
            raise
        now, synced = time.time(), time.monotonic()
        for key, hits, left in zip(amounts, found[::2], found[1::2], strict=True):
            if key in sent:
                window, taken, counted = sent[key]
                window.in_flight -= taken + counted
            current, end = self._windows.get(key), now + int(left) / 1000
            if current is None or current.end <= now or end > current.end + current.period / 2:
                # not known, ended, or Redis has started a new window since this one
                self._windows[key] = _Window(end, int(hits), synced, amounts[key][1])
            else:
                current.counted, current.end = max(current.counted, int(hits)), end
                current.synced = synced
        return [self._windows.get(key) for key in hit]

    def _sweep(self, now: float) -> None:
        if time.monotonic() - self._swept < self.SWEEP:
            return
        self._swept = time.monotonic()
        for key in [k for k, w in self._windows.items() if w.end <= now]:
            del self._windows[key]


class LocalWindows:
    """Fixed windows in this process's memory (no Redis): each starts at its first hit and
    lasts the limit's period, as the `limits` library's windows do. No lock: nothing awaits
    between reading a count and writing it. Ended windows are dropped every `SWEEP` counts (a
    request's checks are one count)."""

    SWEEP = 10_000

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str, int, int], list[float]] = {}  # -> [end, count]
        self._until_sweep = self.SWEEP

    def _counted(self, checks: list[Check]) -> list[tuple[int, float]]:
        """Count one hit against each of `checks`; each window's hits after it and its end
        (one look-up a window, one clock read, one loop: the request path)."""
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self._sweep()
        now = time.time()
        windows = self._windows
        out = []
        for item, bucket, key in checks:
            period = item.get_expiry()
            slot = (bucket, key, item.amount, period)
            window = windows.get(slot)
            if window is None or window[0] <= now:
                window = windows[slot] = [now + period, 0]
            window[1] += 1
            out.append((int(window[1]), window[0]))
        return out

    def hit(self, item: RateLimitItem, bucket: str, key: str) -> bool:
        """Count one hit; whether it was within the limit."""
        return self._counted([(item, bucket, key)])[0][0] <= item.amount

    def request(self, checks: list[Check]) -> Verdict:
        """Count one hit against each of a request's `checks` (`request_verdict`)."""
        return request_verdict(checks, self._counted(checks))

    def test(self, item: RateLimitItem, bucket: str, key: str) -> bool:
        """Whether one more hit would be within the limit (nothing counted)."""
        window = self._windows.get((bucket, key, item.amount, item.get_expiry()))
        return window is None or window[0] <= time.time() or window[1] < item.amount

    def stats(self, item: RateLimitItem, bucket: str, key: str) -> tuple[int, float]:
        """The window's hits left and its end (epoch seconds); a whole window from now when
        none is running (nothing counted, nothing stored)."""
        now = time.time()
        period = item.get_expiry()
        window = self._windows.get((bucket, key, item.amount, period))
        if window is None or window[0] <= now:
            return item.amount, now + period
        return max(0, item.amount - int(window[1])), window[0]

    def _sweep(self) -> None:
        self._until_sweep = self.SWEEP
        now = time.time()
        for slot in [k for k, w in self._windows.items() if w[0] <= now]:
            del self._windows[slot]


REDIS_PREFIX = "agora:ratelimit"


def _storage(settings: Settings) -> Storage:
    if settings.redis_url:
        uri = settings.redis_url
        return RedisStorage(
            uri if uri.startswith("async+") else f"async+{uri}",
            implementation="redispy",
            key_prefix=REDIS_PREFIX,
            wrap_exceptions=True,
        )
    return MemoryStorage()


@lru_cache(maxsize=4096)
def _token_key(token: str) -> str:
    """An API request's key when it carries `token` (`_key`, remembered with its prefix)."""
    return f"t:{_key(token)}"


@lru_cache(maxsize=4096)
def _key(secret: str) -> str:
    """A token's or a login's key in the limiter (a hash: no secret in the storage); the same
    tokens come again and again, so it is remembered."""
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


class RateLimits:
    """The configured limits and the counters behind them."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.ratelimit_enabled
        self.local = None if settings.redis_url else LocalWindows()
        self.shared = (
            RedisWindows(settings.redis_url, REDIS_PREFIX, self._failed)
            if settings.redis_url
            else None
        )
        self.limiter = FixedWindowRateLimiter(_storage(settings))
        self.per_ip = parse(settings.ratelimit_per_ip)
        self.reads = parse(settings.ratelimit_reads)
        self.writes = parse(settings.ratelimit_writes)
        self.media = parse(settings.ratelimit_media)
        self.sign_in_ip = parse(settings.ratelimit_sign_in_ip)
        self.sign_in_account = parse_many(settings.ratelimit_sign_in_account)
        self._last_failure = 0.0

    def _failed(self, exc: Exception) -> None:
        """A storage failure: let the request through, log at most once a minute."""
        if time.monotonic() - self._last_failure > 60:
            self._last_failure = time.monotonic()
            log.warning("rate limit storage failed, not limiting: %r", exc)

    async def _hits(self, *checks: Check) -> list[bool | None]:
        """Count one request against each limit at once (one round trip to Redis for all);
        None for a limit whose storage failed."""
        if self.local is not None:
            return [self.local.hit(item, bucket, key) for item, bucket, key in checks]
        results = await asyncio.gather(
            *(self.limiter.hit(item, bucket, key) for item, bucket, key in checks),
            return_exceptions=True,
        )
        out: list[bool | None] = []
        for result in results:
            if isinstance(result, Exception):
                self._failed(result)
                out.append(None)
            else:
                out.append(bool(result))
        return out

    async def _verdict(self, check: Check, allowed: bool) -> Verdict | None:
        """The window's state after a hit, for the headers."""
        item, bucket, key = check
        if self.local is not None:
            remaining, reset = self.local.stats(item, bucket, key)
            return Verdict(allowed, item.amount, remaining, reset)
        try:
            stats = await self.limiter.get_window_stats(item, bucket, key)
        except Exception as exc:
            self._failed(exc)
            return None
        return Verdict(allowed, item.amount, stats.remaining, stats.reset_time)

    async def hit(self, item: RateLimitItem, bucket: str, key: str) -> Verdict | None:
        """Count one request against one limit; None when the storage failed."""
        (allowed,) = await self._hits((item, bucket, key))
        return None if allowed is None else await self._verdict((item, bucket, key), allowed)

    async def check_request(self, method: str, path: str, ip: str, token: str | None) -> Verdict:
        """Count an API or OAuth request against every limit that applies. Returns the
        refusal, else the verdict to advertise (the API limit with the least left)."""
        who = _token_key(token) if token else f"ip:{ip}"
        checks: list[Check] = [(self.per_ip, "ip", ip)]
        if path.startswith("/api/"):
            read = method in READ_METHODS
            checks.append((self.reads, "read", who) if read else (self.writes, "write", who))
            if method == "POST" and path in MEDIA_PATHS:
                checks.append((self.media, "media", who))
        if self.local is not None:
            return self.local.request(checks)
        assert self.shared is not None
        try:
            return await self.shared.request(checks)
        except Exception as exc:
            self._failed(exc)
            return Verdict(True, 0, 0, time.time())

    async def spent(self, items: list[RateLimitItem], bucket: str, key: str) -> Verdict | None:
        """The refusal when one more hit would pass one of `items` (nothing is counted);
        None when all have room or the storage failed."""
        for item in items:
            if self.local is not None:
                if not self.local.test(item, bucket, key):
                    return await self._verdict((item, bucket, key), False)
                continue
            try:
                room = await self.limiter.test(item, bucket, key)
            except Exception as exc:
                self._failed(exc)
                return None
            if not room:
                return await self._verdict((item, bucket, key), False)
        return None

    async def count(self, items: list[RateLimitItem], bucket: str, key: str) -> None:
        """Count one hit against each of `items` (storage failures are logged, not raised)."""
        await self._hits(*((item, bucket, key) for item in items))

    async def check_web_write(self, account_id: int | None, ip: str) -> None:
        """Count one web form against `ratelimit_writes`: per account, or per address when
        signed out (the API's key for requests without a token); RateLimited past it."""
        who = f"a:{account_id}" if account_id is not None else f"ip:{ip}"
        verdict = await self.hit(self.writes, "write", who)
        if verdict is not None and not verdict.allowed:
            raise RateLimited(verdict)

    async def check_account_upload(self, account_id: int) -> None:
        """Count one image uploaded through the web app against `ratelimit_media`, per
        account (the API counts per token); RateLimited past it."""
        verdict = await self.hit(self.media, "media", f"a:{account_id}")
        if verdict is not None and not verdict.allowed:
            raise RateLimited(verdict)


def client_ip(scope: Scope) -> str:
    """The client's address (uvicorn's proxy_headers put the forwarded one here)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip() or None
    query = scope.get("query_string", b"")
    if b"access_token=" in query:
        found = parse_qs(query.decode("latin-1")).get("access_token")
        return found[0] if found else None
    return None


class RateLimitMiddleware:
    """Counts `/api/` and `/oauth/` requests; adds the headers to API responses."""

    def __init__(self, app: ASGIApp, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 429 past a limit, else pass the request on (API responses get headers)."""
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not self.limits.enabled
            or not path.startswith(("/api/", "/oauth/"))
            or path in UNLIMITED
        ):
            await self.app(scope, receive, send)
            return
        verdict = await self.limits.check_request(
            scope["method"], path, client_ip(scope), _token(scope)
        )
        if not verdict.allowed:
            await too_many(verdict)(scope, receive, send)
            return
        if not path.startswith("/api/") or not verdict.limit:
            await self.app(scope, receive, send)
            return
        headers = verdict.raw_headers()
        step = response_headers.opened(scope)
        if step is not None:  # the outermost middleware adds them (http/response_headers.py)
            step.added += headers
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass(frozen=True, slots=True)
class SignInThrottle:
    """The sign-in rule (module docstring, "Sign-in") for one client address. `oauth.sign_in`
    calls it with the account's key: `attempt` before checking the password, then `failed`
    or `succeeded`."""

    limits: RateLimits
    ip: str

    async def attempt(self, account_key: str) -> None:
        """Count the attempt per address; RateLimited when a budget is spent."""
        limits, account, here = self.limits, _key(account_key), self._here(account_key)
        verdict = await limits.hit(limits.sign_in_ip, "sign-in-ip", self.ip)
        if verdict is not None and not verdict.allowed:
            raise RateLimited(verdict)
        refused = await limits.spent(limits.sign_in_account, "sign-in-failed-here", here)
        if refused is None and await limits.spent([KNOWN_ADDRESS], "sign-in-ok", here):
            return  # the account signed in from here: failures elsewhere do not count
        refused = refused or await limits.spent(limits.sign_in_account, "sign-in-failed", account)
        if refused is not None:
            raise RateLimited(refused)

    async def failed(self, account_key: str) -> None:
        """A wrong password: count it for the account, from everywhere and from here."""
        limits = self.limits
        await limits.count(limits.sign_in_account, "sign-in-failed", _key(account_key))
        await limits.count(limits.sign_in_account, "sign-in-failed-here", self._here(account_key))

    async def succeeded(self, account_key: str) -> None:
        """The right password: remember this address as one the account uses."""
        await self.limits.count([KNOWN_ADDRESS], "sign-in-ok", self._here(account_key))

    def _here(self, account_key: str) -> str:
        return f"{_key(account_key)}:{self.ip}"


def sign_in_throttle(request: Request) -> SignInThrottle | None:
    """The sign-in rule for this request's client, for `oauth.sign_in` (None when rate
    limits are off)."""
    limits: RateLimits | None = getattr(request.app.state, "ratelimits", None)
    if limits is None or not limits.enabled:
        return None
    return SignInThrottle(limits, client_ip(request.scope))


async def web_write_attempt(request: Request, account_id: int | None) -> None:
    """Called for every web form (`web.session.checked_form`, which every web POST goes
    through): the API's write limit, per account; RateLimited (a 429 page or fragment) past
    it. Sign-in has its own limits and signing out is always possible (`WEB_UNCOUNTED`)."""
    limits: RateLimits | None = getattr(request.app.state, "ratelimits", None)
    if limits is None or not limits.enabled or request.url.path in WEB_UNCOUNTED:
        return
    await limits.check_web_write(account_id, client_ip(request.scope))


async def web_upload_attempt(request: Request, account_id: int) -> None:
    """Called by the web app for each image it uploads (composer, profile images): the
    media limit per account; RateLimited (a 429 page) past it."""
    limits: RateLimits | None = getattr(request.app.state, "ratelimits", None)
    if limits is not None and limits.enabled:
        await limits.check_account_upload(account_id)


SignInPage = Callable[[Request, Verdict], Response]


def install(app: FastAPI, settings: Settings, sign_in_page: SignInPage) -> None:
    """Add the middleware (call it where it should sit in the stack) and the 429 handler;
    `sign_in_page` answers a person at the OAuth sign-in form (the web app's page)."""
    limits = RateLimits(settings)
    app.state.ratelimits = limits
    app.add_middleware(RateLimitMiddleware, limits=limits)

    @app.exception_handler(RateLimited)
    async def _limited(request: Request, exc: RateLimited) -> Response:
        if request.url.path.startswith("/oauth/authorize"):
            return sign_in_page(request, exc.verdict)
        return too_many(exc.verdict)
