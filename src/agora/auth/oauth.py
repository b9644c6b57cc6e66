"""OAuth 2 as Mastodon does it: apps, authorization codes (with PKCE), tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.auth import two_factor
from agora.auth.credentials import check_password, hash_token, new_token
from agora.auth.scopes import is_known, narrow, parse_scopes
from agora.auth.standing import may_act, refusal
from agora.auth.token_cache import forget_credentials
from agora.db.models import (
    AccessToken,
    Account,
    AuthorizationCode,
    OAuthApp,
    User,
    utcnow,
)
from agora.db.upsert import affected_rows
from agora.social.rules.errors import DomainError, Forbidden, Invalid, Unauthorized

OOB = "urn:ietf:wg:oauth:2.0:oob"
CODE_TTL = timedelta(minutes=10)
MAX_WEBSITE = 500
MAX_CODE_CHALLENGE = 128  # RFC 7636: 43 to 128 characters


class OAuthError(DomainError):
    """An RFC 6749 error: `error` is the code, `message` the description."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.status = status


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    scopes: list[str]
    created_at: int


async def register_app(
    session: AsyncSession,
    *,
    name: str,
    redirect_uris: str | list[str],
    scopes: str | None,
    website: str | None,
    trusted: bool = False,
) -> OAuthApp:
    """Register a client application. Commits. Only a `trusted` registration (by an admin,
    from the CLI) may ask for admin-granted scopes such as `read:datasets`."""
    uris = redirect_uris if isinstance(redirect_uris, list) else redirect_uris.split()
    if not name or not name.strip():
        raise Invalid("Validation failed: Application name can't be blank")
    if not uris:
        raise Invalid("Validation failed: Redirect URI can't be blank")
    for uri in uris:
        if uri != OOB and ("://" not in uri or any(c.isspace() for c in uri)):
            raise Invalid("Validation failed: Redirect URI must be an absolute URI")
    if website and len(website) > MAX_WEBSITE:
        raise Invalid(f"Validation failed: Website is too long (maximum is {MAX_WEBSITE})")
    requested = parse_scopes(scopes)
    unknown = [s for s in requested if not is_known(s, trusted=trusted)]
    if unknown:
        raise Invalid(f"Validation failed: Scopes are invalid: {' '.join(unknown)}")
    app = OAuthApp(
        name=name.strip()[:200],
        website=website,
        redirect_uris="\n".join(uris),
        scopes=" ".join(requested),
        client_id=new_token(),
        client_secret=new_token(),
        created_at=utcnow(),
    )
    session.add(app)
    await session.commit()
    return app


async def find_app(session: AsyncSession, client_id: str | None) -> OAuthApp:
    """The app with this client id; OAuthError otherwise."""
    app = await session.scalar(select(OAuthApp).where(OAuthApp.client_id == (client_id or "")))
    if app is None:
        raise OAuthError(
            "invalid_client", "Client authentication failed due to unknown client", 401
        )
    return app


async def authenticate_client(
    session: AsyncSession, client_id: str | None, secret: str | None
) -> OAuthApp:
    """The app, when `secret` matches its client secret."""
    app = await find_app(session, client_id)
    if not hmac.compare_digest(app.client_secret.encode(), (secret or "").encode()):
        raise OAuthError("invalid_client", "Client authentication failed", 401)
    return app


def check_redirect(app: OAuthApp, redirect_uri: str | None) -> str:
    """The redirect URI if registered for the app (the only one when omitted)."""
    registered = app.redirect_uris.split("\n")
    if not redirect_uri and len(registered) == 1:
        return registered[0]
    if redirect_uri not in registered:
        raise OAuthError("invalid_grant", "The redirect uri included is not valid.")
    return redirect_uri


def requested_scopes(app: OAuthApp, scope: str | None) -> list[str]:
    """The requested scopes, each of which the app registered for."""
    requested = parse_scopes(scope, default=app.scopes.split()[0] if app.scopes else "read")
    allowed = narrow(requested, app.scopes.split())
    if len(allowed) != len(requested):
        raise OAuthError("invalid_scope", "The requested scope is invalid, unknown, or malformed.")
    return requested


