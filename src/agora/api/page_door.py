"""The kept pages' own door: a GET for a page that `page_cache.served` kept is answered here,
before routing, with no dependency solved, no session opened and no route called.

Pure ASGI middleware, the innermost, so a request answered here has passed everything a
routed one passes on its way in (the request id and metrics, CORS, the rate limits, the
request guard, the AI-use signals hook) and its response passes them on its way out.

**When it answers.** Only when the routed request would be answered the same bytes:

- a GET with no body and no `access_token` in its query (such a token, and any other way
  of signing in than `Authorization: Bearer`, goes the routed way);
- the caller is known without a query: no token (a page kept for no viewer), or a bearer
  token the token cache accepted less than `token_cache_seconds` ago (revocation and
  suspension forget it at once, in every process: auth/token_cache.py), of an account, and
  granted every scope the route required when it built the page (`deps.checked_scopes`);
- a page is kept for that path, raw query and viewer (`page_cache.page_key`), and it is
  current (`page_cache.current`): the database's change token says nothing changed since
  its statement last proved it (`Database.change_token`: PostgreSQL's page change notices,
  SQLite's data version); otherwise its one statement proves it, on the row reader.

Anything else (no page, a stale one, a token to look up, a reader that cannot answer) goes
the routed way unchanged, where `served` checks, rebuilds and keeps pages: this door only
ever answers what the routed way would have answered from the same cache.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from agora.api.page_cache import current, get_page_cache, page_key
from agora.auth.scopes import satisfies
from agora.auth.token_cache import token_cache
from agora.data.signals import disclose_stance
from agora.http.compression import accepts_gzip

_AUTHORIZATION = b"authorization"
_BEARER = b"bearer "


def _viewer(scope: Scope) -> tuple[int, tuple[str, ...]] | None:
    """The caller's account id and granted scopes (0 and none signed out), when known
    without a query; None otherwise."""
    if b"access_token" in scope.get("query_string", b""):
        return None
    for name, value in scope["headers"]:
        if name == _AUTHORIZATION:
            if value[:7].lower() != _BEARER:
                return None
            token = value[7:].strip()
            known = token_cache().get(token.decode("latin-1")) if token else None
            if known is None or known.account_id is None:
                return None
            return known.account_id, known.scopes
    return 0, ()


class PageDoor:
    """Answers a request for a kept, current page before routing (module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not await self._answered(scope, send)
        ):
            await self.app(scope, receive, send)

    async def _answered(self, scope: Scope, send: Send) -> bool:
        cache = get_page_cache()
        if not cache.holds(scope["path"]):  # most requests: no token looked up
            return False
        caller = _viewer(scope)
        if caller is None:
            return False
        viewer, granted = caller
        key = page_key(scope, viewer)
        page = cache.get(key)
        if page is None or not all(satisfies(granted, wanted) for wanted in page.scopes):
            return False
        app: Any = scope["app"]
        fresh = await current(page, app.state.db)
        if not fresh:
            if fresh is False:  # stale: the routed way rebuilds it without checking again
                cache.drop(key)
            return False
        cache.hits += 1
        if page.route is not None:
            scope["route"] = page.route  # the metrics' label, as the routed way sets it
        if page.stance is not None:
            disclose_stance(page.stance)
        body, headers = cache.sent(key, page, accepts_gzip(scope["headers"]))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return True
