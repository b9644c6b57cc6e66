"""Kept for tests written before tests/helpers.py: the web helpers live there now."""

from typing import Any

import httpx

from helpers import HX, PASSWORD, csrf_of, post_ids, post_status_id, web_sign_in

__all__ = ["HX", "PASSWORD", "api_post", "csrf_of", "post_ids", "web_sign_in"]


async def api_post(client: httpx.AsyncClient, person: Any, text: str, **extra: Any) -> str:
    """Post through the API as `person` with a JSON body (lists such as `media_ids` and
    nested fields such as `poll` stay whole); the new post's id."""
    return await post_status_id(client, person, text, as_json=True, **extra)
