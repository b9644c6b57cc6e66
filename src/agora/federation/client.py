"""The one outgoing HTTP client of federation: every fetch of a remote document and every
delivery to a remote inbox goes through `fetch_json` or `post_activity` (and a remote profile
page's headers and first bytes, for its robots signal, through `fetch_page_head`; a linked
page, for its preview card, through `fetch_html`).

Invariants (SSRF and resource guards):
- Only http(s) URLs; plain http only when this server itself runs on http (development).
- The host's addresses are resolved once, when the connection is made (`GuardedBackend`,
  the network backend of every client here), and refused when any is private, loopback,
  link-local, reserved or multicast, unless `AGORA_FEDERATION_ALLOW_PRIVATE_ADDRESSES=true`
  (tests and local development); the connection goes to the address checked, never to a
  second answer of the name (no DNS rebinding between the check and the connection; TLS and
  the Host header still name the host). Redirects are followed by hand (at most
  `MAX_REDIRECTS`), each hop checked the same way.
- Every request has a timeout (`federation_timeout`), and a response body is read only up to
  `federation_max_response_bytes`; a longer one is refused.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from agora import __version__
from agora.config import get_settings
from agora.federation.signatures import sign_cavage, sign_rfc9421

AP_ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
AP_CONTENT_TYPE = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
MAX_REDIRECTS = 3


class FederationError(Exception):
    """An outgoing request that was refused or failed (bad address, timeout, too large,
    an error status). `permanent`: asking again will not help (a refused address, a body
    over the limit)."""

    def __init__(self, message: str, status: int | None = None, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Signer:
    """Who signs a request: a local account's key id and private key."""

    key_id: str
    private_pem: str


def _user_agent() -> str:
    return f"Agora/{__version__} (+{get_settings().base_url})"


def check_scheme(url: str) -> None:
    """Refuse a URL that is not http(s) with a host (plain http only when this server runs on
    http)."""
    parts = urlsplit(url)
    allowed = {"https", "http"} if get_settings().base_url.startswith("http://") else {"https"}
    if parts.scheme not in allowed or not parts.hostname:
        raise FederationError(f"Refusing to fetch {url!r}: not an allowed URL", permanent=True)


async def checked_address(host: str, port: int) -> str:
    """Resolve `host` once and return the address to connect to: refused (FederationError)
    when any of its addresses is not public, unless private addresses are allowed."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FederationError(f"Cannot resolve {host}") from exc
    if not infos:
        raise FederationError(f"Cannot resolve {host}")
    addresses = [str(info[4][0]) for info in infos]
    if not get_settings().federation_allow_private_addresses:
        for address in addresses:
            if not ipaddress.ip_address(address.split("%")[0]).is_global:
                raise FederationError(
                    f"Refusing to fetch from {host}: not a public address", permanent=True
                )
    return addresses[0]


async def check_url(url: str) -> None:
    """Refuse a URL this server must not request (see the module docstring); the requests
    themselves check the address again where they connect (`GuardedBackend`)."""
    check_scheme(url)
    parts = urlsplit(url)
    assert parts.hostname is not None
    await checked_address(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend that connects only to an address it resolved and checked
    itself (`checked_address`): one resolution per connection, so a name cannot answer a
    public address to the check and a private one to the connection."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await checked_address(host, port)
        return await self._inner.connect_tcp(
            address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise FederationError("Refusing to connect to a unix socket", permanent=True)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """The TLS settings of every outgoing request (the system's CA bundle, certificates
    verified), made once per process: making one loads the CA bundle, about 30 ms of CPU,
    which every request paid twice when each made its own (bench/federation.py's
    delivery). An `SSLContext` is meant to be shared by connections; nothing changes it."""
    return httpx.create_ssl_context()


def guarded_transport() -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections go through `GuardedBackend` (httpx 0.28 takes no
    network backend, so its connection pool is replaced by one that does), with the
    process's `ssl_context`."""
    context = ssl_context()
    transport = httpx.AsyncHTTPTransport(verify=context)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context, network_backend=GuardedBackend()
    )
    return transport


@dataclass(frozen=True, slots=True)
class Answer:
    """A response as read: status, body (or its first bytes), final URL, headers."""

    status: int
    body: bytes
    url: str
    headers: httpx.Headers


async def _request(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None = None,
    *,
    limit: int | None = None,
    head_only: int | None = None,
    timeout: float | None = None,
    only_type: str | None = None,
) -> Answer:
    """One request (following checked redirects for GET). The body is read up to `limit`
    bytes (`federation_max_response_bytes` by default; a longer one is refused), or with
    `head_only` only its first `head_only` bytes (the rest is left unread). With `only_type`
    a 200 answer of another media type is refused before its body is read."""
    settings = get_settings()
    limit = limit or settings.federation_max_response_bytes
    async with httpx.AsyncClient(
        timeout=timeout or settings.federation_timeout,
        follow_redirects=False,
        transport=guarded_transport(),
    ) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_scheme(url)
            try:
                async with client.stream(method, url, headers=headers, content=body) as response:
                    if response.is_redirect and method == "GET":
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if only_type is not None and response.status_code == 200:
                        _check_type(url, response.headers.get("content-type", ""), only_type)
                    data = bytearray()
                    async for chunk in response.aiter_bytes():
                        data += chunk
                        if head_only is not None and len(data) >= head_only:
                            break
                        if len(data) > limit:
                            raise FederationError(
                                f"The response from {url} is too large", permanent=True
                            )
                    return Answer(response.status_code, bytes(data), url, response.headers)
            except httpx.HTTPError as exc:
                raise FederationError(f"{method} {url} failed: {exc!r}") from exc
    raise FederationError(f"Too many redirects from {url}")


