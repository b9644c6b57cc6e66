"""How a door that may not import federation (the web app) asks for a remote account by
handle or actor URL: the application puts federation's resolver on `app.state`
(`RESOLVER_KEY`, set by create_app), and `resolve_remote` calls it. The resolver fetches the
account now (WebFinger, then its actor document, signed by the instance actor), outside any
transaction, stores it and returns it; it raises `Invalid` (a domain error every door answers
with 422) when it cannot."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from agora.db.engine import Database
from agora.db.models import Account

RESOLVER_KEY = "resolve_remote"
Resolver = Callable[[Database, str], Awaitable[Account]]


def is_remote_reference(given: str) -> bool:
    """Whether `given` names an account elsewhere: an http(s) URL, or `user@host`."""
    text = given.strip().lstrip("@")
    return text.startswith(("http://", "https://")) or "@" in text


async def resolve_remote(request: Request, given: str) -> Account:
    """The remote account `given` names, fetched now through the application's resolver."""
    resolver: Resolver = getattr(request.app.state, RESOLVER_KEY)
    return await resolver(request.app.state.db, given.strip())
