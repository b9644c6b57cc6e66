"""**Who may be shown to strangers**: the one rule for every listing that puts an account (or
its posts) before people who did not look for it: the directory, follow suggestions and the
trends.

An account is listed only when its owner opted in (`discoverable`), it is neither suspended,
silenced, deleted nor moved away, and, for a local account, its sign-up is confirmed and
approved. `listable` is the Python rule; `listable_account` its SQL twin for a query over
`Account` (a test checks that they agree on every case).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, not_, or_

from agora.db.models import Account, User


def listable(account: Account, user: User | None) -> bool:
    """May this account appear in the directory, suggestions and trends?"""
    if not account.discoverable:
        return False
    gone = (account.suspended_at, account.silenced_at, account.deleted_at)
    if any(x is not None for x in gone) or account.moved_to_account_id is not None:
        return False
    return user is None or (user.approved and user.confirmed_at is not None)


def listable_account(account: type[Account] = Account) -> ColumnElement[bool]:
    """SQL twin of `listable`, on `Account` (or an alias of it)."""
    unready = exists().where(
        User.account_id == account.id,
        or_(User.approved.is_(False), User.confirmed_at.is_(None)),
    )
    return and_(
        account.discoverable.is_(True),
        account.suspended_at.is_(None),
        account.silenced_at.is_(None),
        account.deleted_at.is_(None),
        account.moved_to_account_id.is_(None),
        not_(unready),
    )
