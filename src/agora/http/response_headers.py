"""The request path's own response headers, added in one step: the rate limit's headers and
CORS's `Vary: Origin` (for requests without an `Origin`) are handed to the outermost
middleware (`Observability`), which adds them with its request id when the response starts.

Invariants:
- One wrapper of `send` and one copy of the headers per response, whatever the number of
  middleware adding headers (each wrapping `send` cost a closure, two awaits and a copy of
  the message and of its headers: about a microsecond apiece on a ping).
- The result is what the middleware wrapping `send` in turn gave: the response's headers,
  then the ones `add`ed (in the order added), then `Origin` joined to the response's `Vary`
  (`vary_origin`), then the request id.
- A middleware used without `Observability` around it (`opened(scope)` is None) wraps `send`
  itself, with the same result.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

Header = tuple[bytes, bytes]
KEY = "agora.response_headers"
VARY_ORIGIN: Header = (b"vary", b"Origin")


class ResponseHeaders:
    """What the middleware asked to add to this request's response."""

    __slots__ = ("added", "vary_origin")

    def __init__(self) -> None:
        self.added: list[Header] = []
        self.vary_origin = False

    def applied(self, headers: Iterable[Header], last: Header | None = None) -> list[Header]:
        """`headers` (the response's, not changed) with what was asked for, then `last`."""
        out = [*headers, *self.added]
        if self.vary_origin:
            for name, _ in out:
                if name == b"vary":
                    out = with_vary_origin(out)
                    break
            else:  # the usual case: no Vary yet (no generator, no copy: the request path)
                out.append(VARY_ORIGIN)
        if last is not None:
            out.append(last)
        return out


def open_for(scope: MutableMapping[str, Any]) -> ResponseHeaders:
    """Start collecting for this request (the outermost middleware, once per request)."""
    step = scope[KEY] = ResponseHeaders()
    return step


def opened(scope: MutableMapping[str, Any]) -> ResponseHeaders | None:
    """This request's collection, when an outer middleware opened one."""
    return scope.get(KEY)


def with_vary_origin(headers: Any) -> list[Header]:
    """`headers` with `Origin` joined to their `Vary` values in one header, as Starlette's
    CORS middleware leaves them."""
    varies = [value for name, value in headers if name == b"vary"]
    if not varies:
        return [*headers, VARY_ORIGIN]
    kept = [(name, value) for name, value in headers if name != b"vary"]
    return [*kept, (b"vary", b", ".join([*varies, b"Origin"]))]
