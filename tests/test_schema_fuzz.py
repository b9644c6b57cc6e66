"""Schemathesis against the app's own OpenAPI schema: no request a client can send, valid or
not, gets a 5xx; every 4xx of the JSON API carries a Mastodon-style `{"error": "..."}` body;
and no background job fails on what the fuzzer wrote.

One pytest item per operation, all against one seeded world (two people, posts of every
visibility, a reply, a boost, a follow request, notifications) served by a fresh app on
schemathesis' event loop (its lifespan opens the database there). Path ids and reply / quote
targets are steered towards real rows half of the time. The jobs the fuzzing enqueued run at
the end, and none may fail. The assistant's model endpoint refuses connections (as in the
assistant's own tests): its input handling is fuzzed, not a model, and its "could not answer"
503 is allowed. Bounded and deterministic for CI (fixed seed, derandomized, few
examples); set AGORA_FUZZ_EXAMPLES (and AGORA_FUZZ_SEED) to fuzz harder locally, e.g.
`AGORA_FUZZ_EXAMPLES=500 AGORA_FUZZ_SEED=7 pytest tests/test_schema_fuzz.py`.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pytest
import requests
import schemathesis
from anyio.from_thread import start_blocking_portal
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from sqlalchemy import select

from agora.app import create_app
from agora.config import Settings, get_settings
from agora.db.engine import Database
from agora.db.models import Job, utcnow
from agora.jobs.worker import Worker

MAX_EXAMPLES = int(os.environ.get("AGORA_FUZZ_EXAMPLES", "8"))
SEED = int(os.environ.get("AGORA_FUZZ_SEED", "20240601"))
HTML_OPERATIONS = ("/oauth/authorize",)  # a browser page: its errors are HTML by design
APP = create_app(migrate=False)  # no in-process worker: the jobs run at the end, in order
BODY_IDS = ("in_reply_to_id", "quoted_status_id")
REAL_IDS: dict[str, list[str]] = {}  # filled by the `world` fixture, read while generating
MODEL_DOWN = "The assistant could not answer"


@dataclass
class World:
    """The fuzzing caller's headers and the ids of the rows seeded around it."""

    headers: dict[str, str]
    ids: dict[str, list[str]]


def _config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "phases": {"stateful": {"enabled": False}},
        }
    )


