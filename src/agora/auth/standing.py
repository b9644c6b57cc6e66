"""May this account act? The one rule every door's authentication asks.

An account may act (through a bearer token, a web session, or by signing in) only while it
is not suspended, its e-mail address is confirmed (`users.confirmed_at`; accounts made while
no mail server is configured are confirmed at once, auth/email_confirmation.py) and its
sign-up is approved (`users.approved`; AGORA_REGISTRATIONS=approval creates accounts
unapproved). Accounts without a `users` row (the assistant) are not refused here: they have
no password and hold only tokens the server issues itself.

`refusal` is the Python rule (bearer authentication, web sessions, sign-in); `may_act` is its
SQL twin (the streaming hub's periodic re-check of open connections). A test checks that
they agree on every case. The only door an unconfirmed account passes is the one that asks
for another confirmation mail (`POST /api/v1/emails/confirmations`,
`email_confirmation.awaiting_confirmation`), which accepts exactly the `UNCONFIRMED` refusal.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_

from agora.db.models import Account, User

SUSPENDED = "Your login is currently disabled"
UNCONFIRMED = "Your login is missing a confirmed e-mail address"
PENDING = "Your login is currently pending approval"


def refusal(account: Account, user: User | None) -> str | None:
    """Why this account may not act (Mastodon's 403 message), or None when it may."""
    if account.suspended_at is not None:
        return SUSPENDED
    if user is not None and user.confirmed_at is None:
        return UNCONFIRMED
    if user is not None and not user.approved:
        return PENDING
    return None


def may_act() -> ColumnElement[bool]:
    """SQL twin of `refusal(...) is None`, for a query that joins `Account` and outer-joins
    `User` on `User.account_id == Account.id`."""
    return and_(
        Account.suspended_at.is_(None),
        or_(
            User.account_id.is_(None),
            and_(User.approved.is_(True), User.confirmed_at.is_not(None)),
        ),
    )
