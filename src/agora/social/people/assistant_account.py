"""Accounts every server has: the assistant (a bot that cannot sign in)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.models import Account
from agora.social.people.accounts import create_account
from agora.social.people.lookup import find_by_username


async def ensure_assistant(session: AsyncSession) -> Account:
    """Create the assistant account if missing (bot flag set, no password). Idempotent."""
    name = get_settings().assistant_username
    existing = await find_by_username(session, name)
    if existing is not None:
        return existing
    return await create_account(session, username=name, bot=True, display_name="Assistant")
