"""Signing up, as every door does it (API `POST /api/v1/accounts`, the web's sign-up form):
the registrations setting (AGORA_REGISTRATIONS, or what an admin chose since:
social/instance/instance_settings.py) decides whether anyone may (closed: 403) and whether a
moderator approves first (approval); a configured mail server decides whether the address must
be confirmed first (the link is mailed in the sign-up's own transaction:
auth/email_confirmation.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.auth.email_confirmation import send_confirmation
from agora.db.models import Account, User
from agora.mail.smtp import mail_configured
from agora.social.instance.instance_settings import effective
from agora.social.people.accounts import create_account
from agora.social.rules.errors import Forbidden, Invalid

CLOSED = "Registrations are closed on this server"
RULES = "You must accept the server rules"


@dataclass(frozen=True, slots=True)
class Registered:
    """A new account, and what stands between it and acting."""

    account: Account
    confirming: bool  # a confirmation link was mailed
    pending: bool  # a moderator approves it first


async def register(
    session: AsyncSession,
    *,
    username: str,
    email: str,
    password: str,
    agreement: bool,
    locale: str = "en",
) -> Registered:
    """Create an account that can sign in (once confirmed and approved where that applies).
    Forbidden when registrations are closed; Invalid without the agreement, or for a bad or
    taken username, e-mail or password. Commits."""
    mode = (await effective(session)).registrations
    if mode == "closed":
        raise Forbidden(CLOSED)
    if not agreement:
        raise Invalid(RULES)
    confirming = mail_configured()
    account = await create_account(
        session,
        username=username,
        email=email,
        password=password,
        approved=mode == "open",
        confirmed=not confirming,
        locale=(locale or "en")[:10],
    )
    if confirming:
        user = await session.scalar(select(User).where(User.account_id == account.id))
        assert user is not None  # create_account made it with the password
        await send_confirmation(session, account, user)
    await session.commit()
    return Registered(account, confirming, mode == "approval")
