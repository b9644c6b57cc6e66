"""Two-factor sign-in: TOTP codes (RFC 6238, 30-second steps, 6 digits, as every
authenticator app makes them) and ten single-use recovery codes.

Setting up stores a fresh secret (`users.otp_secret`) that is in force only once a code made
from it is entered (`enable`, which also hands out the recovery codes, shown once and stored
as SHA-256). A code is accepted for the current step or one step either side (clock drift),
and only for a step later than the last one accepted (`users.otp_last_step`, claimed with one
conditional UPDATE): a code seen over someone's shoulder, or sent twice, does not work again.
A recovery code works once.

`verify` is what sign-in asks (`oauth.sign_in`, every door's password sign-in); a wrong code
counts there as a failed sign-in. Turning 2FA off needs the password and a code (settings), or
the admin (`agora user disable-2fa`).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.auth.credentials import check_password, hash_token
from agora.config import get_settings
from agora.db.models import Account, RecoveryCode, User, utcnow
from agora.db.upsert import affected_rows
from agora.social.rules.errors import Invalid, NotFound

RECOVERY_CODES = 10
STEP_SECONDS = 30
DRIFT_STEPS = 1
WRONG_CODE = "Invalid two-factor code"
WRONG_PASSWORD = "Current password is wrong"


def enabled(user: User | None) -> bool:
    """Whether sign-in asks this person for a second factor."""
    return user is not None and user.otp_enabled_at is not None and user.otp_secret is not None


@dataclass(frozen=True, slots=True)
class Setup:
    """What the settings page shows while setting up: the secret, typed or scanned."""

    secret: str
    uri: str  # otpauth://totp/... for the authenticator app

    @property
    def qr_svg_data_uri(self) -> str:
        """The URI as a QR code, an SVG data: URI for an <img>."""
        return str(segno.make(self.uri, error="m").svg_data_uri(scale=5, border=2))


def _setup_of(account: Account, secret: str) -> Setup:
    issuer = get_settings().instance_title
    label = f"{account.username}@{get_settings().domain}"
    return Setup(secret, pyotp.TOTP(secret).provisioning_uri(name=label, issuer_name=issuer))


async def _user(session: AsyncSession, account_id: int) -> User:
    user = await session.get(User, account_id)
    if user is None:
        raise NotFound("No such user")
    return user


async def begin_setup(session: AsyncSession, account: Account) -> Setup:
    """A new secret to scan (not in force until `enable`); Invalid when 2FA is already on.
    Commits."""
    user = await _user(session, account.id)
    if enabled(user):
        raise Invalid("Two-factor sign-in is already on")
    user.otp_secret = pyotp.random_base32()
    secret = user.otp_secret
    await session.commit()
    return _setup_of(account, secret)


async def pending_setup(session: AsyncSession, account: Account) -> Setup | None:
    """The secret being set up (after `begin_setup`, before `enable`), if any."""
    user = await _user(session, account.id)
    if enabled(user) or user.otp_secret is None:
        return None
    return _setup_of(account, user.otp_secret)


def _matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step `code` was made for (within the allowed drift), or None."""
    typed = "".join((code or "").split())
    if not typed.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int((now if now is not None else time.time()) // STEP_SECONDS)
    for step in range(current + DRIFT_STEPS, current - DRIFT_STEPS - 1, -1):
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), typed):
            return step
    return None


async def _claim_step(session: AsyncSession, account_id: int, step: int) -> bool:
    """Record `step` as used, unless it (or a later one) already was."""
    claimed = await session.execute(
        update(User)
        .where(
            User.account_id == account_id,
            (User.otp_last_step.is_(None)) | (User.otp_last_step < step),
        )
        .values(otp_last_step=step)
    )
    return affected_rows(claimed) == 1


def _normalised_recovery(code: str) -> str:
    return "".join((code or "").split()).replace("-", "").lower()


async def _use_recovery_code(session: AsyncSession, account_id: int, code: str) -> bool:
    used = await session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.account_id == account_id,
            RecoveryCode.code_hash == hash_token(_normalised_recovery(code)),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
    )
    return affected_rows(used) == 1


