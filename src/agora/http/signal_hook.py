"""The AI-use signals hook: ASGI middleware that gives every HTTP response the signals of
what it contains (docs/DATA.md, "Public signals").

For each request it opens a `signals.Disclosure` (a context variable); building the response
discloses into it (every Account and Status entity, every post and account a web page shows).
When the response starts, the disclosure closes and its most restrictive signal replaces any
signal header a route set. Responses that disclosed nothing, and errors (status 400 and up),
are left as they are. Door code never sets these headers itself.
"""

from __future__ import annotations

from typing import Any

from agora.data.signals import CURRENT, HEADER_NAMES, Disclosure

Scope = dict[str, Any]
Message = dict[str, Any]


class SignalsHook:
    """Pure ASGI middleware (so the context variable is shared with the endpoint)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        disclosure = Disclosure()
        token = CURRENT.set(disclosure)

        async def send_with_signals(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = _with_signals(message, disclosure)
            await send(message)

        try:
            await self.app(scope, receive, send_with_signals)
        finally:
            CURRENT.reset(token)


def _with_signals(message: Message, disclosure: Disclosure) -> Message:
    found = disclosure.close()
    if found is None or not found.headers or message.get("status", 200) >= 400:
        return message
    headers = [
        (name, value)
        for name, value in message.get("headers", [])
        if name.decode("latin-1").lower() not in HEADER_NAMES
    ]
    headers += [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in found.headers.items()
    ]
    return {**message, "headers": headers}
