"""Request parameters as Mastodon clients send them: query string, form (with `key[]` and
`key[sub]` brackets), multipart or JSON, all read into one dict and validated by a pydantic
model, which also documents the body in the OpenAPI schema.

`flag` is the one rule for a truthy query or form value (every door: API query flags, the
streaming API, the web app's checkboxes and links). It is Mastodon's: Rails'
`ActiveModel::Type::Boolean` behind `truthy_param?` and the streaming server's `isTruthy`
treat a missing or empty value and "0", "f", "false", "off" as false and *everything else*
as true ("1", "t", "true", "on", "yes", and also "no" or any other word). Agora compares the
false words case-insensitively ("False" and "OFF" are false here; Rails lists only the lower
and upper case spellings, so its mixed-case "False" would be true).

**Query strings read by hand on hot routes.** FastAPI validates each declared query
parameter on every request (some 15 to 40 µs of CPU each: a page of the home timeline
declared four, a profile's statuses nine). Plain string parameters of the hot reads
(`deps.paging`, the timelines' and profiles' flags) are read from `request.query_params`
instead, the same value FastAPI would take (the last one of a repeated key); `reads_query`
names them on the route or the dependency, and `document_query_reads` (run on every router
by `create_app`) writes them into the OpenAPI schema as optional string query parameters,
as FastAPI did.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, ValidationError

from agora.http.error_responses import ApiError
from agora.ids import parse_id

M = TypeVar("M", bound=BaseModel)
F = TypeVar("F", bound=Callable[..., Any])
FALSE_WORDS = frozenset({"0", "f", "false", "off"})
_BRACKETS = re.compile(r"\[([^\]]*)\]")
MAX_DEPTH = 32


def flag(value: object) -> bool:
    """A truthy query or form value, as Mastodon reads one: False when missing, empty or one
    of `FALSE_WORDS` (any case), True otherwise (see the module docstring)."""
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return False
    return str(value).lower() not in FALSE_WORDS


class Params(BaseModel):
    """Base of request models: unknown keys are ignored, as Mastodon does, and a JSON number
    is accepted where a string is expected (`"in_reply_to_id": 123`), as Rails params are."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


def _assign(target: dict[str, Any], key: str, value: Any) -> None:
    head = key.split("[", 1)[0]
    parts = _BRACKETS.findall(key[len(head) :])
    if not parts:
        target[head] = value
        return
    node: Any = target
    path = [head, *parts]
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        default: Any = [] if nxt == "" else {}
        if isinstance(node, list):
            node.append(default)
            node = node[-1]
            continue
        if not isinstance(node.get(part), list | dict):
            node[part] = default
        node = node[part]
    last = path[-1]
    if isinstance(node, list):
        node.append(value)
    else:
        node[last] = value


def nest(items: list[tuple[str, Any]]) -> dict[str, Any]:
    """Turn flat `a[]=1&a[]=2&f[0][name]=x` pairs into nested lists and dicts."""
    out: dict[str, Any] = {}
    for key, value in items:
        _assign(out, key, value)
    return out


def _check_values(data: dict[str, Any]) -> None:
    """Refuse NUL bytes anywhere (PostgreSQL cannot store them) and nesting deeper than any
    Mastodon parameter needs (Rack's limit, 32). Iterative: a deep body cannot blow the stack."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ApiError(400, "Invalid request: parameters are nested too deeply")
        if isinstance(value, str) and "\x00" in value:
            raise ApiError(400, "Invalid request: a parameter contains a null byte")
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for pair in value.items() for item in pair)
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


async def read_params(request: Request) -> dict[str, Any]:
    """Query parameters merged with the body (JSON, urlencoded or multipart)."""
    cached: dict[str, Any] | None = getattr(request.state, "params", None)
    if cached is not None:
        return cached
    data = nest(list(request.query_params.multi_items()))
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method not in ("GET", "HEAD", "DELETE") or ctype:
        data.update(await _body_params(request, ctype))
    _check_values(data)
    request.state.params = data
    return data


async def listed_ids(request: Request, most: int) -> list[int]:
    """The `id[]` parameter (query or body: Mastodon.py sends a JSON body even with GET) as
    distinct ids in the order given; values that are not ids are skipped (Mastodon's `to_i`
    finds no row for them); more than `most`: 422, as Mastodon's ValidationError."""
    given = (await read_params(request)).get("id")
    raw = given if isinstance(given, list) else [] if given is None else [given]
    ids = list(dict.fromkeys(i for i in map(parse_id, map(str, raw)) if i is not None))
    if len(ids) > most:
        raise ApiError(422, f"Validation failed: at most {most} ids may be asked for")
    return ids


async def _body_params(request: Request, ctype: str) -> dict[str, Any]:
    if ctype == "multipart/form-data":
        form = await request.form()
        return nest([(k, v) for k, v in form.multi_items() if isinstance(v, str)])
    body = await request.body()  # bounded by RequestGuard (http/guard.py)
    if not body.strip():
        return {}
    if ctype == "application/json" or (not ctype and body.lstrip()[:1] in (b"{", b"[")):
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ApiError(400, "Malformed JSON in request body") from None
        if not isinstance(parsed, dict):
            raise ApiError(422, "Request body must be a JSON object")
        return parsed
    from urllib.parse import parse_qsl

    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise ApiError(400, "Request body is not valid UTF-8") from None
    return nest(pairs)


def _message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "request"
    return f"Validation failed: {where}: {err.get('msg', 'invalid')}"


def validate(model: type[M], data: dict[str, Any]) -> M:
    """Validate `data` against `model`, answering 422 with a clear message on failure."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, _message(exc)) from None


def body(model: type[M]) -> Any:
    """Dependency: the merged request parameters validated as `model`."""

    async def dependency(request: Request) -> M:
        return validate(model, await read_params(request))

    return Depends(dependency)


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting a body that may be JSON or a form."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    content = {
        "application/json": {"schema": schema},
        "application/x-www-form-urlencoded": {"schema": schema},
    }
    return {"requestBody": {"content": content, "required": False}}


QUERY_READS = "agora_query_reads"  # the attribute `reads_query` sets


def reads_query(*names: str) -> Callable[[F], F]:
    """Mark an endpoint or dependency that reads the query parameters `names` itself from
    `request.query_params` (optional strings), for `document_query_reads`."""

    def mark(fn: F) -> F:
        setattr(fn, QUERY_READS, names)
        return fn

    return mark


def _query_reads(dependant: Dependant) -> list[str]:
    found = list(getattr(dependant.call, QUERY_READS, ()))
    for sub in dependant.dependencies:
        found += _query_reads(sub)
    return found


def document_query_reads(router: APIRouter) -> None:
    """Put the query parameters each of `router`'s routes reads by hand (`reads_query`, on
    the endpoint or any of its dependencies) into the OpenAPI schema, as FastAPI documents a
    declared `str | None` query parameter (before the router is included; once, however many
    apps include it)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        listed = (route.openapi_extra or {}).get("parameters", [])
        known = {p["name"] for p in listed if p.get("in") == "query"}
        names = [n for n in dict.fromkeys(_query_reads(route.dependant)) if n not in known]
        if not names:
            continue
        extra = route.openapi_extra = dict(route.openapi_extra or {})
        extra["parameters"] = [
            *listed,
            *(
                {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                for n in names
            ),
        ]