async def verify(session: AsyncSession, user: User, code: str) -> bool:
    """Whether `code` is a good second factor for `user` now: a TOTP code of a step not used
    before, or an unused recovery code (then used up). Writes in the caller's transaction
    (the caller commits)."""
    if not enabled(user) or not code:
        return False
    assert user.otp_secret is not None
    step = _matching_step(user.otp_secret, code)
    if step is not None:
        return await _claim_step(session, user.account_id, step)
    return await _use_recovery_code(session, user.account_id, code)


def _new_recovery_codes() -> list[str]:
    return [f"{secrets.token_hex(4)}-{secrets.token_hex(4)}" for _ in range(RECOVERY_CODES)]


async def _replace_recovery_codes(session: AsyncSession, account_id: int) -> list[str]:
    codes = _new_recovery_codes()
    await session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
    session.add_all(
        RecoveryCode(account_id=account_id, code_hash=hash_token(_normalised_recovery(c)))
        for c in codes
    )
    return codes


async def enable(session: AsyncSession, account: Account, code: str) -> list[str]:
    """Put the secret being set up in force once a code made from it is entered; returns
    the ten recovery codes (shown once). Invalid for a wrong code or no setup. Commits."""
    user = await _user(session, account.id)
    if enabled(user) or user.otp_secret is None:
        raise Invalid("Start the set-up first")
    step = _matching_step(user.otp_secret, code)
    if step is None or not await _claim_step(session, account.id, step):
        raise Invalid(WRONG_CODE)
    user.otp_enabled_at = utcnow()
    codes = await _replace_recovery_codes(session, account.id)
    await session.commit()
    return codes


async def _check_password_and_code(
    session: AsyncSession, account: Account, password: str, code: str
) -> User:
    user = await _user(session, account.id)
    if not await check_password(session, user.password_hash, password or ""):
        raise Invalid(WRONG_PASSWORD)
    user = await _user(session, account.id)  # the read transaction ended for argon2
    if not await verify(session, user, code):
        raise Invalid(WRONG_CODE)
    return user


async def new_recovery_codes(
    session: AsyncSession, account: Account, password: str, code: str
) -> list[str]:
    """Replace the recovery codes (the old ones stop working), with the password and a
    code. Commits."""
    await _check_password_and_code(session, account, password, code)
    codes = await _replace_recovery_codes(session, account.id)
    await session.commit()
    return codes


async def disable(session: AsyncSession, account: Account, password: str, code: str) -> None:
    """Turn two-factor sign-in off, with the password and a code. Commits."""
    await _check_password_and_code(session, account, password, code)
    await _turn_off(session, account.id)
    await session.commit()


async def _turn_off(session: AsyncSession, account_id: int) -> None:
    await session.execute(
        update(User)
        .where(User.account_id == account_id)
        .values(otp_secret=None, otp_enabled_at=None, otp_last_step=None)
    )
    await session.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))


async def admin_disable(session: AsyncSession, username: str) -> bool:
    """`agora user disable-2fa`: turn it off for a local account (the person lost their
    device and codes); False when it was off. NotFound for an unknown name. Commits."""
    row = (
        await session.execute(
            select(User)
            .join(Account, Account.id == User.account_id)
            .where(Account.username_lower == username.strip().lstrip("@").lower())
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("No such user")
    was_on = enabled(row)
    await _turn_off(session, row.account_id)
    await session.commit()
    return was_on


async def recovery_codes_left(session: AsyncSession, account_id: int) -> int:
    """How many recovery codes are unused."""
    rows = await session.scalars(
        select(RecoveryCode.id).where(
            RecoveryCode.account_id == account_id, RecoveryCode.used_at.is_(None)
        )
    )
    return len(rows.all())


async def is_on(session: AsyncSession, account_id: int) -> bool:
    """Whether the account signs in with a second factor."""
    return enabled(await session.get(User, account_id))
