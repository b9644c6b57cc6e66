"""The applications a person has authorised (their live access tokens), and revoking one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.auth.token_cache import forget_credentials
from agora.db.models import AccessToken, OAuthApp, utcnow
from agora.db.upsert import affected_rows


@dataclass(frozen=True, slots=True)
class AuthorisedApp:
    """One application with live tokens for an account: the scopes they carry together."""

    app_id: int
    name: str
    website: str | None
    scopes: list[str]
    first_authorised: datetime


async def authorised_apps(session: AsyncSession, account_id: int) -> list[AuthorisedApp]:
    """Applications holding an unrevoked token of `account_id`, oldest first."""
    rows = await session.execute(
        select(OAuthApp.id, OAuthApp.name, OAuthApp.website, AccessToken.scopes)
        .join(AccessToken, AccessToken.app_id == OAuthApp.id)
        .where(AccessToken.account_id == account_id, AccessToken.revoked_at.is_(None))
        .order_by(AccessToken.created_at)
    )
    firsts = dict(
        (
            await session.execute(
                select(AccessToken.app_id, func.min(AccessToken.created_at))
                .where(AccessToken.account_id == account_id, AccessToken.revoked_at.is_(None))
                .group_by(AccessToken.app_id)
            )
        ).all()
    )
    apps: dict[int, AuthorisedApp] = {}
    for app_id, name, website, scopes in rows:
        known = apps.get(app_id)
        merged = sorted({*(known.scopes if known else []), *scopes.split()})
        apps[app_id] = AuthorisedApp(app_id, name, website, merged, firsts[app_id])
    return list(apps.values())


async def revoke_app(session: AsyncSession, account_id: int, app_id: int) -> int:
    """Revoke every token `app_id` holds for `account_id`; returns how many. Commits; every
    process stops accepting them at once (`token_cache.forget_credentials`). Open streaming
    connections of those tokens close at the hub's next token check."""
    result = await session.execute(
        update(AccessToken)
        .where(
            AccessToken.account_id == account_id,
            AccessToken.app_id == app_id,
            AccessToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    forget_credentials(session, account_id=account_id)
    await session.commit()
    return int(affected_rows(result) or 0)
