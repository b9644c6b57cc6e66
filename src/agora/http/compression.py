"""Pages of the API sent gzipped to the clients that ask for it (`Accept-Encoding: gzip`):
every Mastodon client does (Mastodon.py and toot through requests, masto.js and megalodon
through fetch and axios, browsers), and a home page of 40 posts is about 90 KB of JSON,
about 10 KB gzipped. A kept page (api/page_cache.py) is compressed once and its gzipped bytes
are kept with it, so a page answered again costs no compression; behind nginx, the rest of
the API's JSON is compressed by nginx (docs/deploy/nginx.conf), which leaves a response that
is already encoded as it is.

Invariants:
- compressed only when the request's `Accept-Encoding` accepts gzip (RFC 9110, 12.5.3: a
  q-value of 0 refuses a coding; `*` stands for any coding the header does not name; a
  q-value that cannot be read refuses);
- a body under `MIN_BYTES` is sent as it is, and says nothing (compression would not pay);
- a response that could have been sent the other way says `Vary: Accept-Encoding`, gzipped or
  not, so that no shared cache hands a compressed body to a client that did not ask;
- the same bytes compress to the same bytes (no timestamp in the gzip header).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable

from starlette.responses import Response

Header = tuple[bytes, bytes]

MIN_BYTES = 1024
LEVEL = 3  # zlib's fast mode: a 90 KB page in 0.23 ms to 9.5 KB; level 6: 0.5 ms, 7.8 KB
VARY_ACCEPT_ENCODING: Header = (b"vary", b"Accept-Encoding")
GZIP: Header = (b"content-encoding", b"gzip")
_ACCEPT_ENCODING = b"accept-encoding"


def accepts_gzip(headers: Iterable[Header]) -> bool:
    """Whether a request with these headers (ASGI's, names lower-case) accepts a gzipped
    body."""
    values = [value for name, value in headers if name == _ACCEPT_ENCODING]
    return bool(values) and _accepts(b",".join(values))


def _accepts(value: bytes) -> bool:
    anything: bool | None = None
    for item in value.lower().split(b","):
        coding, _, params = item.partition(b";")
        coding = coding.strip()
        if coding in (b"gzip", b"x-gzip"):
            return _quality(params) > 0
        if coding == b"*":
            anything = _quality(params) > 0
    return bool(anything)


def _quality(params: bytes) -> float:
    """The q-value of one coding's parameters (1 when none is given, 0 when unreadable)."""
    for param in params.split(b";"):
        name, _, value = param.partition(b"=")
        if name.strip() == b"q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


def compressible(body: bytes) -> bool:
    """Whether a body is worth sending gzipped (`MIN_BYTES`)."""
    return len(body) >= MIN_BYTES


def gzipped(body: bytes) -> bytes:
    """`body` gzipped (`LEVEL`, no timestamp)."""
    return gzip.compress(body, compresslevel=LEVEL, mtime=0)


def plain_headers(headers: list[Header], body: bytes) -> list[Header]:
    """The headers of `body` sent as it is: with `Vary: Accept-Encoding` when it could have
    been sent gzipped."""
    return [*headers, VARY_ACCEPT_ENCODING] if compressible(body) else headers


def gzip_headers(headers: list[Header], compressed: bytes) -> list[Header]:
    """The headers of a body sent gzipped as `compressed`: its own length, its coding, and
    `Vary: Accept-Encoding`, in place of the plain body's length and any such Vary."""
    kept = [
        (name, value)
        for name, value in headers
        if name != b"content-length" and (name, value) != VARY_ACCEPT_ENCODING
    ]
    length = (b"content-length", str(len(compressed)).encode())
    return [*kept, length, GZIP, VARY_ACCEPT_ENCODING]


def encoded(response: Response, gzip_accepted: bool) -> Response:
    """`response` as a client that does (or does not) accept gzip is sent it (its body
    compressed now: for a response that is not kept)."""
    body = bytes(response.body)
    if not compressible(body):
        return response
    if not gzip_accepted:
        response.raw_headers.append(VARY_ACCEPT_ENCODING)
        return response
    compressed = gzipped(body)
    sent = Response(compressed, status_code=response.status_code, background=response.background)
    sent.raw_headers = gzip_headers(response.raw_headers, compressed)
    return sent
