"""Web-app sessions: a random token in an HttpOnly cookie, stored only as its SHA-256.

A session lasts `web_session_days` from sign-in (renewed when half of it has passed), ends at
sign-out, and every other session of the account ends when its password changes. The CSRF
token of a session is derived from the session token, so it needs no storage and is useless
without the cookie it belongs to.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.auth.credentials import check_password, hash_token, new_token, password_hash_for
from agora.auth.standing import refusal
from agora.config import get_settings
from agora.db.models import Account, User, WebSession, utcnow
from agora.social.rules.errors import Invalid

SESSION_COOKIE = "agora_session"  # the cookie holding the session token (http/ reads it too)
MAX_USER_AGENT = 300


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A valid session and its account."""

    session_id: int
    account: Account
    token: str

    @property
    def csrf(self) -> str:
        """The CSRF token forms and HTMX requests of this session must send back."""
        return csrf_for(self.token)


def csrf_for(secret: str) -> str:
    """The CSRF token bound to a session (or pre-session) secret."""
    return hashlib.sha256(f"agora-csrf:{secret}".encode()).hexdigest()[:32]  # 128 bits


def csrf_matches(secret: str | None, sent: str | None) -> bool:
    """True when `sent` is the CSRF token of `secret` (constant-time)."""
    if not secret or not sent:
        return False
    return hmac.compare_digest(csrf_for(secret), sent)


def _lifetime() -> timedelta:
    return timedelta(days=get_settings().web_session_days)


async def start_session(session: AsyncSession, account: Account, user_agent: str) -> str:
    """Open a session for `account`; returns the token for the cookie. Commits."""
    token = new_token()
    now = utcnow()
    session.add(
        WebSession(
            token_hash=hash_token(token),
            account_id=account.id,
            user_agent=(user_agent or "")[:MAX_USER_AGENT],
            created_at=now,
            expires_at=now + _lifetime(),
        )
    )
    await session.commit()
    return token


async def find_session(session: AsyncSession, token: str | None) -> SignedIn | None:
    """The session of a cookie token with its account, or None when unknown, expired or the
    account may not act (suspended, pending approval: `standing.refusal`). One query."""
    if not token:
        return None
    row = (
        await session.execute(
            select(WebSession.id, WebSession.expires_at, Account, User)
            .join(Account, Account.id == WebSession.account_id)
            .outerjoin(User, User.account_id == WebSession.account_id)
            .where(WebSession.token_hash == hash_token(token))
        )
    ).first()
    if row is None or row.expires_at <= utcnow() or refusal(row.Account, row.User):
        return None
    return SignedIn(row.id, row.Account, token)


async def renew_if_due(session: AsyncSession, signed_in: SignedIn) -> None:
    """Push the expiry back once half of the session's lifetime has passed. Commits when it
    writes (at most about once per half-lifetime)."""
    found = await session.get(WebSession, signed_in.session_id)
    if found is None:
        return
    if found.expires_at - utcnow() < _lifetime() / 2:
        found.expires_at = utcnow() + _lifetime()
        await session.commit()


async def end_session(session: AsyncSession, token: str | None) -> None:
    """Sign a browser out (unknown tokens are ignored). Commits."""
    if token:
        await session.execute(delete(WebSession).where(WebSession.token_hash == hash_token(token)))
        await session.commit()


async def change_password(
    session: AsyncSession, signed_in: SignedIn, current: str, new: str
) -> None:
    """Replace the password after checking the current one; every other session of the
    account ends. Invalid for a wrong current password or a bad new one. Commits. argon2
    runs with no transaction open (auth/credentials.py)."""
    user = await session.get(User, signed_in.account.id)
    if user is None or not await check_password(session, user.password_hash, current or ""):
        raise Invalid("Current password is wrong")
    if len(new or "") < 8:
        raise Invalid("Password is too short (minimum is 8 characters)")
    if len(new) > 256:
        raise Invalid("Password is too long")
    user.password_hash = await password_hash_for(session, new)
    await session.execute(
        delete(WebSession).where(
            WebSession.account_id == signed_in.account.id,
            WebSession.id != signed_in.session_id,
        )
    )
    await session.commit()
