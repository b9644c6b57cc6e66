"""The request path stays lean (issue 19, docs/ARCHITECTURE.md "The request path"): no
endpoint or dependency FastAPI would run in a thread (a plain `def` costs a thread hop on
every request), and only pure ASGI middleware (no `BaseHTTPMiddleware`, which copies every
request and response through an extra task)."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.routing import APIRoute
from starlette.middleware.base import BaseHTTPMiddleware

from agora.app import create_app


def _runs_in_thread(call: Any) -> bool:
    if inspect.isclass(call):
        call = getattr(call, "__call__", call)  # noqa: B004 - a class used as a dependency
    return not (inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call))


def _sync_calls(dependant: Any, found: set[str]) -> None:
    call = dependant.call
    if call is not None and _runs_in_thread(call):
        found.add(f"{getattr(call, '__module__', '?')}.{getattr(call, '__qualname__', call)}")
    for sub in dependant.dependencies:
        _sync_calls(sub, found)


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, also those of included routers (FastAPI keeps them apart)."""
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        inner = getattr(route, "original_router", None)
        if inner is not None:
            out += _api_routes(inner.routes)
            for dep in inner.dependencies:
                # the router's own dependencies, as a route of their own
                out.append(APIRoute("/", dep.dependency, response_model=None))
    return out


def test_no_endpoint_or_dependency_runs_in_a_thread() -> None:
    app = create_app(migrate=False)
    found: set[str] = set()
    routes = _api_routes(app.routes)
    assert len(routes) > 100  # the API and the web app
    for route in routes:
        _sync_calls(route.dependant, found)
    assert not found, f"make these `async def` (FastAPI runs a plain def in a thread): {found}"


def test_middleware_is_pure_asgi() -> None:
    app = create_app(migrate=False)
    classes = [m.cls for m in app.user_middleware]
    assert classes, "the stack has Agora's middleware"
    assert not [c for c in classes if isinstance(c, type) and issubclass(c, BaseHTTPMiddleware)]


def test_query_parameters_read_by_hand_stay_in_the_schema() -> None:
    """The hot reads parse their query strings themselves (`params.reads_query`); the OpenAPI
    schema still lists each, once, as FastAPI listed the declared ones."""
    schema = create_app(migrate=False).openapi()
    paging = ["max_id", "since_id", "min_id", "limit"]
    flags = ["exclude_replies", "exclude_reblogs", "only_media", "pinned", "tagged"]
    expected = {
        "/api/v1/timelines/home": paging,
        "/api/v1/timelines/public": ["remote", "local", "only_media", *paging],
        "/api/v1/accounts/{account_id}/statuses": ["account_id", *flags, *paging],
        "/api/v1/notifications": paging,
        "/api/v1/accounts/{account_id}/followers": ["account_id", *paging],
    }
    for path, names in expected.items():
        found = schema["paths"][path]["get"]["parameters"]
        assert [p["name"] for p in found] == names, path
        for p in found:
            if p["name"] != "account_id":
                assert p["in"] == "query" and p["required"] is False, (path, p)
