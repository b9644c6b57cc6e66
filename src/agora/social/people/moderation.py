"""Moderation: the admin role and what admins do to accounts (silence, suspend, and undo).
This module is the only one that sets `suspended_at` / `silenced_at` (a test checks): also
for the accounts of a blocked server (`limit_accounts`, called by domain_blocks.py) and for
a remote account its server deleted (`close_remote_account`).

Every action, from the admin API or the CLI (`by` is None there), is written to the
moderation log (`moderation_actions`) in the same transaction as its effect. What a
suspension or a silence means for who sees what lives in social/rules/visibility.py; this module
only sets the flags. Reports are in social/people/reports.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.auth.token_cache import forget_credentials
from agora.db.models import Account, ModerationAction, Report, User, utcnow
from agora.social.rules.errors import Forbidden, Invalid, NotFound
from agora.social.rules.paging import Page, Slice, apply_page, keyed_slice

ACTIONS = ("none", "silence", "suspend")
UNSUPPORTED = ("disable", "sensitive")
MAX_TEXT = 5000


@dataclass(frozen=True, slots=True)
class Member:
    """An account with its sign-in record (None for accounts that cannot sign in)."""

    account: Account
    user: User | None

    @property
    def is_admin(self) -> bool:
        return self.user is not None and self.user.is_admin


async def is_admin(session: AsyncSession, account_id: int) -> bool:
    """True when the account belongs to a signed-up person with the admin role."""
    return bool(await session.scalar(select(User.is_admin).where(User.account_id == account_id)))


async def admin_ids(session: AsyncSession) -> list[int]:
    """Accounts of every admin who is not suspended."""
    rows = await session.scalars(
        select(User.account_id)
        .join(Account, Account.id == User.account_id)
        .where(User.is_admin.is_(True), Account.suspended_at.is_(None))
    )
    return list(rows)


async def load_members(session: AsyncSession, ids: list[int]) -> dict[int, Member]:
    """Accounts by id with their sign-in records, suspended ones included (admin views)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Account, User)
        .outerjoin(User, User.account_id == Account.id)
        .where(Account.id.in_(set(ids)))
    )
    return {account.id: Member(account, user) for account, user in rows}


async def get_member(session: AsyncSession, account_id: int) -> Member:
    """One account (suspended or not) with its sign-in record; NotFound otherwise."""
    found = await load_members(session, [account_id])
    if account_id not in found:
        raise NotFound()
    return found[account_id]


async def member_by_username(session: AsyncSession, username: str) -> Member:
    """An account by username (suspended or not); NotFound otherwise."""
    account_id = await session.scalar(
        select(Account.id).where(Account.username_lower == username.lstrip("@").lower())
    )
    if account_id is None:
        raise NotFound("No such account")
    return await get_member(session, account_id)


def _check_target(target: Member, by: Account | None, action: str) -> None:
    if by is not None and target.account.id == by.id:
        raise Forbidden("You cannot moderate your own account")
    if by is not None and action in ("silence", "suspend") and target.is_admin:
        raise Forbidden("Admins cannot be silenced or suspended; remove the admin role first")


async def _report_about(session: AsyncSession, report_id: int | None, target_id: int) -> None:
    if report_id is None:
        return
    report = await session.get(Report, report_id)
    if report is None:
        raise NotFound("No such report")
    if report.target_account_id != target_id:
        raise Invalid("Validation failed: the report is about another account")


def log_action(
    session: AsyncSession,
    by: Account | None,
    target_id: int,
    action: str,
    report_id: int | None = None,
    text: str = "",
) -> None:
    """Add an entry to the moderation log (in the caller's transaction)."""
    session.add(
        ModerationAction(
            account_id=by.id if by is not None else None,
            target_account_id=target_id,
            report_id=report_id,
            action=action,
            text=text,
            created_at=utcnow(),
        )
    )


def log_domain_action(
    session: AsyncSession, by: Account | None, domain: str, action: str, text: str = ""
) -> None:
    """Add an entry about a whole server (a domain block) to the moderation log."""
    session.add(
        ModerationAction(
            account_id=by.id if by is not None else None,
            target_account_id=None,
            target_domain=domain,
            action=action,
            text=text,
            created_at=utcnow(),
        )
    )


def log_server_action(session: AsyncSession, by: Account | None, action: str, text: str) -> None:
    """Add an entry about the server itself (a setting changed, a job retried or discarded)
    to the moderation log, in the caller's transaction."""
    session.add(
        ModerationAction(
            account_id=by.id if by is not None else None,
            target_account_id=None,
            action=action,
            text=text,
            created_at=utcnow(),
        )
    )


async def recent_log(session: AsyncSession, limit: int = 50) -> list[ModerationAction]:
    """The latest moderation log entries of every kind, newest first (the console)."""
    rows = await session.scalars(
        select(ModerationAction).order_by(ModerationAction.id.desc()).limit(limit)
    )
    return list(rows)


