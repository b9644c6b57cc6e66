"""The outermost middleware: a request id for every HTTP request, and its count and duration
in the metrics (agora/metrics.py), by route template.

Invariants:
- Pure ASGI and nearly free: one context variable, one counter and one histogram per
  request; nothing is read from the body, nothing is awaited. It is the one wrapper of
  `send` that adds headers to every response: its request id, and what inner middleware
  asked for (http/response_headers.py: the rate limit's, CORS's `Vary`).
- The request id is the client's (or the proxy's) `X-Request-Id` when it is a short token
  (at most 64 characters of letters, digits, `-`, `_`, `.`), else a new one (a random
  prefix per process and a counter: unique without costing randomness per request); it is
  sent back in `X-Request-Id` and is in every log line written while the request runs
  (`REQUEST_ID`, read by http/json_logging.py).
- The route label is the route's template (`/api/v1/statuses/{status_id}`), never the raw path, so
  the number of series stays bounded; requests that match no route count as `unmatched`.
  Streams (`/api/v1/streaming…`, the web app's `/web/live`) are counted, but not timed: they
  last as long as the client.
- `requests_in_flight()` is how many requests (streams excepted) this process is answering
  now; `answered_within(s)` also counts the last `s` seconds: what its own job workers ask
  before running background work, and while it runs (app.py, jobs/courtesy.py).
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agora.http import response_headers
from agora.metrics import REQUEST_SECONDS, REQUESTS

REQUEST_ID: ContextVar[str | None] = ContextVar("agora_request_id", default=None)
HEADER = b"x-request-id"
_ACCEPTED = re.compile(rb"[A-Za-z0-9._-]{1,64}")
STREAMING_PREFIXES = ("/api/v1/streaming", "/web/live")


_PROCESS = secrets.token_hex(4)  # request ids: this process's random prefix and a counter
_NEXT = itertools.count(1)
_COUNTERS: dict[tuple[str, str, int], Any] = {}  # labelled children, looked up once each
_TIMERS: dict[tuple[str, str], Any] = {}
_in_flight = 0
_last_answered = float("-inf")  # time.perf_counter() when the last request (not a stream) ended


def requests_in_flight() -> int:
    """Requests this process is answering now, streams excepted."""
    return _in_flight


def answered_within(seconds: float) -> bool:
    """Whether this process is answering a request (streams excepted), or ended one in the
    last `seconds`: a load generator's or a browser's next request comes within
    milliseconds of the last, and an instant between two is not idleness."""
    return _in_flight > 0 or time.perf_counter() - _last_answered < seconds


def _request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == HEADER and _ACCEPTED.fullmatch(value):
            return value.decode()
    return f"{_PROCESS}{next(_NEXT):08x}"


def _count(method: str, route: str, status: int, seconds: float | None) -> None:
    counter = _COUNTERS.get((method, route, status))
    if counter is None:
        counter = _COUNTERS[(method, route, status)] = REQUESTS.labels(method, route, status)
    counter.inc()
    if seconds is None:
        return
    timer = _TIMERS.get((method, route))
    if timer is None:
        timer = _TIMERS[(method, route)] = REQUEST_SECONDS.labels(method, route)
    timer.observe(seconds)


def route_template(scope: Scope) -> str:
    """The template of the route that answered (`unmatched` when none did)."""
    route: Any = scope.get("route")
    return str(getattr(route, "path", None) or "unmatched")


class Observability:
    """Request id and request metrics around the whole application."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        global _in_flight, _last_answered
        started = time.perf_counter()
        streaming = scope["path"].startswith(STREAMING_PREFIXES)
        request_id = _request_id(scope["headers"])
        token = REQUEST_ID.set(request_id)
        status = 500  # an exception that escapes everything is answered 500 by the server

        extra = response_headers.open_for(scope)  # the inner middleware's headers too

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                last = (HEADER, request_id.encode())
                message["headers"] = extra.applied(message.get("headers", ()), last)
            await send(message)

        _in_flight += not streaming
        try:
            await self.app(scope, receive, sending)
        finally:
            _in_flight -= not streaming
            REQUEST_ID.reset(token)
            elapsed = None
            if not streaming:
                _last_answered = time.perf_counter()
                elapsed = _last_answered - started
            _count(scope["method"], route_template(scope), status, elapsed)
