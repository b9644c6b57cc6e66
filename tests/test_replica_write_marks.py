"""http/replica_routing.py's write marks (both passes; Redis when it runs here): a write under
way keeps its requester on the primary, its end's WAL position is what their reads wait for,
the later of two positions is kept, Redis shares marks between processes (the later of
this process's and Redis's wins), and a Redis that cannot answer keeps reads on the primary.
Against the real replica: tests/test_database_replica.py."""

from __future__ import annotations

import secrets

import pytest

from agora.http.replica_routing import UNKNOWN, RecentWriters, later, lsn_number
from test_streaming_redis import REDIS_URL, _redis_up


def test_positions_compare_as_numbers_not_as_text() -> None:
    assert lsn_number("0/0") == 0
    assert lsn_number("1/0") == 1 << 32
    assert lsn_number("0/FFFFFFFF") < lsn_number("1/0")
    assert lsn_number("0/9") < lsn_number("0/10")  # "0/9" > "0/10" as text
    assert later("0/9", "0/10") == "0/10" and later("0/10", "0/9") == "0/10"
    assert later(None, "0/9") == "0/9" and later("0/9", None) == "0/9" and later(None, None) is None
    assert later("0/9", UNKNOWN) == UNKNOWN and later(UNKNOWN, None) == UNKNOWN


async def test_a_write_under_way_then_its_end_position() -> None:
    marks = RecentWriters(60, None)
    assert await marks.written_to("alice") is None
    await marks.mark("alice")  # the write starts
    assert await marks.written_to("alice") == UNKNOWN
    await marks.mark("alice", "0/1A2B")  # and ends
    assert await marks.written_to("alice") == "0/1A2B"
    await marks.mark("alice", "0/FF")  # a write that ended after, with an earlier position read
    assert await marks.written_to("alice") == "0/1A2B"
    await marks.mark("alice")  # a new write hides the position until it ends
    assert await marks.written_to("alice") == UNKNOWN
    assert await marks.written_to("bob") is None


async def test_a_mark_ends_with_its_window() -> None:
    marks = RecentWriters(0.0, None)
    await marks.mark("alice", "0/1")
    assert await marks.written_to("alice") is None


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
async def test_processes_share_marks_through_redis_and_the_later_wins() -> None:
    key = secrets.token_hex(8)
    one, other = RecentWriters(60, REDIS_URL), RecentWriters(60, REDIS_URL)
    try:
        await one.mark(key)
        assert await other.written_to(key) == UNKNOWN  # a write under way in another process
        await one.mark(key, "0/500")
        assert await other.written_to(key) == "0/500"
        await other.mark(key, "0/400")  # Redis keeps the last set; this process its own later
        assert await one.written_to(key) == "0/500"
        await other.mark(key, "0/600")
        assert await one.written_to(key) == "0/600"
    finally:
        await one._redis.aclose()
        await other._redis.aclose()


async def test_a_redis_that_cannot_answer_keeps_reads_on_the_primary() -> None:
    down = RecentWriters(60, "redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        assert await down.written_to("anyone") == UNKNOWN
        await down.mark("alice", "0/7")  # logged; this process still knows
        assert await down.written_to("alice") == UNKNOWN  # yet Redis may know a later one
    finally:
        await down._redis.aclose()
