"""RequestGuard: the checks every request passes before routing, as pure ASGI middleware.

- A body larger than `max_body_bytes` (`max_upload_bytes` for multipart, which carries media
  uploads) gets 413: at once when Content-Length says so, else (a chunked body, HTTP/2) as
  soon as the bytes read pass the limit (`BodyTooLarge`, mapped to 413 in
  `http/error_responses.py`), however the body is parsed. An HTTP/1.x body framed by its
  Content-Length is not counted: the server reads no more than the length declared.
- A path or query string with a NUL byte gets 400: no database stores one in text, and
  PostgreSQL refuses it outright.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from agora.http.error_responses import BodyTooLarge, error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOO_LARGE = "Request entity too large"
NUL_IN_URL = "Invalid request: the URL contains a null byte"


def _framing(scope: Scope) -> tuple[str, str, bool]:
    """The request's first `Content-Type` and `Content-Length` (stripped, "" when absent),
    and whether it has a `Transfer-Encoding`: one pass over its headers."""
    content_type = content_length = None
    transfer_encoding = False
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"content-length":
            if content_length is None:
                content_length = value
        elif name == b"content-type":
            if content_type is None:
                content_type = value
        elif name == b"transfer-encoding":
            transfer_encoding = True
    return (
        content_type.decode("latin-1").strip() if content_type is not None else "",
        content_length.decode("latin-1").strip() if content_length is not None else "",
        transfer_encoding,
    )


def _declared_length(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def _framed_by_length(scope: Scope, transfer_encoding: bool) -> bool:
    """An HTTP/1.x request without Transfer-Encoding: its body is at most its Content-Length
    (none at all without one, RFC 9112 section 6.3), and the server reads no further, so a
    length within the limit needs no counting. Chunked bodies, and HTTP/2 (whose bodies end
    with the stream), are counted."""
    return scope.get("http_version") in ("1.1", "1.0") and not transfer_encoding


def _has_nul(scope: Scope) -> bool:
    query = scope.get("query_string", b"").lower()
    return "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query


class RequestGuard:
    """Body-size limits and URL sanity for every HTTP request."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 413 / 400 up front, or pass the request on with a counting `receive`."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _has_nul(scope):
            await error_response(400, NUL_IN_URL)(scope, receive, send)
            return
        content_type, content_length, transfer_encoding = _framing(scope)
        framed = _framed_by_length(scope, transfer_encoding)
        if framed and not content_length:  # no body at all (most GETs): nothing to limit
            await self.app(scope, receive, send)
            return
        limit = self._limit(content_type)
        declared = _declared_length(content_length)
        if declared is not None and declared > limit:
            await error_response(413, TOO_LARGE)(scope, receive, send)
            return
        if framed:  # no more than the declared length
            await self.app(scope, receive, send)
            return
        await self.app(scope, _counting(receive, limit), send)

    def _limit(self, content_type: str) -> int:
        multipart = content_type.lower().startswith("multipart/")
        return self.max_upload_bytes if multipart else self.max_body_bytes


def _counting(receive: Receive, limit: int) -> Receive:
    """`receive`, raising BodyTooLarge once more than `limit` body bytes have come in."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge()
        return message

    return counted
