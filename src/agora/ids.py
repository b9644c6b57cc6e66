"""Time-sortable 64-bit ids, Snowflake-like: 48 bits of milliseconds, 16 bits of sequence.

The sequence starts at a random point per process so that two processes creating ids in the
same millisecond are very unlikely to collide; within a process ids are strictly increasing.
"""

from __future__ import annotations

import secrets
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_seq = secrets.randbelow(1 << 16)


def new_id(at_ms: int | None = None) -> int:
    """Return a fresh id; `at_ms` back-dates it (used by the demo seeder)."""
    global _last_ms, _seq
    with _lock:
        now = at_ms if at_ms is not None else int(time.time() * 1000)
        if now <= _last_ms and at_ms is None:
            now = _last_ms
        if now == _last_ms:
            _seq = (_seq + 1) & 0xFFFF
            if _seq == 0:
                now += 1
        _last_ms = max(_last_ms, now)
        return (now << 16) | _seq


def id_to_ms(value: int) -> int:
    """The millisecond timestamp an id was made at."""
    return value >> 16


def min_id_for_ms(ms: int) -> int:
    """The smallest id that can be made at millisecond `ms` (for time-range queries)."""
    return ms << 16


MAX_ID = (1 << 63) - 1  # ids are signed 64-bit integers in the database


def parse_id(value: object) -> int | None:
    """An id as clients send it (a string of ASCII digits, or an int) within the 64-bit range,
    else None. `str.isdigit` alone would let "²" through, which `int()` then rejects."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not (text.isascii() and text.isdigit()):
        return None
    if len(text.lstrip("0")) > len(str(MAX_ID)):  # also keeps int() off huge strings
        return None
    number = int(text)
    return number if number <= MAX_ID else None
