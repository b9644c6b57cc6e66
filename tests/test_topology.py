"""THE TOPOLOGY TEST, small (issue 18; about a minute, the PostgreSQL pass only): bench/topology.py
as a process, 20 people for 20 seconds through nginx -> two `agora serve` -> PgBouncer ->
a PostgreSQL primary with a streaming replica, a private Redis, two `agora worker`, moto's S3,
20 open SSE streams, while one web process and one worker are killed with SIGKILL (and
started again), Redis and PgBouncer restarted. Its own checks must all hold: posts answered
200 exist once, fan-out exactly once, likes and boosts counted once, no dead job, no 5xx
outside the fault windows, no 429 under limits set out of reach, posts read back through the
API. PgBouncer (the one `make pgbouncer`
builds) keeps the statements prepared (AGORA_DATABASE_PGBOUNCER_PREPARED_STATEMENTS, on by
default): more executions than prepares on its servers since its restart, and no server
connection with as many statements as its LRU holds. The full run (300 people, 5 minutes, 200
streams) is by hand: docs/OPERATIONS.md, "The topology test"."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ON_POSTGRES
from nginx_proxy import NGINX
from postgres_cluster import PGBOUNCER, postgres_bin

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [
    pytest.mark.skipif(not ON_POSTGRES, reason="the topology: the PostgreSQL pass only"),
    pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL's server tools are missing"),
    pytest.mark.skipif(not Path(PGBOUNCER).exists(), reason="pgbouncer is not installed"),
    pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is missing"),
]


def test_the_topology_under_load_and_faults_keeps_every_promise() -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AGORA_")},
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }
    command = [sys.executable, "-m", "bench.topology", "--people", "20", "--seconds", "20"]
    done = subprocess.run(
        [*command, "--streams", "20"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    failed = {name: c for name, c in result["checks"].items() if not c["ok"]}
    assert not failed, json.dumps(result, indent=1)
    assert result["ok"]
    assert [f["name"] for f in result["faults"]] == [
        "kill -9 web-1",
        "kill -9 worker-1",
        "restart redis",
        "restart pgbouncer",
    ]
    assert result["5xx_or_no_answer_outside"] == 0
    assert result["refused_429"] == 0  # limits out of reach: the limiter counts right
    assert {"home", "post", "media", "like", "boost", "notifications"} <= set(result["kinds"])
    assert result["checks"]["posts_exist_once"]["answered_200"] > 0
    assert result["checks"]["fan_out_exactly_once"]["feed_entries"] > 0
    assert result["streams"]["opened"] >= 20 and result["streams"]["update_events"] > 0
    statements = result["pgbouncer_statements"]
    assert statements["binds"] > statements["server_parses"] > 0, statements
    assert statements["most_on_one_server"] < statements["max_prepared_statements"], statements
