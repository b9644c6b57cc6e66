"""The instance actor: `/actor`, an `Application` that stands for the server itself.

It signs every fetch this server makes (federation/keys.py `instance_signer`), so servers in
authorized-fetch mode (Mastodon's secure mode, and Agora's `AGORA_AUTHORIZED_FETCH`) answer
them. Its own document is never behind authorized fetch: a server checking a signed fetch
must be able to read the signer's key without signing (w3c/activitypub#402). As on
Mastodon, its preferredUsername is the domain and WebFinger finds it as `DOMAIN@DOMAIN`; its
inbox is the shared inbox.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from agora.config import get_settings
from agora.federation.actors import CONTEXT, base_url, shared_inbox
from agora.federation.keys import instance_actor_uri, instance_key_pair
from agora.http.json import JSON

router = APIRouter(include_in_schema=False)
AP_TYPE = "application/activity+json"


def instance_actor_json(public_pem: str) -> dict[str, Any]:
    """The instance actor's document."""
    uri = instance_actor_uri()
    domain = get_settings().domain
    return {
        "@context": CONTEXT,
        "id": uri,
        "type": "Application",
        "preferredUsername": domain,
        "name": domain,
        "url": f"{base_url()}/about",
        "inbox": f"{uri}/inbox",
        "outbox": f"{uri}/outbox",
        "endpoints": {"sharedInbox": shared_inbox()},
        "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": public_pem},
        "manuallyApprovesFollowers": True,
        "discoverable": False,
        "indexable": False,
    }


def is_instance_actor(user: str, host: str) -> bool:
    """Whether a WebFinger `user@host` names the instance actor (`DOMAIN@DOMAIN`)."""
    domain = get_settings().domain.lower()
    return user.lower() == domain and host.lower() in ("", domain)


def webfinger_links() -> dict[str, Any]:
    """The WebFinger answer for the instance actor."""
    domain = get_settings().domain
    return {
        "subject": f"acct:{domain}@{domain}",
        "aliases": [instance_actor_uri()],
        "links": [{"rel": "self", "type": AP_TYPE, "href": instance_actor_uri()}],
    }


@router.get("/actor")
async def instance_actor(request: Request) -> Response:
    """The instance actor's document (open to everyone, whatever authorized fetch says)."""
    pair = await instance_key_pair(request.app.state.db)
    response = JSON(instance_actor_json(pair.public_pem), media_type=AP_TYPE)
    response.headers["Vary"] = "Accept"
    return response


@router.get("/actor/outbox")
async def instance_outbox() -> Response:
    """The instance actor's outbox: it publishes nothing."""
    uri = f"{instance_actor_uri()}/outbox"
    return JSON(
        {"@context": CONTEXT, "id": uri, "type": "OrderedCollection", "totalItems": 0},
        media_type=AP_TYPE,
    )
