"""Reads whose database connection was cut under them are run once more.

A PgBouncer or PostgreSQL restart (or a network cut) ends every transaction open on the
connections it cuts; a request whose statement was on one fails, and both doors answer it
503 with Retry-After (`db.engine.is_database_busy`). For a read that is needless: a GET or a
HEAD changes nothing, so running it again on a new connection (db/engine.py waits for one
through the restart) is invisible to the person, who gets their page instead of an error.
A write whose connection was cut is never run again: whether it happened cannot be known,
and it keeps its 503.

Invariants:

- only GET and HEAD, and only a 503 that a door answered because the connection under the
  request was cut (`mark_cut`, called by both doors' database error handlers, sets the mark
  on the request's scope); a lock timeout or a full pool keeps its 503 (retrying at once
  would meet the same crowd);
- at most once; the first attempt's 503 is never sent, the second attempt's answer is,
  whatever it is;
- pure ASGI, inside the page door and every other middleware: the rate limits, metrics and
  AI-use signals see one request; routing, dependencies (a new session) and the route run
  again.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)
CUT = "agora.connection_cut"  # the scope's mark: this request's connection was cut
READS = ("GET", "HEAD")


def mark_cut(scope: Scope, exc: BaseException) -> None:
    """Note on the request's scope that `exc` (a database error a door is answering 503)
    came from a connection cut under it."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        scope[CUT] = True


class CutReadRetry:
    """Runs a read whose connection was cut once more (module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in READS:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def first_send(message: Message) -> None:
            if held or (
                message["type"] == "http.response.start"
                and message["status"] == 503
                and scope.get(CUT)
            ):
                held.append(message)  # the cut read's 503: not sent
                return
            await send(message)

        await self.app(scope, receive, first_send)
        if not held:
            return
        del scope[CUT]
        log.warning("a read's database connection was cut; run again: %s", scope["path"])
        await self.app(scope, _again(receive), send)


def _again(receive: Receive) -> Receive:
    """`receive` for a read run a second time: its (empty) body once more, then as before."""
    given = False

    async def replayed() -> Any:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return await receive()

    return replayed
