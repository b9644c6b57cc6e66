"""Ending every way an account is signed in: its access tokens (revoked), its web sessions
and its unused authorization codes (deleted). A password reset calls it; so must anything
else that means "whoever held this account's credentials holds them no more".

Open streaming connections of the revoked tokens close at the hub's next token check
(`oauth.valid_token_ids`); the bearer-token cache (auth/token_cache.py) of every process
forgets the account's tokens when this commits.
"""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.auth.token_cache import forget_credentials
from agora.db.models import AccessToken, AuthorizationCode, WebSession, utcnow
from agora.db.upsert import affected_rows


async def end_every_sign_in(session: AsyncSession, account_id: int) -> int:
    """Revoke every live token of the account and end all its web sessions and unused
    authorization codes, in the caller's transaction; returns how many tokens and sessions
    ended."""
    tokens = await session.execute(
        update(AccessToken)
        .where(AccessToken.account_id == account_id, AccessToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    forget_credentials(session, account_id=account_id)
    sessions = await session.execute(delete(WebSession).where(WebSession.account_id == account_id))
    await session.execute(
        delete(AuthorizationCode).where(
            AuthorizationCode.account_id == account_id, AuthorizationCode.used.is_(False)
        )
    )
    return int(affected_rows(tokens) or 0) + int(affected_rows(sessions) or 0)