async def domain_history(session: AsyncSession, domain: str) -> list[ModerationAction]:
    """The moderation log of one domain, oldest first."""
    rows = await session.scalars(
        select(ModerationAction)
        .where(ModerationAction.target_domain == domain)
        .order_by(ModerationAction.id)
    )
    return list(rows)


async def limit_accounts(
    session: AsyncSession, covered: ColumnElement[bool], severity: str, since: datetime
) -> None:
    """Suspend (`severity` "suspend") or silence ("silence") the accounts `covered` selects
    that are not already, marking them with `since` (a domain block's `created_at`), so that
    `release_accounts` lifts exactly these. The caller logs the domain action."""
    if severity == "suspend":
        await session.execute(
            update(Account)
            .where(covered, Account.suspended_at.is_(None))
            .values(suspended_at=since)
        )
    elif severity == "silence":
        await session.execute(
            update(Account).where(covered, Account.silenced_at.is_(None)).values(silenced_at=since)
        )


async def release_accounts(
    session: AsyncSession, covered: ColumnElement[bool], since: datetime
) -> None:
    """Undo `limit_accounts(covered, ..., since)`: only the marks it set."""
    await session.execute(
        update(Account).where(covered, Account.suspended_at == since).values(suspended_at=None)
    )
    await session.execute(
        update(Account).where(covered, Account.silenced_at == since).values(silenced_at=None)
    )


def limit_new_account(account: Account, severity: str, since: datetime) -> None:
    """`limit_accounts` for one account just stored (in memory, in the caller's
    transaction)."""
    if severity == "suspend" and account.suspended_at is None:
        account.suspended_at = since
    if severity == "silence" and account.silenced_at is None:
        account.silenced_at = since


def close_remote_account(session: AsyncSession, account: Account) -> None:
    """A remote account its own server deleted: suspended here, and logged (no admin)."""
    if account.suspended_at is None:
        account.suspended_at = utcnow()
        log_action(session, None, account.id, "remote_delete")


async def close_own_account(
    session: AsyncSession, account_id: int, by: Account | None = None, action: str = "delete"
) -> None:
    """An account being deleted (social/people/account_deletion.py), by its owner (`by`
    None: logged as `self_delete`) or by an admin (`by`: logged as the admin's `action`,
    `delete`, or `reject` for a sign-up turned down):
    suspended now (kept if it already was) and marked deleted, in the caller's transaction.
    Its tokens are refused at once in every process (`forget_credentials`)."""
    now = utcnow()
    await session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(suspended_at=func.coalesce(Account.suspended_at, now), deleted_at=now)
    )
    forget_credentials(session, account_id=account_id)
    log_action(session, by, account_id, action if by is not None else "self_delete")


def check_rejectable(target: Member, by: Account) -> None:
    """Whether an admin may turn down this sign-up: one waiting for approval (Forbidden
    otherwise, as `approve`)."""
    _check_target(target, by, "none")
    if target.user is None or target.user.approved or target.account.deleted_at is not None:
        raise Forbidden("This account is not pending approval")


def check_deletable(target: Member, by: Account) -> None:
    """Whether an admin may delete this account: a local one, not their own, not an admin's,
    not deleted already (Forbidden / Invalid otherwise)."""
    _check_target(target, by, "suspend")
    if target.account.domain is not None:
        raise Invalid("Accounts of other servers cannot be deleted here; suspend them instead")
    if target.account.deleted_at is not None:
        raise Invalid("This account is already deleted")


async def domain_log(session: AsyncSession, limit: int = 50) -> list[ModerationAction]:
    """The latest moderation log entries about whole servers, newest first."""
    rows = await session.scalars(
        select(ModerationAction)
        .where(ModerationAction.target_domain.isnot(None))
        .order_by(ModerationAction.id.desc())
        .limit(limit)
    )
    return list(rows)


async def take_action(
    session: AsyncSession,
    target_id: int,
    action: str,
    *,
    by: Account | None,
    report_id: int | None = None,
    text: str = "",
) -> Member:
    """Act on an account as Mastodon's admin API does: `none` (a warning; resolves the
    given report), `silence` or `suspend` (both resolve every open report about it). Commits.
    """
    if action in UNSUPPORTED:
        raise Invalid(f"Validation failed: type {action} is not supported on this server")
    if action not in ACTIONS:
        raise Invalid("Validation failed: type must be one of none, silence, suspend")
    if len(text) > MAX_TEXT:
        raise Invalid(f"Validation failed: text is too long (maximum is {MAX_TEXT} characters)")
    target = await get_member(session, target_id)
    _check_target(target, by, action)
    await _report_about(session, report_id, target_id)
    now = utcnow()
    if action == "suspend" and target.account.suspended_at is None:
        target.account.suspended_at = now
        forget_credentials(session, account_id=target_id)  # its tokens: refused at once
    if action == "silence" and target.account.silenced_at is None:
        target.account.silenced_at = now
    await _resolve_reports(session, target_id, action, report_id, by)
    log_action(session, by, target_id, action, report_id, text)
    await session.commit()
    return target


