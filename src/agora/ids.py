"""Time-sortable 64-bit ids: 48 bits of milliseconds, then 16 bits that are not a sequence.

Layout of the low 16 bits: `node` (5 bits) then `r` (11 bits).

- **Unique across processes.** Each server and worker process claims a node number from the
  database at start (`db.id_nodes.claim_node`: one row in `id_nodes` per claim, the number
  modulo 32), so processes sharing a database write disjoint ids whatever their clocks. A
  process that never claims (a one-off CLI command) takes a random node.
- **Unique and monotonic within a process.** In each millisecond `r` starts at a random value
  below 1024 and every further id of that millisecond adds a random step of 2 to 33; when `r`
  would overflow, the id moves to the next millisecond (ids may run a little ahead of the
  clock, never backwards), so a process can make at least 31 ids per millisecond on time.
- **Unpredictable.** Knowing one id tells nothing of `r` in any other millisecond (10 random
  bits for each first id in a millisecond, besides guessing the millisecond and the node), and
  the next id of the same millisecond is one of 32 values, never the adjacent integer. (The
  old layout, a per-process sequence that kept its value from one millisecond to the next,
  let one public post's id find a direct message in 115 guesses.)
- **Sortable.** The milliseconds come first: `id_to_ms` and `min_id_for_ms` (time-range
  queries, SQL's `id >> 16`) are unchanged.

Known limit: two live processes share a node only after 32 more claims while both run (a
claim is made per server or worker start); they would then also need the same millisecond
and the same `r` to collide.
"""

from __future__ import annotations

import secrets
import threading
import time

NODE_BITS = 5
R_BITS = 11
FIRST_R = 1 << (R_BITS - 1)  # a millisecond's first r is below this (10 random bits)
MIN_STEP, STEP_CHOICES = 2, 32  # later ids of the same millisecond: r + 2 … r + 33
_NODES = 1 << NODE_BITS
_R_LIMIT = 1 << R_BITS

_lock = threading.Lock()
_node = secrets.randbelow(_NODES)
_last_ms = 0  # the clock's ids
_last_r = 0
_past_asked = -1  # back-dated ids (`at_ms`), kept apart so they never pull the clock back
_past_ms = -1
_past_r = 0


def use_node(claim: int) -> None:
    """Make this process's ids with the node of `claim` (a number from `db.id_nodes.claim_node`)."""
    global _node
    with _lock:
        _node = claim % _NODES


def _next(ms: int, last_ms: int, last_r: int) -> tuple[int, int]:
    """The millisecond and r of the id after (last_ms, last_r), made at `ms` or later."""
    if ms == last_ms:
        r = last_r + MIN_STEP + secrets.randbelow(STEP_CHOICES)
        if r < _R_LIMIT:
            return ms, r
        ms += 1
    return ms, secrets.randbelow(FIRST_R)


def new_id(at_ms: int | None = None) -> int:
    """Return a fresh id; `at_ms` back-dates it (the demo seeder, one process). Back-dated
    ids asked in time order are increasing, hence unique; an earlier `at_ms` than the last
    starts a new run (the caller makes one run per table)."""
    global _last_ms, _last_r, _past_asked, _past_ms, _past_r
    with _lock:
        if at_ms is not None:
            if at_ms < _past_asked:
                _past_ms = -1
            _past_asked = at_ms
            _past_ms, _past_r = _next(max(at_ms, _past_ms), _past_ms, _past_r)
            ms, r = _past_ms, _past_r
        else:
            now = max(int(time.time() * 1000), _last_ms)
            _last_ms, _last_r = _next(now, _last_ms, _last_r)
            ms, r = _last_ms, _last_r
        return (ms << 16) | (_node << R_BITS) | r


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
