"""Confirming e-mail addresses: a new account's, and a changed one.

With a mail server (`mail.smtp.mail_configured`), a sign-up is unconfirmed until its link is
opened (auth/standing.py refuses it meanwhile, with `standing.UNCONFIRMED`), and a new address
replaces the old one only when the link sent to it is opened (the old address is told).
Without one, there is nothing to confirm with: sign-ups are confirmed at once and an address
change applies at once (with the password, as always).

Links expire after `email_confirmation_hours` and work once (auth/email_tokens.py); asking
again replaces the previous link. Asking for a link by address says nothing about whether the
address is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.auth.credentials import check_password, hash_token
from agora.auth.email_tokens import Purpose, end_unused, issue, redeem
from agora.auth.standing import UNCONFIRMED, refusal
from agora.config import get_settings
from agora.db.models import AccessToken, Account, OAuthApp, User, utcnow
from agora.mail.outgoing import queue_mail
from agora.mail.smtp import mail_configured
from agora.social.people.accounts import TAKEN, check_email
from agora.social.rules.errors import Forbidden, Invalid, Unauthorized
from agora.social.rules.limits import unique_or_invalid

INVALID_LINK = "This confirmation link is invalid or has expired"
NOT_AWAITING = "This method is only available while the e-mail is awaiting confirmation"
EMAIL_TAKEN = TAKEN["email"]


def _ttl() -> timedelta:
    return timedelta(hours=get_settings().email_confirmation_hours)


def confirmation_link(token: str) -> str:
    """The page that confirms with `token`."""
    return f"{get_settings().base_url}/auth/confirmation?confirmation_token={token}"


async def send_confirmation(
    session: AsyncSession, account: Account, user: User, email: str | None = None
) -> None:
    """Send a link confirming `email` (by default the account's own address) in the caller's
    transaction; earlier unused links stop working. A new address gets the `change_email`
    mail, the account's own the `confirm` mail."""
    address = email or user.email
    await end_unused(session, account.id, Purpose.CONFIRM)
    token = issue(session, account.id, Purpose.CONFIRM, address, _ttl())
    queue_mail(
        session,
        address,
        "confirm" if address == user.email else "change_email",
        user.locale,
        {
            "username": account.username,
            "link": confirmation_link(token),
            "hours": get_settings().email_confirmation_hours,
        },
    )


async def confirm(session: AsyncSession, token: str | None) -> Account:
    """Open a confirmation link: the address it was sent to becomes the account's, confirmed
    (a changed address replaces the old one, which is told). Invalid for an unknown, used or
    expired link, or when the new address was taken meanwhile. Commits."""
    found = await redeem(session, token, Purpose.CONFIRM)
    if found is None:
        raise Invalid(INVALID_LINK)
    user = await session.get(User, found.account_id)
    account = await session.get(Account, found.account_id)
    if user is None or account is None:
        raise Invalid(INVALID_LINK)
    old = user.email
    if found.email != old:
        await _take_address(session, user, found.email)
        queue_mail(
            session,
            old,
            "email_changed",
            user.locale,
            {"username": account.username, "new_email": found.email},
        )
    if user.confirmed_at is None:
        user.confirmed_at = utcnow()
    await session.commit()
    return account


async def _take_address(session: AsyncSession, user: User, email: str) -> None:
    taken = await session.scalar(select(User.account_id).where(User.email == email))
    if taken is not None and taken != user.account_id:
        raise Invalid(EMAIL_TAKEN)
    async with unique_or_invalid(session, {"email": EMAIL_TAKEN}):  # a concurrent change
        user.email = email
        await session.flush()


async def resend_to_address(session: AsyncSession, email: str) -> None:
    """The web's "resend the confirmation" form: a new link for the unconfirmed account of
    `email`, if there is one (nothing happens, and nothing says so, otherwise). Commits."""
    row = (
        await session.execute(
            select(Account, User)
            .join(User, User.account_id == Account.id)
            .where(User.email == email.strip().lower(), User.confirmed_at.is_(None))
        )
    ).first()
    if row is not None and mail_configured():
        await send_confirmation(session, row[0], row[1])
    await session.commit()


@dataclass(frozen=True, slots=True)
class Awaiting:
    """The caller of an e-mail endpoint: a token's account, its credentials and app."""

    account: Account
    user: User
    app: OAuthApp
    scopes: list[str]


async def token_holder(session: AsyncSession, token: str | None) -> Awaiting:
    """The account behind a bearer token, whether or not its address is confirmed (the
    e-mail endpoints are the one door an unconfirmed account passes); Unauthorized for an
    unknown token or an app token, Forbidden for any refusal but `UNCONFIRMED`."""
    row = (
        await session.execute(
            select(AccessToken.scopes, OAuthApp, Account, User)
            .join(OAuthApp, OAuthApp.id == AccessToken.app_id)
            .join(Account, Account.id == AccessToken.account_id)
            .join(User, User.account_id == Account.id)
            .where(
                AccessToken.token_hash == hash_token(token or ""),
                AccessToken.revoked_at.is_(None),
            )
        )
    ).first()
    if row is None:
        raise Unauthorized()
    scopes, app, account, user = row
    refused = refusal(account, user)
    if refused and refused != UNCONFIRMED:
        raise Forbidden(refused)
    return Awaiting(account, user, app, scopes.split())


async def resend_for(session: AsyncSession, caller: Awaiting, email: str | None) -> None:
    """`POST /api/v1/emails/confirmations`: send the unconfirmed caller a new link, to a
    corrected address when `email` is given (it replaces the unconfirmed one at once, as on
    Mastodon). Forbidden once confirmed. Commits."""
    if caller.user.confirmed_at is not None:
        raise Forbidden(NOT_AWAITING)
    if email:
        check_email(email)
        await _take_address(session, caller.user, email.strip().lower())
    if mail_configured():
        await send_confirmation(session, caller.account, caller.user)
    await session.commit()


async def change_email(
    session: AsyncSession, account: Account, password: str, new_email: str
) -> bool:
    """Settings: use `new_email` from now on, after checking the password. With a mail
    server, a link goes to the new address and nothing changes until it is opened (returns
    True: "check your inbox"); without one the address changes at once (returns False).
    Invalid for a wrong password, a bad or taken address. Commits."""
    address = (new_email or "").strip().lower()
    check_email(address)
    user = await session.get(User, account.id)
    if user is None or not await check_password(session, user.password_hash, password or ""):
        raise Invalid("Current password is wrong")
    if address == user.email:
        raise Invalid("This is already your e-mail address")
    if await session.scalar(select(User.account_id).where(User.email == address)):
        raise Invalid(EMAIL_TAKEN)
    if mail_configured():
        await send_confirmation(session, account, user, address)
        await session.commit()
        return True
    await _take_address(session, user, address)
    await session.commit()
    return False


async def address_of(session: AsyncSession, account_id: int) -> str:
    """The account's current e-mail address ('' for an account that cannot sign in)."""
    return await session.scalar(select(User.email).where(User.account_id == account_id)) or ""
