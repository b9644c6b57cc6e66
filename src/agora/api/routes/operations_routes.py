"""What operators and their tools ask a process: `/health/live`, `/health/ready` and the
Prometheus metrics (`/metrics`, behind AGORA_METRICS_TOKEN).

- `/health/live`: 200 while the process answers HTTP (restart it when this fails).
- `/health/ready`: 200 when the database answers `SELECT 1` and, with AGORA_REDIS_URL, Redis
  answers PING, each within READY_TIMEOUT seconds; 503 otherwise (take the process out of
  the proxy's pool until it is ready again). The body says which check failed.
- `/metrics`: Prometheus's text format (agora/metrics.py). Not served (404) without
  AGORA_METRICS_TOKEN; 401 without `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import text

from agora.config import get_settings
from agora.db.engine import Database
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.jobs.queue import queue_depths
from agora.metrics import CONTENT_TYPE, exposition

router = APIRouter(include_in_schema=False)
READY_TIMEOUT = 2.0  # seconds each readiness check may take


@router.get("/health/live")
async def live() -> JSON:
    """The process answers."""
    return JSON({"status": "ok"})


async def _database(db: Database) -> str:
    try:
        async with asyncio.timeout(READY_TIMEOUT), db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means not ready; the body says which
        return f"unavailable: {type(exc).__name__}"
    return "ok"


async def _redis(url: str) -> str:
    import redis.asyncio as redis

    client = redis.from_url(url, socket_connect_timeout=READY_TIMEOUT, socket_timeout=READY_TIMEOUT)
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await client.ping()
    except Exception as exc:  # any failure means not ready; the body says which
        return f"unavailable: {type(exc).__name__}"
    finally:
        await client.aclose()
    return "ok"


@router.get("/health/ready")
async def ready(request: Request) -> JSON:
    """The database (and Redis, when configured) answer: 200; otherwise 503."""
    checks = {"database": await _database(request.app.state.db)}
    redis_url = get_settings().redis_url
    if redis_url:
        checks["redis"] = await _redis(redis_url)
    ok = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if ok else "unavailable", "checks": checks}
    return JSON(body, status_code=200 if ok else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Every metric of every process (multiprocess mode), and the job queue as it is now."""
    token = get_settings().metrics_token
    if not token:
        raise ApiError(404, "Record not found")
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        denied = {"error": "The access token is invalid"}
        return JSON(denied, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    body = exposition(await queue_depths(request.app.state.db))
    return Response(body, media_type=CONTENT_TYPE)
