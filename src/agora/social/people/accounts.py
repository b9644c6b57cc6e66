"""Accounts: sign-up, profile updates, passwords (look-ups are in lookup.py; suspending is
moderation.py's, always logged)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.auth.credentials import password_hash_for
from agora.config import get_settings
from agora.db.models import Account, User, utcnow
from agora.social.media.custom_emojis import account_emojis
from agora.social.people.relationships import accept_all_requests
from agora.social.posts.quote_rule import parse_policy
from agora.social.posts.text import render_html
from agora.social.reading.remote_audience import schedule_profile_update
from agora.social.rules.errors import Invalid, NotFound
from agora.social.rules.limits import unique_or_invalid

USERNAME_RE = re.compile(r"^[A-Za-z0-9_]{1,30}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
RESERVED = {"admin", "root", "api", "oauth", "well-known", "about", "settings", "web"}
MAX_FIELDS = 4
MAX_EMAIL = 320  # RFC 5321's limit, and the column's
USERNAME_TAKEN = "Username has already been taken"
EMAIL_TAKEN = "Email has already been taken"
TAKEN = {"username_lower": USERNAME_TAKEN, "email": EMAIL_TAKEN}  # unique key -> message


async def create_account(
    session: AsyncSession,
    *,
    username: str,
    email: str | None = None,
    password: str | None = None,
    approved: bool = True,
    confirmed: bool = True,
    is_admin: bool = False,
    bot: bool = False,
    display_name: str = "",
    locale: str = "en",
) -> Account:
    """Create an account (and its sign-in credentials when `password` is given).

    `confirmed=False` makes an account that may not act until its e-mail address is
    confirmed (auth/standing.py; `registration.register` decides). Does not commit. Raises
    Invalid for a bad or taken username, a bad or taken e-mail, or a password shorter than 8
    characters; also when a concurrent sign-up takes the username or
    the e-mail first (the unique keys decide, `limits.unique_or_invalid`). The password is
    hashed first, off the event loop and after ending the session's transaction if it has
    only read (auth/credentials.py)."""
    _validate_signup(username, email, password)
    signs_in = password is not None and email is not None
    password_hash = await password_hash_for(session, password) if password and signs_in else None
    if await session.scalar(select(Account.id).where(Account.username_lower == username.lower())):
        raise Invalid(USERNAME_TAKEN)
    if email and await session.scalar(select(User.account_id).where(User.email == email.lower())):
        raise Invalid(EMAIL_TAKEN)
    now = utcnow()
    account = Account(
        username=username,
        username_lower=username.lower(),
        display_name=display_name,
        bot=bot,
        created_at=now,
        fields=[],
        note="",
        note_html="",
        locked=False,
        discoverable=True,
        followers_count=0,
        following_count=0,
        statuses_count=0,
    )
    async with unique_or_invalid(session, TAKEN):  # a concurrent sign-up took the name
        session.add(account)
        await session.flush()
        if password_hash is not None and email is not None:
            session.add(
                User(
                    account_id=account.id,
                    email=email.lower(),
                    password_hash=password_hash,
                    approved=approved,
                    is_admin=is_admin,
                    locale=locale,
                    created_at=now,
                    confirmed_at=now if confirmed else None,
                )
            )
    return account


def _validate_signup(username: str, email: str | None, password: str | None) -> None:
    if not USERNAME_RE.match(username or ""):
        raise Invalid("Username must be 1-30 letters, digits or underscores")
    if username.lower() in RESERVED:
        raise Invalid("Username is reserved")
    if email is not None:
        check_email(email)
    if password is not None:
        check_new_password(password)


def check_email(email: str) -> None:
    """Invalid unless `email` looks like an address (and fits the column)."""
    if len(email) > MAX_EMAIL or not EMAIL_RE.match(email):
        raise Invalid("Email is invalid")


def check_new_password(password: str) -> None:
    """Invalid unless `password` is 8 to 256 characters long (every door that sets one)."""
    if len(password) < 8:
        raise Invalid("Password is too short (minimum is 8 characters)")
    if len(password) > 256:
        raise Invalid("Password is too long")


async def update_profile(session: AsyncSession, account: Account, changes: dict[str, Any]) -> None:
    """Apply profile changes (display_name, note, locked, bot, discoverable, hide_collections,
    fields, and the posting default `quote_policy`: who may quote one's new posts);
    remote followers are sent the new profile (Update(Person)). Commits."""
    policy = parse_policy(changes.get("quote_policy"))
    if "display_name" in changes:
        name = changes["display_name"] or ""
        if len(name) > 30:
            raise Invalid("Display name is too long (maximum is 30 characters)")
        account.display_name = name
    if "note" in changes:
        note = changes["note"] or ""
        if len(note) > 500:
            raise Invalid("Bio is too long (maximum is 500 characters)")
        account.note = note
        account.note_html = render_html(note, {}, get_settings().base_url) if note else ""
    unlocking = account.locked and changes.get("locked") is not None and not changes["locked"]
    for flag in ("locked", "bot", "discoverable", "hide_collections"):
        if changes.get(flag) is not None:
            setattr(account, flag, bool(changes[flag]))
    if changes.get("fields") is not None:
        account.fields = _clean_fields(changes["fields"])
    if {"display_name", "note", "fields"} & changes.keys():
        account.emojis = await account_emojis(session, account)
    if unlocking:
        await accept_all_requests(session, account)
    if policy is not None:
        await session.execute(
            update(User).where(User.account_id == account.id).values(default_quote_policy=policy)
        )
    await schedule_profile_update(session, account)
    await session.commit()


def _clean_fields(fields: list[dict[str, str]]) -> list[dict[str, str]]:
    cleaned = []
    for field in fields[:MAX_FIELDS]:
        name, value = (field.get("name") or "").strip(), (field.get("value") or "").strip()
        if len(name) > 255 or len(value) > 255:
            raise Invalid("Profile field is too long (maximum is 255 characters)")
        if name or value:
            cleaned.append({"name": name, "value": value})
    return cleaned


async def set_password(session: AsyncSession, username: str, password: str) -> None:
    """Replace a person's password. Commits. Hashed before the transaction begins."""
    _validate_signup("x", None, password)
    password_hash = await password_hash_for(session, password)
    user = await session.scalar(
        select(User)
        .join(Account, Account.id == User.account_id)
        .where(Account.username_lower == username.lower())
    )
    if user is None:
        raise NotFound("No such user")
    user.password_hash = password_hash
    await session.commit()


async def instance_stats(session: AsyncSession) -> tuple[int, int]:
    """(accounts, posts) of this server, suspended and remote accounts left out."""
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Account.statuses_count), 0)).where(
                Account.suspended_at.is_(None), Account.domain.is_(None)
            )
        )
    ).one()
    return int(row[0]), int(row[1])


MAX_ALIASES = 10


async def set_alias(session: AsyncSession, username: str, uri: str, *, keep: bool) -> list[str]:
    """Add (`keep`) or remove one of a local account's former identities (an actor URI on
    another server), published as `alsoKnownAs` so that a Move from there is accepted there.
    Commits; the account's aliases. Invalid for anything but an http(s) URL elsewhere."""
    account = await session.scalar(
        select(Account).where(Account.username_lower == username.lower(), Account.domain.is_(None))
    )
    if account is None:
        raise NotFound("No such account")
    given = uri.strip()
    host = re.match(r"^https?://([^/\s]+)/\S*$", given)
    if host is None or host.group(1).lower() == get_settings().domain.lower():
        raise Invalid("Validation failed: an alias is an actor URL on another server")
    aliases = [a for a in account.also_known_as or [] if a != given]
    if keep:
        aliases.append(given)
    if len(aliases) > MAX_ALIASES:
        raise Invalid(f"Validation failed: at most {MAX_ALIASES} aliases")
    account.also_known_as = aliases or None
    await session.commit()
    return aliases
