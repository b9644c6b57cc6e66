"""Ids: unique (within one millisecond, and across processes sharing a database), sortable,
monotonic within a process, and not predictable from one another."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from itertools import pairwise

from agora.db.id_nodes import claim_node
from agora.ids import R_BITS, id_to_ms, min_id_for_ms, new_id

LOW = (1 << 16) - 1
R_MASK = (1 << R_BITS) - 1


def test_many_ids_in_one_millisecond_are_unique_increasing_and_not_adjacent():
    start = 1_900_000_000_000
    ids = [new_id(at_ms=start) for _ in range(5000)]
    assert ids == sorted(set(ids))  # unique and strictly increasing
    assert id_to_ms(ids[0]) == start and id_to_ms(ids[30]) == start  # 31 fit on time at least
    assert all(min_id_for_ms(id_to_ms(i)) <= i for i in ids)
    gaps = [b - a for a, b in pairwise(ids) if id_to_ms(a) == id_to_ms(b)]
    assert min(gaps) >= 2  # never the adjacent integer
    assert len(set(gaps)) >= 24  # the step is random, not a stride to add


def test_clock_ids_are_unique_monotonic_and_sortable_by_time():
    before = int(time.time() * 1000)
    ids = [new_id() for _ in range(50_000)]
    after = int(time.time() * 1000)
    assert ids == sorted(set(ids))
    assert before <= id_to_ms(ids[0]) and id_to_ms(ids[-1]) <= after + 2_000


def test_knowing_one_id_does_not_give_the_next_millisecond_s():
    """The old layout kept the low bits from one millisecond to the next: one public post's
    id gave the low bits of a direct message made later, leaving only its millisecond to
    guess. Now each millisecond's first id has its own random low bits."""
    firsts = [new_id(at_ms=2_000_000_000_000 + 7 * n) for n in range(2000)]
    lows = [i & LOW for i in firsts]
    assert len(set(lows)) >= 800  # 2000 draws of 1024 equally likely starts: ~880 distinct
    same_as_known = sum(a == b for a, b in pairwise(lows))
    assert same_as_known < 20  # the attacker's old one-guess-per-millisecond hits ~0.1%
    assert sum((b - a) in (1, 2) for a, b in pairwise(lows)) < 20


CHILD = """
import asyncio, json, sys, time
from agora.db.engine import Database
from agora.db.id_nodes import claim_node
from agora.ids import new_id

async def main():
    db = Database(sys.argv[1])
    claim = await claim_node(db.engine)
    await db.dispose()
    start = float(sys.argv[2])
    while time.time() < start:
        pass
    ids = [new_id() for _ in range(20_000)]
    ids += [new_id(at_ms=1_950_000_000_000) for _ in range(500)]
    print(json.dumps({"claim": claim, "ids": ids}))

asyncio.run(main())
"""


async def test_processes_sharing_a_database_make_disjoint_ids(db):
    """Three processes claim nodes from the same database, then make ids in the same
    milliseconds (and the same back-dated one): none is made twice."""
    start = time.time() + 3
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, db.url, str(start)],  # type: ignore[attr-defined]
            stdout=subprocess.PIPE,
            env=env,
        )
        for _ in range(3)
    ]
    results = [json.loads(child.communicate(timeout=120)[0]) for child in children]
    assert len({r["claim"] for r in results}) == 3
    made = [i for r in results for i in r["ids"]]
    assert len(set(made)) == len(made) == 3 * 20_500
    for r in results:
        assert r["ids"][:20_000] == sorted(r["ids"][:20_000])
    shared_ms = set.intersection(*({id_to_ms(i) for i in r["ids"]} for r in results))
    assert len(shared_ms) >= 1  # they did make ids in the same milliseconds
    mine = await claim_node(db.engine)  # type: ignore[attr-defined]
    assert mine not in {r["claim"] for r in results}
