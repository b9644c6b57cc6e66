"""Passwords (argon2) and random tokens stored as SHA-256 hashes.

Invariant: argon2 (about 100 ms of CPU per hash or check) never runs while the caller's
database transaction is open, nor on the event loop. Services that hold a session use
`check_password` and `password_hash_for`: they end the session's transaction when it has
only read (`end_read_transaction`; every door's is at that point), so a write session does
not hold SQLite's write lock meanwhile, and run argon2 in a worker thread (argon2-cffi
releases the GIL), so other requests go on.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import end_read_transaction

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, verified against when the account does not exist, so that
    sign-in takes as long for unknown accounts as for known ones (made on first use: an
    argon2 hash at import would cost every process, CLI commands included, ~170 ms of CPU)."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; runs in constant-ish time even without an account."""
    try:
        matched = _hasher.verify(password_hash or _dummy_hash(), password)
        return matched and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def check_password(session: AsyncSession, password_hash: str | None, password: str) -> bool:
    """`verify_password` off the event loop, after ending the session's transaction when it
    has only read (module docstring)."""
    await end_read_transaction(session)
    return await asyncio.to_thread(verify_password, password_hash, password)


async def password_hash_for(session: AsyncSession, password: str) -> str:
    """`hash_password` off the event loop, after ending the session's transaction when it
    has only read (module docstring)."""
    await end_read_transaction(session)
    return await asyncio.to_thread(hash_password, password)


def new_token() -> str:
    """A fresh random token (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256 hex digest."""
    return hashlib.sha256(token.encode()).hexdigest()
