"""The server's VAPID key pair (RFC 8292): push services check that every push to a
subscription is signed by the key the subscription was made for, so the public half is what
clients pass to `PushManager.subscribe` (`vapid_key` on apps, `configuration.vapid.public_key`
on the instance, the web app's service worker).

Invariant: there is one key pair per server, made once. `agora init` makes it, and any
process that needs it before (an install from before push existed) makes it on first need:
the pair is one row of `instance_secrets` ("private.public", both base64url without
padding), inserted with ON CONFLICT DO NOTHING, so two processes that both find it missing
agree on the first one written. The private half never leaves the database and the job that
signs with it; the public half is published.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from agora.db.engine import Database
from agora.db.models import InstanceSecret
from agora.db.upsert import insert_ignore_one

VAPID_SECRET = "vapid"


@dataclass(frozen=True, slots=True)
class VapidKeys:
    """The server's P-256 key pair: the private scalar (32 bytes) and the uncompressed public
    point (65 bytes), both base64url without padding, as Web Push writes them."""

    private_key: str
    public_key: str


def b64url(data: bytes) -> str:
    """base64url without padding (Web Push's encoding of keys)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """The bytes of base64url text, padded or not (ValueError when it is not base64url)."""
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_vapid_keys() -> VapidKeys:
    """A fresh P-256 key pair."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return VapidKeys(b64url(private), b64url(public))


def _parse(value: str) -> VapidKeys:
    private, _, public = value.partition(".")
    return VapidKeys(private, public)


async def vapid_keys(db: Database) -> VapidKeys:
    """The server's key pair, made and stored now if there is none yet."""
    async with db.session() as session:
        stored = await session.scalar(
            select(InstanceSecret.value).where(InstanceSecret.name == VAPID_SECRET)
        )
    if stored is not None:
        return _parse(stored)
    fresh = generate_vapid_keys()
    async with db.transaction() as session:
        await insert_ignore_one(
            session,
            InstanceSecret,
            name=VAPID_SECRET,
            value=f"{fresh.private_key}.{fresh.public_key}",
        )
        stored = await session.scalar(
            select(InstanceSecret.value).where(InstanceSecret.name == VAPID_SECRET)
        )
    assert stored is not None
    return _parse(stored)


async def vapid_public_key(db: Database) -> str:
    """The public half, for clients (made first if needed)."""
    return (await vapid_keys(db)).public_key
