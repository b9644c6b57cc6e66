"""RSA key pairs of local accounts, made when first needed.

Invariant: a local account's public key (`accounts.public_key_pem`) and private key
(`account_keys`) are written together, once: two processes that both find the key missing
each make one, and the first insert wins (the loser reads the winner's). So every document
that publishes the key and every signature made with it agree, and no migration has to make
keys for existing accounts (2048-bit keys take tens of milliseconds each). The key is made
outside any transaction (in a thread), then stored in a short one.

The instance actor (`/actor`, federation/instance_actor.py) has one key pair of its own
(`instance_keys`), made the same way; it signs the fetches this server makes
(`instance_signer`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select, update

from agora.config import get_settings
from agora.db.engine import Database
from agora.db.models import Account, AccountKey, InstanceKey, utcnow
from agora.db.upsert import insert_ignore_one
from agora.federation.client import Signer

KEY_BITS = 2048
INSTANCE_ACTOR_PATH = "/actor"
INSTANCE_KEY = "instance_actor"


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A PEM private key (PKCS#8) and its PEM public key (SubjectPublicKeyInfo)."""

    private_pem: str
    public_pem: str


def generate_key_pair() -> KeyPair:
    """A fresh RSA-2048 key pair."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private.decode(), public.decode())


async def key_pair(db: Database, account_id: int) -> KeyPair:
    """The local account's key pair, made and stored now if it has none yet."""
    found = await _stored(db, account_id)
    if found is not None:
        return found
    fresh = await asyncio.to_thread(generate_key_pair)
    async with db.session(write=True) as session:
        if await insert_ignore_one(
            session,
            AccountKey,
            account_id=account_id,
            private_key_pem=fresh.private_pem,
            created_at=utcnow(),
        ):
            await session.execute(
                update(Account)
                .where(Account.id == account_id)
                .values(public_key_pem=fresh.public_pem)
            )
        await session.commit()
    stored = await _stored(db, account_id)
    assert stored is not None
    return stored


async def stored_key_pair(db: Database, account_id: int) -> KeyPair | None:
    """The local account's key pair if it has one (never made here: a deleted account's
    deliveries are signed with the key it had, or not at all)."""
    return await _stored(db, account_id)


async def _stored(db: Database, account_id: int) -> KeyPair | None:
    async with db.session() as session:
        row = (
            await session.execute(
                select(AccountKey.private_key_pem, Account.public_key_pem)
                .join(Account, Account.id == AccountKey.account_id)
                .where(AccountKey.account_id == account_id)
            )
        ).first()
    if row is None or row[1] is None:
        return None
    return KeyPair(row[0], row[1])


def instance_actor_uri() -> str:
    """The id of this server's instance actor."""
    return get_settings().base_url.rstrip("/") + INSTANCE_ACTOR_PATH


async def instance_key_pair(db: Database) -> KeyPair:
    """The instance actor's key pair, made and stored now if there is none yet (the first
    insert wins, as for accounts)."""
    found = await _stored_instance(db)
    if found is not None:
        return found
    fresh = await asyncio.to_thread(generate_key_pair)
    async with db.session(write=True) as session:
        await insert_ignore_one(
            session,
            InstanceKey,
            name=INSTANCE_KEY,
            private_key_pem=fresh.private_pem,
            public_key_pem=fresh.public_pem,
            created_at=utcnow(),
        )
        await session.commit()
    stored = await _stored_instance(db)
    assert stored is not None
    return stored


async def _stored_instance(db: Database) -> KeyPair | None:
    async with db.session() as session:
        row = await session.get(InstanceKey, INSTANCE_KEY)
        return None if row is None else KeyPair(row.private_key_pem, row.public_key_pem)


async def instance_signer(db: Database) -> Signer:
    """The key this server's fetches are signed with: the instance actor's."""
    pair = await instance_key_pair(db)
    return Signer(f"{instance_actor_uri()}#main-key", pair.private_pem)