class SignInThrottle(Protocol):
    """Rate limits around a password check (implemented in http/ratelimit.py), told which
    account is tried: `attempt` may refuse (RateLimited) before the password is checked."""

    async def attempt(self, account_key: str) -> None: ...
    async def failed(self, account_key: str) -> None: ...
    async def succeeded(self, account_key: str) -> None: ...


def login_key(login: str) -> str:
    """A login as sign-in compares it: no surrounding spaces, lower case, no leading `@`s."""
    return (login or "").strip().lower().lstrip("@")


class SecondFactorRequired(OAuthError):
    """The password was right, and the account signs in with a second factor too: the
    sign-in pages ask for the code; the password grant, which has no place for one, stops
    here (as Mastodon's does)."""

    def __init__(self) -> None:
        super().__init__("invalid_grant", SECOND_FACTOR)


SECOND_FACTOR = (
    "This account uses two-factor sign-in: enter the code from your authenticator app "
    "(apps sign in through the browser)"
)


async def sign_in(
    session: AsyncSession,
    login: str,
    password: str,
    throttle: SignInThrottle | None = None,
    *,
    code: str | None = None,
) -> Account:
    """The account for an e-mail or username and password (and, when the account has
    two-factor sign-in on, a `code`: auth/two_factor.py); OAuthError otherwise (403 when the
    account may not act: `standing.refusal`; SecondFactorRequired without a code). Every
    door's password sign-in comes here, so `throttle` sees the account resolved, whatever
    spelling of it was typed, and counts a wrong code as a failed sign-in."""
    key = login_key(login)
    row = (
        await session.execute(
            select(User, Account)
            .join(Account, Account.id == User.account_id)
            .where((User.email == key) | (Account.username_lower == key))
        )
    ).first()
    user, account = (row[0], row[1]) if row else (None, None)
    account_key = f"account:{account.id}" if account is not None else f"login:{key}"
    if throttle is not None:
        await throttle.attempt(account_key)
    if not await check_password(session, user.password_hash if user else None, password or ""):
        if throttle is not None:
            await throttle.failed(account_key)
        raise OAuthError("invalid_grant", "Invalid email or password.")
    assert user is not None and account is not None
    if two_factor.enabled(user):
        if not code:
            raise SecondFactorRequired()
        if not await two_factor.verify(session, user, code):
            if throttle is not None:
                await throttle.failed(account_key)
            raise OAuthError("invalid_grant", two_factor.WRONG_CODE, 401)
        await session.commit()  # the code (its time step, or the recovery code) is used up
    if throttle is not None:
        await throttle.succeeded(account_key)
    refused = refusal(account, user)
    if refused:
        raise OAuthError("invalid_grant", refused, 403)
    return account


async def create_code(
    session: AsyncSession,
    app: OAuthApp,
    account: Account,
    scopes: list[str],
    redirect_uri: str,
    code_challenge: str | None,
    code_challenge_method: str | None,
) -> str:
    """Issue a one-time authorization code. Commits."""
    check_code_challenge(code_challenge, code_challenge_method)
    code = new_token()
    session.add(
        AuthorizationCode(
            code_hash=hash_token(code),
            app_id=app.id,
            account_id=account.id,
            scopes=" ".join(scopes),
            redirect_uri=redirect_uri,
            code_challenge=code_challenge,
            code_challenge_method=(code_challenge_method or "plain") if code_challenge else None,
            expires_at=utcnow() + CODE_TTL,
            used=False,
        )
    )
    await session.commit()
    return code


def check_code_challenge(challenge: str | None, method: str | None) -> None:
    """PKCE parameters as RFC 7636 allows them (S256 or plain, at most 128 characters)."""
    if not challenge:
        return
    if (method or "plain") not in ("S256", "plain"):
        raise OAuthError("invalid_request", "code_challenge_method must be S256 or plain")
    if len(challenge) > MAX_CODE_CHALLENGE:
        raise OAuthError("invalid_request", "code_challenge is longer than 128 characters")


