"""The wire forms of live events, as Mastodon sends them.

SSE is `event: NAME\\ndata: PAYLOAD\\n\\n` (and a comment line as heartbeat); a WebSocket message
is `{"stream": [...], "event": NAME, "payload": PAYLOAD}` where PAYLOAD is a JSON-encoded string
(masto.js and Mastodon.py decode it a second time).
"""

from __future__ import annotations

from typing import Any

import orjson

SSE_HEARTBEAT = b":thump\n"  # a comment line, as Mastodon sends every 15 s


def sse_frame(event: str, payload: str) -> bytes:
    """One server-sent event."""
    return f"event: {event}\ndata: {payload}\n\n".encode()


def json_sse(event: str, data: Any) -> bytes:
    """One server-sent event carrying `data` as JSON."""
    return sse_frame(event, orjson.dumps(data).decode())


def ws_frame(label: tuple[str, ...], event: str, payload: str) -> str:
    """One WebSocket message; `payload` stays a string inside the JSON."""
    return orjson.dumps({"stream": list(label), "event": event, "payload": payload}).decode()