def _check_type(url: str, content_type: str, wanted: str) -> None:
    if content_type.split(";", 1)[0].strip().lower() != wanted:
        raise FederationError(f"{url} is not {wanted}: {content_type!r}", permanent=True)


async def _signed(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    signer: Signer | None,
    covered: dict[str, str] | None = None,
) -> Answer:
    """A request signed with draft-cavage, and once more with RFC 9421 if it answers 401
    (as Mastodon 4.5 does: peers without RFC 9421 are the many); unsigned without a signer.
    `covered`: headers sent and signed too (lower-case names)."""
    if signer is None:
        return await _request(method, url, headers | (covered or {}), body)
    for sign in (sign_cavage, sign_rfc9421):
        signed = headers | sign(
            method,
            url,
            body,
            key_id=signer.key_id,
            private_pem=signer.private_pem,
            covered=covered,
        )
        answer = await _request(method, url, signed, body)
        if answer.status != 401:
            break
    return answer


async def fetch_json(url: str, *, signer: Signer | None = None, accept: str = AP_ACCEPT) -> Any:
    """GET a JSON document (an actor, an object, a WebFinger answer), signed when a signer is
    given (draft-cavage, then RFC 9421 on a 401). Raises FederationError unless it answers
    200 with JSON."""
    headers = {"Accept": accept, "User-Agent": _user_agent()}
    answer = await _signed("GET", url, headers, None, signer)
    if answer.status != 200:
        raise FederationError(f"GET {url} answered {answer.status}", answer.status)
    try:
        return json.loads(answer.body)
    except ValueError as exc:
        raise FederationError(f"GET {url} did not answer JSON") from exc


async def fetch_file(url: str, max_bytes: int) -> bytes:
    """GET a file (a remote post's image) of at most `max_bytes`, unsigned, through the same
    guards. Raises FederationError unless it answers 200; a larger body is refused before
    more than `max_bytes` are read."""
    headers = {"Accept": "image/*", "User-Agent": _user_agent()}
    answer = await _request("GET", url, headers, limit=max_bytes)
    if answer.status != 200:
        status = answer.status
        raise FederationError(
            f"GET {url} answered {status}", status, permanent=status in (404, 410)
        )
    return answer.body


async def fetch_page_head(url: str, max_bytes: int, timeout: float) -> Answer:
    """GET a web page (HTML) for its headers and first `max_bytes` bytes only, under the same
    address checks; FederationError unless it answers 200."""
    headers = {"Accept": "text/html", "User-Agent": _user_agent()}
    answer = await _request("GET", url, headers, head_only=max_bytes, timeout=timeout)
    if answer.status != 200:
        raise FederationError(f"GET {url} answered {answer.status}", answer.status)
    return answer


async def fetch_html(url: str, max_bytes: int) -> Answer:
    """GET a web page (a link's preview card) of at most `max_bytes`, unsigned, through the
    same guards; only text/html (another type is refused before its body is read). Raises
    FederationError unless it answers 200 (permanent for 4xx, a refused type or size)."""
    headers = {"Accept": "text/html", "User-Agent": _user_agent()}
    answer = await _request("GET", url, headers, limit=max_bytes, only_type="text/html")
    if answer.status != 200:
        status = answer.status
        raise FederationError(
            f"GET {url} answered {status}", status, permanent=400 <= status < 500 and status != 429
        )
    return answer


async def post_activity(
    inbox: str,
    activity: dict[str, Any],
    signer: Signer,
    covered: dict[str, str] | None = None,
) -> int:
    """POST an activity to an inbox, signed with draft-cavage, and once more with RFC 9421 if
    the inbox answers 401 (`covered`: more headers, sent and signed, lower-case names).
    Returns the status of a 2xx answer; raises FederationError on anything else (the
    delivery job then retries)."""
    body = json.dumps(activity).encode()
    headers = {"Content-Type": AP_CONTENT_TYPE, "User-Agent": _user_agent()}
    status = (await _signed("POST", inbox, headers, body, signer, covered)).status
    if 200 <= status < 300:
        return status
    raise FederationError(f"POST {inbox} answered {status}", status)


async def post_bytes(url: str, headers: dict[str, str], body: bytes) -> int:
    """POST `body` to `url` through the same guards (address, timeout, size); the status.
    Web Push deliveries use it: a push endpoint is a URL a client chose, so it is refused
    on a private address exactly as a remote inbox would be."""
    answer = await _request("POST", url, headers | {"User-Agent": _user_agent()}, body)
    return answer.status
