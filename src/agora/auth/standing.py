"""May this account act? The one rule every door's authentication asks.

An account may act (through a bearer token, a web session, or by signing in) only while it
is not suspended and its sign-up is approved (`users.approved`; AGORA_REGISTRATIONS=approval
creates accounts unapproved). Accounts without a `users` row (the assistant) are not
refused here: they have no password and hold only tokens the server issues itself.

`refusal` is the Python rule (bearer authentication, web sessions, sign-in); `may_act` is its
SQL twin (the streaming hub's periodic re-check of open connections). A test checks that
they agree on every case. A later "e-mail not confirmed" state belongs here too.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_

from agora.db.models import Account, User

SUSPENDED = "Your login is currently disabled"
PENDING = "Your login is currently pending approval"


def refusal(account: Account, user: User | None) -> str | None:
    """Why this account may not act (Mastodon's 403 message), or None when it may."""
    if account.suspended_at is not None:
        return SUSPENDED
    if user is not None and not user.approved:
        return PENDING
    return None


def may_act() -> ColumnElement[bool]:
    """SQL twin of `refusal(...) is None`, for a query that joins `Account` and outer-joins
    `User` on `User.account_id == Account.id`."""
    return and_(
        Account.suspended_at.is_(None),
        or_(User.account_id.is_(None), User.approved.is_(True)),
    )
