"""/health/live, /health/ready (database and Redis reachable, 503 otherwise), /metrics behind
AGORA_METRICS_TOKEN (requests by route template, the job queue, job runs and failures,
streaming connections, model calls), and the request id of every response."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from agora.config import get_settings
from agora.db.engine import Database
from helpers import post_status_id

REDIS_URL = os.environ.get("AGORA_TEST_REDIS", "redis://127.0.0.1:6379/0")
TOKEN = "metrics-secret"


@pytest.fixture
def setting(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def set_(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    yield set_
    monkeypatch.undo()
    get_settings.cache_clear()


def _sample(body: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus's text format (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in body.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


async def test_liveness_and_readiness_with_database_and_redis(
    app: Any, client: Any, setting: Any
) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"database": "ok"}}
    setting("AGORA_REDIS_URL", REDIS_URL)
    ready = await client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["redis"] == "ok"
    setting("AGORA_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    down = await client.get("/health/ready")
    assert down.status_code == 503
    assert down.json()["checks"]["redis"].startswith("unavailable")
    assert down.json()["checks"]["database"] == "ok"


async def test_readiness_fails_when_the_database_is_unreachable(app: Any, client: Any) -> None:
    working = app.state.db
    app.state.db = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    try:
        down = await client.get("/health/ready")
        assert (await client.get("/health/live")).status_code == 200
    finally:
        await app.state.db.dispose()
        app.state.db = working
    assert down.status_code == 503
    assert down.json()["status"] == "unavailable"
    assert down.json()["checks"]["database"].startswith("unavailable")


async def test_an_unreachable_database_answers_503_not_500(app: Any, client: Any) -> None:
    """PostgreSQL or PgBouncer restarting: both doors ask the client to retry (503 with
    Retry-After) instead of failing (500)."""
    working = app.state.db
    app.state.db = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")
    try:
        api = await client.get("/api/v1/timelines/public")
        page = await client.get("/explore")
    finally:
        await app.state.db.dispose()
        app.state.db = working
    assert api.status_code == 503 and int(api.headers["retry-after"]) >= 1
    assert "error" in api.json()
    assert page.status_code == 503 and int(page.headers["retry-after"]) >= 1
    assert (await client.get("/api/v1/timelines/public")).status_code == 200  # back


async def test_metrics_need_the_token_and_count_routes_and_jobs(
    client: Any, make_person: Any, run_jobs: Any, setting: Any
) -> None:
    assert (await client.get("/metrics")).status_code == 404  # no token set: not served
    setting("AGORA_METRICS_TOKEN", TOKEN)
    assert (await client.get("/metrics")).status_code == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def scrape() -> str:
        response = await client.get("/metrics", headers=auth)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return str(response.text)

    before = await scrape()
    alice = await make_person("alice")
    post_id = await post_status_id(client, alice, "counted")
    for _ in range(3):
        assert (await client.get(f"/api/v1/statuses/{post_id}")).status_code == 200
    assert (await client.get("/api/v1/statuses/0")).status_code == 404
    queued = await scrape()
    route = {"method": "GET", "route": "/api/v1/statuses/{status_id}"}
    ok = _sample(queued, "agora_http_requests_total", status="200", **route)
    assert ok - _sample(before, "agora_http_requests_total", status="200", **route) == 3
    missing = _sample(queued, "agora_http_requests_total", status="404", **route)
    assert missing - _sample(before, "agora_http_requests_total", status="404", **route) == 1
    assert _sample(queued, "agora_http_request_duration_seconds_count", **route) >= 4
    pending = {"kind": "distribute_post", "state": "pending"}
    assert _sample(queued, "agora_job_queue_depth", **pending) == 1
    assert _sample(queued, "agora_job_queue_oldest_seconds", **pending) >= 0
    ran = {"kind": "distribute_post", "outcome": "ok"}
    runs_before = _sample(queued, "agora_jobs_run_total", **ran)
    await run_jobs()
    drained = await scrape()
    assert _sample(drained, "agora_job_queue_depth", **pending) == 0
    assert _sample(drained, "agora_jobs_run_total", **ran) == runs_before + 1
    for name in ("agora_streaming_connections", "agora_model_calls_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in drained


async def test_job_failures_streams_and_model_calls_are_counted(db: Any) -> None:
    from prometheus_client import REGISTRY

    from agora.ai.providers import Completion
    from agora.ai.usage import record
    from agora.events.process_bus import get_bus
    from agora.http.streaming.hub import Hub
    from agora.jobs.queue import ClaimedJob, run_claimed

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    failures = value("agora_job_failures_total", kind="no_such_kind")
    job = ClaimedJob(1, "no_such_kind", {}, 1, 1)
    assert await run_claimed(db, job, "test-worker") is False
    assert value("agora_job_failures_total", kind="no_such_kind") == failures + 1

    hub = Hub(db, get_bus(), {}, queue_size=4)  # not started: connections only
    open_before = value("agora_streaming_connections", wire="sse")
    listener = hub.connect(object(), "sse")  # type: ignore[arg-type]
    assert value("agora_streaming_connections", wire="sse") == open_before + 1
    hub.disconnect(listener)
    hub.disconnect(listener)  # twice: counted once
    assert value("agora_streaming_connections", wire="sse") == open_before

    calls = value("agora_model_calls_total", action="explain")
    prompt = value("agora_model_tokens_total", action="explain", direction="prompt")

    class Provider:
        name, model = "test", "a model"

    class Session:
        def add(self, row: object) -> None:
            self.row = row

    done = Completion(text="hi", prompt_tokens=12, completion_tokens=3)
    record(Session(), 1, "explain", Provider(), done, 0.0)  # type: ignore[arg-type]
    assert value("agora_model_calls_total", action="explain") == calls + 1
    assert value("agora_model_tokens_total", action="explain", direction="prompt") == prompt + 12


async def test_every_response_carries_a_request_id(client: Any) -> None:
    made = await client.get("/api/v1/agora/ping")
    assert re.fullmatch(r"[0-9a-f]{16}", made.headers["x-request-id"])
    assert (
        made.headers["x-request-id"] != (await client.get("/health/live")).headers["x-request-id"]
    )
    given = await client.get("/api/v1/agora/ping", headers={"X-Request-Id": "from-proxy.1"})
    assert given.headers["x-request-id"] == "from-proxy.1"
    odd = await client.get("/api/v1/agora/ping", headers={"X-Request-Id": "no spaces; ok?"})
    assert odd.headers["x-request-id"] != "no spaces; ok?"
    assert (await client.get("/nowhere")).headers["x-request-id"]
