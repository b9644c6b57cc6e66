"""Authorized fetch (Mastodon's secure mode): with `AGORA_AUTHORIZED_FETCH=true`, every
ActivityPub GET (actors, notes, collections) must be signed, draft-cavage or RFC 9421, by
the key of an actor this server knows or can fetch; anything else is answered 401. The
signature is checked with the same rules as an inbox delivery (federation/inbox.py
`signing_actor`: 12-hour window, covered target and host, the key's owner fetched from its
own host).

Signed whatever the setting: a partial followers collection (FEP-8fcf, `verified_fetcher`).
Open whatever the setting: the instance actor (`/actor`, so a peer can read the key of a
fetch it must check), WebFinger, host-meta and NodeInfo (not ActivityPub documents).

`request_url` is the URL a signer signed: this server's base URL with the request's path as
sent, before `routes.ActivityPubPaths` rewrote `/@NAME` to `/users/NAME`
(`SIGNED_PATH_KEY` keeps the original).
"""

from __future__ import annotations

from fastapi import Request

from agora.config import get_settings
from agora.db.models import Account
from agora.federation import inbox
from agora.federation.signatures import signing_key_id
from agora.http.error_responses import ApiError

SIGNED_PATH_KEY = "agora.signed_raw_path"  # the ASGI scope key of the path as sent


def request_url(request: Request) -> str:
    """The full URL of a request as its signer named it (see the module docstring)."""
    scope = request.scope
    raw_path = scope.get(SIGNED_PATH_KEY) or scope.get("raw_path") or request.url.path.encode()
    url = get_settings().base_url.rstrip("/") + raw_path.decode("latin-1")
    query = scope.get("query_string", b"")
    return url + ("?" + query.decode("latin-1") if query else "")


async def signed_fetcher(request: Request) -> Account | None:
    """Dependency of the ActivityPub GET routes: under authorized fetch, the remote actor
    whose signature the request carries (401 without a valid one); None when the setting is
    off."""
    if not get_settings().authorized_fetch:
        return None
    return await verified_fetcher(request)


async def verified_fetcher(request: Request) -> Account:
    """The remote actor whose valid signature a GET carries, whatever the setting (401
    without one): for what is only ever answered to a known server (a partial followers
    collection, federation/followers_sync.py)."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    key_id = signing_key_id(headers)
    if not key_id:
        raise ApiError(401, "Request not signed")
    url = request_url(request)
    fetch = inbox.Delivery(method=request.method, url=url, headers=headers, body=b"")
    try:
        return await inbox.signing_actor(request.app.state.db, fetch, key_id)
    except inbox.Refused as exc:
        raise ApiError(401, str(exc)) from None
