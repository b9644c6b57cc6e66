"""The links sent by e-mail: random tokens, stored only as their SHA-256, that work once
and until they expire.

Issuing a token for a purpose ends the account's earlier unused ones of that purpose, so only
the newest link works. `redeem` claims a token with one conditional UPDATE (unused, unexpired,
of that purpose), so two concurrent uses of one link cannot both succeed.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.auth.credentials import hash_token, new_token
from agora.db.models import EmailToken, utcnow
from agora.db.upsert import affected_rows


class Purpose(StrEnum):
    CONFIRM = "confirm"  # confirm `email` (a new account's, or a changed address)
    RESET = "reset"  # choose a new password


def issue(
    session: AsyncSession, account_id: int, purpose: Purpose, email: str, ttl: timedelta
) -> str:
    """A new token for `purpose` (the raw token, for the link; only its hash is stored) in the
    caller's transaction. Call `end_unused` first when older links must stop working."""
    token = new_token()
    now = utcnow()
    session.add(
        EmailToken(
            token_hash=hash_token(token),
            account_id=account_id,
            purpose=purpose,
            email=email,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return token


async def end_unused(session: AsyncSession, account_id: int, purpose: Purpose) -> None:
    """Make the account's unused links of `purpose` unusable (a newer one replaces them)."""
    await session.execute(
        update(EmailToken)
        .where(
            EmailToken.account_id == account_id,
            EmailToken.purpose == purpose,
            EmailToken.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )


async def peek(session: AsyncSession, token: str | None, purpose: Purpose) -> EmailToken | None:
    """The token's row while it would still work (unused, unexpired), without using it: a
    page shows its form only for a link that works."""
    if not token:
        return None
    found = await session.scalar(
        select(EmailToken).where(
            EmailToken.token_hash == hash_token(token), EmailToken.purpose == purpose
        )
    )
    if found is None or found.used_at is not None or found.expires_at <= utcnow():
        return None
    return found


async def redeem(session: AsyncSession, token: str | None, purpose: Purpose) -> EmailToken | None:
    """Use the token once: its row when it worked (now marked used, in the caller's
    transaction), None when it is unknown, used, expired or of another purpose."""
    found = await peek(session, token, purpose)
    if found is None:
        return None
    claimed = await session.execute(
        update(EmailToken)
        .where(EmailToken.id == found.id, EmailToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    return found if affected_rows(claimed) == 1 else None