async def _resolve_reports(
    session: AsyncSession, target_id: int, action: str, report_id: int | None, by: Account | None
) -> None:
    """`none` resolves only the report it names; other actions every open report about the
    account (Mastodon keeps other reports open after a mere warning)."""
    query = update(Report).where(Report.action_taken_at.is_(None))
    if action == "none":
        if report_id is None:
            return
        query = query.where(Report.id == report_id)
    else:
        query = query.where(Report.target_account_id == target_id)
    now = utcnow()
    await session.execute(
        query.values(
            action_taken_at=now,
            action_taken_by_account_id=by.id if by is not None else None,
            updated_at=now,
        )
    )


async def lift(session: AsyncSession, target_id: int, action: str, *, by: Account | None) -> Member:
    """`unsuspend` or `unsilence` an account. Forbidden when it is not in that state."""
    target = await get_member(session, target_id)
    _check_target(target, by, "none")
    if action == "unsuspend":
        if target.account.suspended_at is None:
            raise Forbidden("This account is not suspended")
        target.account.suspended_at = None
    elif action == "unsilence":
        if target.account.silenced_at is None:
            raise Forbidden("This account is not silenced")
        target.account.silenced_at = None
    else:
        raise Invalid("Validation failed: unknown action")
    log_action(session, by, target_id, action)
    await session.commit()
    return target


async def approve(session: AsyncSession, target_id: int, *, by: Account | None) -> Member:
    """Approve an account that signed up while registrations need approval
    (`AGORA_REGISTRATIONS=approval`): from now on its token, sign-ins and web sessions work.
    Commits and logs. Forbidden when it is not waiting for approval."""
    target = await get_member(session, target_id)
    _check_target(target, by, "none")
    if target.user is None or target.user.approved:
        raise Forbidden("This account is not pending approval")
    target.user.approved = True
    log_action(session, by, target_id, "approve")
    await session.commit()
    return target


async def set_admin(session: AsyncSession, username: str, admin: bool) -> Member:
    """Give or take the admin role (CLI). Commits. NotFound for accounts that cannot sign in."""
    member = await member_by_username(session, username)
    if member.user is None:
        raise NotFound("This account cannot sign in, so it cannot be an admin")
    member.user.is_admin = admin
    await session.commit()
    return member


STATUSES = ("active", "pending", "disabled", "silenced", "suspended")


@dataclass(frozen=True, slots=True)
class AccountFilter:
    """Mastodon's admin account filters (all accounts are local; no IPs are kept)."""

    status: str | None = None
    staff: bool = False
    username: str | None = None
    display_name: str | None = None
    email: str | None = None
    remote: bool = False
    by_ip: bool = False


def _status_condition(status: str) -> Any:
    if status not in STATUSES:
        raise Invalid(f"Validation failed: status must be one of {', '.join(STATUSES)}")
    return {
        "active": and_(
            Account.suspended_at.is_(None), or_(User.approved.is_(None), User.approved.is_(True))
        ),
        "pending": User.approved.is_(False),
        "disabled": false(),
        "silenced": Account.silenced_at.isnot(None),
        "suspended": Account.suspended_at.isnot(None),
    }[status]


async def list_members(session: AsyncSession, f: AccountFilter, page: Page) -> Slice[Member]:
    """A page of accounts for the admins, newest first (suspended ones included)."""
    if f.remote or f.by_ip:  # no federation, and sign-in addresses are not kept
        return Slice([], [])
    query = select(Account, User).outerjoin(User, User.account_id == Account.id)
    if f.status:
        query = query.where(_status_condition(f.status))
    if f.staff:
        query = query.where(User.is_admin.is_(True))
    if f.username:
        query = query.where(Account.username_lower.startswith(f.username.lower(), autoescape=True))
    if f.display_name:
        query = query.where(Account.display_name.icontains(f.display_name, autoescape=True))
    if f.email:
        query = query.where(User.email.contains(f.email.lower(), autoescape=True))
    rows = (await session.execute(apply_page(query, Account.id, page))).all()
    members = [Member(account, user) for account, user in rows]
    return keyed_slice(members, page, lambda member: member.account.id)


async def history(session: AsyncSession, target_id: int) -> list[ModerationAction]:
    """The moderation log of one account, oldest first."""
    rows = await session.scalars(
        select(ModerationAction)
        .where(ModerationAction.target_account_id == target_id)
        .order_by(ModerationAction.id)
    )
    return list(rows)
