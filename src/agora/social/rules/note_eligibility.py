"""Who may write and rate Community Notes: the one rule every door's note and rating pass
through (`social/community_notes/note_writing.py`).

An account may take part when it is older than `MIN_ACCOUNT_AGE` (7 days), is a person (not a
bot: the assistant drafts but never writes or rates), is not suspended or silenced, and no
moderation action was taken against it in the last `MODERATION_QUIET` (30 days; the moderation
log, `moderation_actions.target_account_id`). `refusal` is the Python rule; `may_take_part` is
its SQL twin (the rating queue and the datasets' count of contributors); a test checks they
agree on every case.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists

from agora.db.models import Account, ModerationAction

MIN_ACCOUNT_AGE = timedelta(days=7)
MODERATION_QUIET = timedelta(days=30)
TOO_NEW = "Community Notes are open to accounts older than a week"
MODERATED = "Community Notes are closed to accounts moderated in the last 30 days"
BOT = "Bots do not write or rate Community Notes"


def refusal(account: Account, last_moderated_at: datetime | None, now: datetime) -> str | None:
    """Why this account may not write or rate notes now (None when it may);
    `last_moderated_at` is the newest moderation action against it."""
    if account.bot:
        return BOT
    if account.created_at > now - MIN_ACCOUNT_AGE:
        return TOO_NEW
    if account.suspended_at is not None or account.silenced_at is not None:
        return MODERATED
    if last_moderated_at is not None and last_moderated_at > now - MODERATION_QUIET:
        return MODERATED
    return None


def may_take_part(now: datetime) -> ColumnElement[bool]:
    """SQL twin of `refusal(...) is None` for a query on `Account`."""
    recent = exists().where(
        ModerationAction.target_account_id == Account.id,
        ModerationAction.created_at > now - MODERATION_QUIET,
    )
    return and_(
        Account.bot.is_(False),
        Account.created_at <= now - MIN_ACCOUNT_AGE,
        Account.suspended_at.is_(None),
        Account.silenced_at.is_(None),
        ~recent,
    )
