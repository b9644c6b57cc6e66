"""Finding local accounts: by id, by username, the accounts that mentions name, and their
profile URLs. Suspended accounts are never found. The module every other one in people/
and the services above may use (it imports none of them)."""

from __future__ import annotations

from functools import cache

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.models import Account
from agora.db.one_of import one_of
from agora.social.posts.text import MentionTarget
from agora.social.rules.errors import NotFound


def profile_url(username: str) -> str:
    """The public URL of a profile."""
    return f"{get_settings().base_url}/@{username}"


async def get_account(session: AsyncSession, account_id: int) -> Account:
    """The account with this id, unless suspended; raises NotFound."""
    account = await session.get(Account, account_id)
    if account is None or account.suspended_at is not None:
        raise NotFound()
    return account


async def find_by_username(session: AsyncSession, username: str) -> Account | None:
    """A local, unsuspended account by username (case-insensitive), or None."""
    name = username.lstrip("@").split("@", 1)[0].lower()
    account = await session.scalar(select(Account).where(Account.username_lower == name))
    return None if account is None or account.suspended_at is not None else account


async def resolve_mentions(session: AsyncSession, usernames: list[str]) -> dict[str, MentionTarget]:
    """Map lower-cased usernames (local) and `name@host` handles (remote accounts stored
    here) to the accounts they name (unknown ones are left out)."""
    if not usernames:
        return {}
    rows = await session.execute(_mentioned_accounts(), {"names": usernames})
    return {
        low: MentionTarget(id, name, (url or uri or "") if "@" in low else profile_url(name))
        for id, name, low, url, uri in rows
    }


@cache
def _mentioned_accounts() -> Select[int, str, str, str | None, str | None]:
    """`resolve_mentions`' read, built once (`names`: a list, `one_of`)."""
    return select(
        Account.id, Account.username, Account.username_lower, Account.url, Account.uri
    ).where(one_of(Account.username_lower, "names"), Account.suspended_at.is_(None))
