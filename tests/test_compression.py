"""Pages of the API gzipped for the clients that ask (http/compression.py): the timelines
and notifications answered gzipped when `Accept-Encoding` accepts it, by the routed way and
by the page door alike, decoding to the bytes a client that does not ask is sent; both say
`Vary: Accept-Encoding`; small bodies and refusing headers get the plain body; a kept page's
gzipped bytes are made once and counted by the cache's bound."""

from __future__ import annotations

import gzip
import time
from typing import Any

import pytest
from sqlalchemy import text

from agora.api.page_cache import CachedPage, PageCache, get_page_cache
from agora.http.compression import MIN_BYTES, accepts_gzip
from helpers import follow, post_status_id

HOME = "/api/v1/timelines/home?limit=40"
NOTIFICATIONS = "/api/v1/notifications?limit=40"


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    get_page_cache().clear()


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        (b"gzip, deflate", True),
        (b"GZip", True),
        (b"x-gzip", True),
        (b"deflate, br", False),
        (b"identity", False),
        (b"gzip;q=0", False),
        (b"gzip; q=0.000, *", False),
        (b"*", True),
        (b"*;q=0, gzip", True),
        (b"br;q=1.0, *;q=0.1", True),
        (b"*;q=0", False),
        (b"gzip;q=high", False),
        (b"gzip;q=2", False),
        (b"", False),
    ],
)
def test_accept_encoding_is_read_as_rfc_9110_says(value: bytes, accepted: bool) -> None:
    assert accepts_gzip([(b"accept", b"*/*"), (b"accept-encoding", value)]) is accepted


def test_no_accept_encoding_and_split_headers() -> None:
    assert accepts_gzip([(b"accept", b"*/*")]) is False
    split = [(b"accept-encoding", b"br"), (b"accept-encoding", b"gzip")]
    assert accepts_gzip(split) is True


async def _ask(client: Any, headers: dict[str, str], url: str, coding: str) -> Any:
    answer = await client.get(url, headers={**headers, "Accept-Encoding": coding})
    assert answer.status_code == 200, answer.text
    return answer


def _varies(answer: Any) -> bool:
    return "accept-encoding" in answer.headers.get("vary", "").lower()


async def test_a_page_is_sent_gzipped_by_both_ways_and_decodes_to_the_plain_page(
    client, make_person, run_jobs
):
    alice, bob = await make_person("alice"), await make_person("bob")
    await follow(client, bob, alice)
    for n in range(12):
        await post_status_id(client, alice, f"post {n} " + "words of a post " * 8)
    await run_jobs()
    cache = get_page_cache()
    plain = await _ask(client, bob.headers, HOME, "identity")  # routed, kept
    assert "content-encoding" not in plain.headers and _varies(plain)
    assert int(plain.headers["content-length"]) == len(plain.content) >= MIN_BYTES
    hits = cache.hits
    for _ in range(2):  # answered again: from the kept page (the door, or the routed way)
        zipped = await _ask(client, bob.headers, HOME, "gzip, deflate")
        assert zipped.headers["content-encoding"] == "gzip" and _varies(zipped)
        assert int(zipped.headers["content-length"]) < len(plain.content) // 2
        assert zipped.content == plain.content  # httpx decoded it
        assert zipped.headers["link"] == plain.headers["link"]
    assert cache.hits == hits + 2
    cache.clear()  # built gzipped on the routed way
    fresh = await _ask(client, bob.headers, HOME, "br, gzip")
    assert fresh.headers["content-encoding"] == "gzip" and fresh.content == plain.content
    refused = await _ask(client, bob.headers, HOME, "gzip;q=0")
    assert "content-encoding" not in refused.headers and refused.content == plain.content


async def test_notifications_are_sent_gzipped_too(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    for n in range(8):
        await post_status_id(client, bob, f"@alice hello {n} " + "and more words " * 6)
    await run_jobs()
    plain = await _ask(client, alice.headers, NOTIFICATIONS, "identity")
    zipped = await _ask(client, alice.headers, NOTIFICATIONS, "gzip")
    assert zipped.headers["content-encoding"] == "gzip" and zipped.content == plain.content
    assert len(plain.json()) == 8


async def test_a_small_page_is_sent_plain_and_says_nothing(client, make_person):
    alice = await make_person("alice")
    for _ in range(2):  # built, then kept
        empty = await _ask(client, alice.headers, HOME, "gzip")
        assert empty.json() == []
        assert "content-encoding" not in empty.headers and not _varies(empty)


def _page(body: bytes) -> CachedPage:
    headers = [(b"content-length", str(len(body)).encode())]
    return CachedPage(body, headers, None, (), text("SELECT 1"), {}, "", (), None, time.time() + 60)


def test_a_kept_pages_gzipped_bytes_are_made_once_and_counted_by_the_bound() -> None:
    cache = PageCache(max_bytes=100_000, seconds=60)
    body = b'{"text": "' + b"a page of posts " * 500 + b'"}'
    key = ("/api/v1/timelines/home", b"", 1)
    page = _page(body)
    cache.put(key, page)
    assert cache.bytes == len(body)
    plain, headers = cache.sent(key, page, gzip_accepted=False)
    assert plain is body and cache.bytes == len(body) and page.gzip is None
    zipped, headers = cache.sent(key, page, gzip_accepted=True)
    assert gzip.decompress(zipped) == body and cache.bytes == len(body) + len(zipped)
    assert (b"content-length", str(len(zipped)).encode()) in headers
    assert (b"content-encoding", b"gzip") in headers
    assert cache.sent(key, page, gzip_accepted=True)[0] is zipped  # not compressed again
    cache.drop(key)
    assert cache.bytes == 0 and not cache.holds(key[0])
    cache.put(key, page)  # kept again with its gzipped bytes: both counted
    assert cache.bytes == len(body) + len(zipped)
    small = PageCache(max_bytes=len(body) + 10, seconds=60)
    small.put(key, _page(body))
    small.sent(key, small.get(key) or _page(b""), gzip_accepted=True)
    assert len(small) == 0 and small.bytes == 0  # over the bound once gzipped: forgotten