def _pkce_ok(code: AuthorizationCode, verifier: str | None) -> bool:
    if code.code_challenge is None:
        return True
    if not verifier:
        return False
    if code.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        computed = verifier
    return hmac.compare_digest(computed, code.code_challenge)


async def exchange_code(
    session: AsyncSession,
    app: OAuthApp,
    code: str | None,
    redirect_uri: str | None,
    code_verifier: str | None,
) -> IssuedToken:
    """authorization_code grant: a code (used once, unexpired, PKCE-checked) for a token."""
    found = await session.scalar(
        select(AuthorizationCode).where(AuthorizationCode.code_hash == hash_token(code or ""))
    )
    invalid = OAuthError(
        "invalid_grant",
        "The provided authorization grant is invalid, expired, revoked, does not match the "
        "redirection URI used in the authorization request, or was issued to another client.",
    )
    if found is None or found.app_id != app.id or found.used or found.expires_at < utcnow():
        raise invalid
    if redirect_uri and redirect_uri != found.redirect_uri:
        raise invalid
    if not _pkce_ok(found, code_verifier):
        raise invalid
    claimed = await session.execute(
        update(AuthorizationCode)
        .where(AuthorizationCode.code_hash == found.code_hash, AuthorizationCode.used.is_(False))
        .values(used=True)
    )
    if not affected_rows(claimed):
        raise invalid
    return await issue_token(session, app, found.account_id, found.scopes.split())


async def issue_token(
    session: AsyncSession, app: OAuthApp, account_id: int | None, scopes: list[str]
) -> IssuedToken:
    """Create an access token (stored hashed). Commits."""
    token = new_token()
    row = AccessToken(
        token_hash=hash_token(token),
        app_id=app.id,
        account_id=account_id,
        scopes=" ".join(scopes),
        created_at=utcnow(),
    )
    session.add(row)
    await session.commit()
    return IssuedToken(token, scopes, int(row.created_at.timestamp()))


async def revoke(session: AsyncSession, app: OAuthApp, token: str) -> None:
    """Revoke a token the app holds (unknown tokens are ignored, per RFC 7009). Commits;
    every process stops accepting it at once (`token_cache.forget_credentials`)."""
    held = (AccessToken.token_hash == hash_token(token or ""), AccessToken.app_id == app.id)
    token_id = await session.scalar(select(AccessToken.id).where(*held))
    if token_id is None:
        return
    await session.execute(update(AccessToken).where(*held).values(revoked_at=utcnow()))
    forget_credentials(session, token_id=token_id)
    await session.commit()


@dataclass(slots=True)
class Credentials:
    """Who is calling: the token's scopes, its app, and the account (None for app tokens)."""

    token_id: int
    scopes: list[str]
    app: OAuthApp
    account: Account | None


async def authenticate(session: AsyncSession, token: str) -> Credentials:
    """Resolve a bearer token; Unauthorized when unknown or revoked, Forbidden when its
    account may not act (suspended, pending approval: `standing.refusal`)."""
    row = (
        await session.execute(
            select(AccessToken, OAuthApp, Account, User)
            .join(OAuthApp, OAuthApp.id == AccessToken.app_id)
            .outerjoin(Account, Account.id == AccessToken.account_id)
            .outerjoin(User, User.account_id == AccessToken.account_id)
            .where(AccessToken.token_hash == hash_token(token), AccessToken.revoked_at.is_(None))
        )
    ).first()
    if row is None:
        raise Unauthorized()
    access, app, account, user = row
    refused = refusal(account, user) if account is not None else None
    if refused:
        raise Forbidden(refused)
    return Credentials(access.id, access.scopes.split(), app, account)


async def valid_token_ids(session: AsyncSession, token_ids: set[int]) -> set[int]:
    """Those of `token_ids` that `authenticate` would still accept (not revoked, account
    allowed to act): long-lived connections (streaming) re-check their token with it."""
    rows = await session.scalars(
        select(AccessToken.id)
        .outerjoin(Account, Account.id == AccessToken.account_id)
        .outerjoin(User, User.account_id == AccessToken.account_id)
        .where(AccessToken.id.in_(token_ids), AccessToken.revoked_at.is_(None), may_act())
    )
    return set(rows.all())
