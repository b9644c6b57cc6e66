"""Resetting a forgotten password with a link sent by e-mail (or printed for the admin by
`agora user reset-password` when the server sends no mail).

A reset link works once, for `password_reset_hours`, and only the newest one works. Choosing
the new password ends every session and token of the account (auth/sign_outs.py) and, since
the link proved the person reads the address, confirms it. Asking for a link says nothing
about whether the address is known.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.auth.credentials import password_hash_for
from agora.auth.email_tokens import Purpose, end_unused, issue, peek, redeem
from agora.auth.sign_outs import end_every_sign_in
from agora.config import get_settings
from agora.db.models import Account, User, utcnow
from agora.mail.outgoing import queue_mail
from agora.mail.smtp import mail_configured
from agora.social.people.accounts import check_new_password
from agora.social.rules.errors import Invalid, NotFound

INVALID_LINK = "This password reset link is invalid or has expired"


def reset_link(token: str) -> str:
    """The page where `token` chooses a new password."""
    return f"{get_settings().base_url}/auth/password/edit?reset_password_token={token}"


async def _new_link(session: AsyncSession, account_id: int, email: str) -> str:
    await end_unused(session, account_id, Purpose.RESET)
    hours = get_settings().password_reset_hours
    return reset_link(issue(session, account_id, Purpose.RESET, email, timedelta(hours=hours)))


async def request_reset(session: AsyncSession, email: str) -> None:
    """The "forgot password" form: mail a reset link to `email` if it is an account's
    address (and a mail server is configured); nothing says whether it is. Commits."""
    row = (
        await session.execute(
            select(Account, User)
            .join(User, User.account_id == Account.id)
            .where(User.email == (email or "").strip().lower(), Account.suspended_at.is_(None))
        )
    ).first()
    if row is not None and mail_configured():
        account, user = row
        link = await _new_link(session, account.id, user.email)
        context = {
            "username": account.username,
            "link": link,
            "hours": get_settings().password_reset_hours,
        }
        queue_mail(session, user.email, "reset", user.locale, context)
    await session.commit()


async def admin_reset_link(session: AsyncSession, username: str) -> str:
    """A reset link for a local account, for the admin to hand over (`agora user
    reset-password`); NotFound for an unknown name. Commits."""
    row = (
        await session.execute(
            select(Account.id, User.email)
            .join(User, User.account_id == Account.id)
            .where(Account.username_lower == username.strip().lstrip("@").lower())
        )
    ).first()
    if row is None:
        raise NotFound("No such user")
    link = await _new_link(session, row.id, row.email)
    await session.commit()
    return link


async def link_works(session: AsyncSession, token: str | None) -> bool:
    """Whether a reset link would still work (the page shows its form only then)."""
    return await peek(session, token, Purpose.RESET) is not None


async def reset_password(session: AsyncSession, token: str | None, password: str) -> Account:
    """Choose a new password with a reset link: the link is used up, every session and token
    of the account ends, and its address counts as confirmed. Invalid for a bad password or a
    link that does not work (nothing changes then). Commits. argon2 runs before the write
    transaction begins (auth/credentials.py)."""
    check_new_password(password or "")
    password_hash = await password_hash_for(session, password)
    found = await redeem(session, token, Purpose.RESET)
    if found is None:
        raise Invalid(INVALID_LINK)
    user = await session.get(User, found.account_id)
    account = await session.get(Account, found.account_id)
    if user is None or account is None:
        raise Invalid(INVALID_LINK)
    user.password_hash = password_hash
    if user.confirmed_at is None and user.email == found.email:
        user.confirmed_at = utcnow()
    await end_every_sign_in(session, account.id)
    await session.commit()
    return account