schema = schemathesis.openapi.from_asgi("/api/openapi.json", APP, config=_config())


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Half of the time, replace fuzzed path ids with ids of real rows (the others of a path
    with several, such as `…/quotes/{quoting_status_id}/revoke`, stay fuzzed)."""
    names = path_parameters or {}
    real = {name: st.sampled_from(REAL_IDS[name]) for name in names if REAL_IDS.get(name)}
    if not real:
        return st.just(path_parameters)
    merged = st.fixed_dictionaries(real).map(lambda ids: {**names, **ids})
    return st.one_of(st.just(path_parameters), merged)


@schema.hook
def flatmap_body(context: Any, body: Any) -> Any:
    """Post bodies name a reply or quote target: keep the fuzzed one, drop it, or use a real
    post, so that creating posts gets past the look-up of its target."""
    fields = [k for k in BODY_IDS if isinstance(body, dict) and k in body]
    if not fields or not REAL_IDS.get("status_id"):
        return st.just(body)
    rest = {k: v for k, v in body.items() if k not in fields}
    real = st.fixed_dictionaries({k: st.sampled_from(REAL_IDS["status_id"]) for k in fields})
    return st.one_of(st.just(body), st.just(rest), real.map(lambda ids: {**rest, **ids}))


def _ok(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def _sign_up(http: requests.Session, app_headers: dict[str, str], name: str) -> dict[str, Any]:
    form = {
        "username": name,
        "email": f"{name}@example.org",
        "password": "correct horse battery",
        "agreement": "true",
    }
    token = _ok(http.post("/api/v1/accounts", data=form, headers=app_headers))["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    return {
        "headers": headers,
        **_ok(http.get("/api/v1/accounts/verify_credentials", headers=headers)),
    }


def _app_headers(http: requests.Session) -> dict[str, str]:
    app = _ok(
        http.post("/api/v1/apps", data={"client_name": "fuzz", "scopes": "read write follow push"})
    )
    grant = {"grant_type": "client_credentials", "scope": "read write follow push"}
    grant.update(client_id=app["client_id"], client_secret=app["client_secret"])
    return {"Authorization": f"Bearer {_ok(http.post('/oauth/token', data=grant))['access_token']}"}


def _seed(http: requests.Session, since: datetime) -> World:
    """Two people (one locked), posts of every visibility, a reply, a boost, a like, a follow
    request, and the notifications these deliver."""
    suffix, app_headers = secrets.token_hex(3), _app_headers(http)
    me, other = (_sign_up(http, app_headers, f"{n}{suffix}") for n in ("fuzz", "friend"))
    http.patch(
        "/api/v1/accounts/update_credentials", data={"locked": "true"}, headers=other["headers"]
    )
    _ok(http.post(f"/api/v1/accounts/{other['id']}/follow", headers=me["headers"]))
    _ok(http.post(f"/api/v1/accounts/{me['id']}/follow", headers=other["headers"]))

    def post(who: dict[str, Any], **data: str) -> str:
        return _ok(http.post("/api/v1/statuses", data=data, headers=who["headers"]))["id"]

    posts = [post(me, status=f"mine #fuzz @{other['username']}")]
    for visibility in ("public", "unlisted", "private", "direct"):
        posts.append(post(other, status=f"@{me['username']} {visibility}", visibility=visibility))
    posts.append(post(other, status="a reply", in_reply_to_id=posts[0]))
    posts.append(_ok(http.post(f"/api/v1/statuses/{posts[1]}/reblog", headers=me["headers"]))["id"])
    _ok(http.post(f"/api/v1/statuses/{posts[0]}/favourite", headers=other["headers"]))
    assert run_jobs(since) == []
    notes = _ok(http.get("/api/v1/notifications", headers=me["headers"]))
    return World(
        me["headers"],
        {
            "account_id": [me["id"], other["id"]],
            "status_id": posts,
            "notification_id": [n["id"] for n in notes],
            "hashtag": ["fuzz", "nothing"],
        },
    )


def run_jobs(since: datetime) -> list[str]:
    """Run every due job (on a loop of its own); the errors of jobs created since `since`."""
    with start_blocking_portal() as portal:
        return portal.call(_run_jobs, Settings().database_url, since)


async def _run_jobs(database_url: str, since: datetime) -> list[str]:
    db = Database(database_url)
    try:
        await Worker(db).run_until_idle()
        async with db.session() as session:
            rows = await session.execute(
                select(Job.kind, Job.last_error).where(
                    Job.last_error.is_not(None), Job.created_at >= since
                )
            )
            return [f"{kind}: {error}" for kind, error in rows]
    finally:
        await db.dispose()


@pytest.fixture(autouse=True)
def clean_tables() -> None:
    """Overrides conftest's: every operation runs against the same seeded world."""


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model_down() -> Iterator[None]:
    """The assistant talks to a model endpoint that refuses connections."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGORA_AI_PROVIDER", "openai")
        mp.setenv("AGORA_OPENAI_BASE_URL", f"http://127.0.0.1:{_closed_port()}/v1")
        mp.setenv("AGORA_OPENAI_MODEL", "down")
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def world(db: object, model_down: None) -> Iterator[World]:
    """The seeded world, shared by every operation; runs the fuzzed jobs when done."""
    started = utcnow()
    with asgi.get_client(APP) as http:
        seeded = _seed(http, started)
    REAL_IDS.update(seeded.ids)
    yield seeded
    REAL_IDS.clear()
    asgi.shutdown_lifespans()  # closes the app's database
    errors = run_jobs(started)
    assert not errors, f"background jobs failed on fuzzed data: {errors}"


def _error(response: Any) -> Any:
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    return data.get("error") if isinstance(data, dict) else None


def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """`not_a_server_error`, except the assistant's 503 when its model is down."""
    if response.status_code == 503 and str(_error(response)).startswith(MODEL_DOWN):
        return None
    return not_a_server_error(ctx, response, case)


def mastodon_error_body(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx of the JSON API is `{"error": "<string>", ...}`."""
    if not 400 <= response.status_code < 500 or case.operation.path in HTML_OPERATIONS:
        return None
    if not isinstance(_error(response), str):
        body = response.content[:200]
        raise AssertionError(f'{response.status_code} body has no string "error": {body!r}')
    return None


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case: Any, world: World) -> None:
    """Every operation, fuzzed with valid and invalid input, answers without a 5xx."""
    case.call_and_validate(
        headers=dict(world.headers), checks=[no_server_error, mastodon_error_body]
    )
