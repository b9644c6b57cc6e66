"""Link headers for paged responses, exactly as Mastodon sends them (next first)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from agora.config import get_settings
from agora.http.json import JSON

_CURSORS = {"max_id", "min_id", "since_id"}


def link_header(request: Request, next_max: int | None, prev_min: int | None) -> str | None:
    """`<...?max_id=X>; rel="next", <...?min_id=Y>; rel="prev"` for the current URL."""
    if next_max is None or prev_min is None:
        return None
    base = get_settings().base_url.rstrip("/") + request.url.path
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in _CURSORS]
    nxt = urlencode([*kept, ("max_id", str(next_max))])
    prev = urlencode([*kept, ("min_id", str(prev_min))])
    return f'<{base}?{nxt}>; rel="next", <{base}?{prev}>; rel="prev"'


def paged(
    request: Request, items: list[Any] | dict[str, Any], next_max: int | None, prev_min: int | None
) -> JSON:
    """A JSON list (or, for grouped notifications, object) response with its Link header:
    whenever there are cursors, even for an empty page (a list timeline page cut short by its
    bound on work continues from its cursors)."""
    response = JSON(items)
    header = link_header(request, next_max, prev_min)
    if header:
        response.headers["Link"] = header
    return response
