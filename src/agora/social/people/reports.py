"""Reports: a person reports an account (and posts of it they can see); admins are notified
(an `admin.report` notification, by a job in the same transaction) and work through them.

Across servers: a report about a remote account may be forwarded to its server
(`forward`: a `federate_report` job sends it as Flag); a report another server sends
(`receive_report`) lands in the same queue, its reporter being the remote actor that sent it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, Notification, Post, Report, utcnow
from agora.db.upsert import affected_rows, insert_ignore
from agora.ids import new_id
from agora.jobs.job_kinds import JobKind, ReportFiledJob
from agora.jobs.queue import enqueue
from agora.social.instance.instance_settings import effective, rules_of
from agora.social.live.streams import announce_notification
from agora.social.people.lookup import get_account
from agora.social.people.moderation import admin_ids, log_action
from agora.social.reading.notifications import ADMIN_REPORT
from agora.social.rules.errors import Invalid, NotFound
from agora.social.rules.paging import Page, Slice, apply_page, keyed_slice
from agora.social.rules.visibility import visible_to

CATEGORIES = ("spam", "legal", "violation", "other")
MAX_COMMENT = 1000
MAX_STATUSES = 100


@dataclass(frozen=True, slots=True)
class ReportInput:
    """What a person sends with a report (ids already parsed)."""

    target_id: int
    status_ids: list[int]
    comment: str = ""
    category: str | None = None
    rule_ids: tuple[int, ...] = ()
    forward: bool = False


def _category(given: ReportInput, rule_ids: set[int]) -> str:
    category = given.category or ("violation" if given.rule_ids else "other")
    if category not in CATEGORIES:
        raise Invalid("Validation failed: category must be one of spam, legal, violation, other")
    if given.rule_ids and category != "violation":
        raise Invalid("Validation failed: rule_ids can only be given with category violation")
    unknown = [r for r in given.rule_ids if r not in rule_ids]
    if unknown:
        raise Invalid("Validation failed: rule_ids name rules this server does not have")
    return category


async def _reportable_posts(
    session: AsyncSession, reporter_id: int, target_id: int, status_ids: list[int]
) -> list[int]:
    wanted = list(dict.fromkeys(status_ids))
    if len(wanted) > MAX_STATUSES:
        raise Invalid(f"Validation failed: at most {MAX_STATUSES} status_ids per report")
    if not wanted:
        return []
    found = set(
        await session.scalars(
            select(Post.id).where(
                Post.id.in_(wanted),
                Post.account_id == target_id,
                visible_to(reporter_id, Post),
            )
        )
    )
    if len(found) != len(wanted):
        raise Invalid(
            "Validation failed: status_ids must be posts of the reported account that you can see"
        )
    return wanted


async def create_report(session: AsyncSession, reporter: Account, given: ReportInput) -> Report:
    """File a report; the admins are notified by a job. Commits. NotFound for an unknown or
    suspended account; Invalid for anything else wrong (nothing is stored then)."""
    target = await get_account(session, given.target_id)
    if target.id == reporter.id:
        raise Invalid("Validation failed: you cannot report yourself")
    if len(given.comment) > MAX_COMMENT:
        raise Invalid(f"Validation failed: comment is too long (maximum is {MAX_COMMENT})")
    rules = rules_of(await effective(session))  # the server rules an admin set
    category = _category(given, {rule_id for rule_id, _ in rules})
    posts = await _reportable_posts(session, reporter.id, target.id, given.status_ids)
    now = utcnow()
    report = Report(
        account_id=reporter.id,
        target_account_id=target.id,
        status_ids=posts,
        rule_ids=list(given.rule_ids),
        comment=given.comment,
        category=category,
        forwarded=given.forward and target.domain is not None,
        created_at=now,
        updated_at=now,
    )
    session.add(report)
    await session.flush()
    enqueue(session, JobKind.REPORT_FILED, {"report_id": report.id})
    if report.forwarded:  # sent as Flag to the account's server (federation)
        enqueue(session, JobKind.FEDERATE_REPORT, {"report_id": report.id})
    await session.commit()
    return report


async def receive_report(
    session: AsyncSession,
    reporter: Account,
    target: Account,
    post_ids: list[int],
    comment: str,
) -> Report:
    """A report from another server (`reporter` is the remote actor that sent it) about a local
    account: the posts kept are those of the target the reporter may see; the admins are
    notified as for any report. Does not commit."""
    kept = []
    if post_ids:
        kept = list(
            await session.scalars(
                select(Post.id).where(
                    Post.id.in_(post_ids[:MAX_STATUSES]),
                    Post.account_id == target.id,
                    visible_to(reporter.id, Post),
                )
            )
        )
    now = utcnow()
    report = Report(
        account_id=reporter.id,
        target_account_id=target.id,
        status_ids=sorted(kept),
        rule_ids=[],
        comment=comment[:MAX_COMMENT],
        category="other",
        forwarded=True,
        created_at=now,
        updated_at=now,
    )
    session.add(report)
    await session.flush()
    enqueue(session, JobKind.REPORT_FILED, {"report_id": report.id})
    return report


async def notify_admins(session: AsyncSession, payload: ReportFiledJob) -> None:
    """Job: an `admin.report` notification for every admin (not the reporter or the target).
    Idempotent: notifications are unique per admin and report."""
    report = await session.get(Report, payload["report_id"])
    if report is None:
        return
    skip = {report.account_id, report.target_account_id}
    for admin_id in await admin_ids(session):
        if admin_id in skip:
            continue
        note_id = new_id()
        inserted = await session.execute(
            insert_ignore(session, Notification).values(
                id=note_id,
                account_id=admin_id,
                from_account_id=report.account_id,
                type=ADMIN_REPORT,
                post_id=None,
                activity_id=report.id,
                created_at=utcnow(),
            )
        )
        if affected_rows(inserted):
            announce_notification(session, admin_id, note_id)  # streamed once this commits


@dataclass(frozen=True, slots=True)
class ReportFilter:
    """Mastodon's admin report filters: unresolved by default."""

    resolved: bool = False
    account_id: int | None = None
    target_account_id: int | None = None


async def list_reports(session: AsyncSession, f: ReportFilter, page: Page) -> Slice[Report]:
    """A page of reports, newest first."""
    query = select(Report).where(
        Report.action_taken_at.isnot(None) if f.resolved else Report.action_taken_at.is_(None)
    )
    if f.account_id is not None:
        query = query.where(Report.account_id == f.account_id)
    if f.target_account_id is not None:
        query = query.where(Report.target_account_id == f.target_account_id)
    rows = (await session.scalars(apply_page(query, Report.id, page))).all()
    return keyed_slice(rows, page, lambda report: report.id)


async def get_report(session: AsyncSession, report_id: int) -> Report:
    """One report; NotFound otherwise."""
    report = await session.get(Report, report_id)
    if report is None:
        raise NotFound()
    return report


async def load_reports(session: AsyncSession, ids: list[int]) -> dict[int, Report]:
    """Reports by id (for `admin.report` notifications)."""
    if not ids:
        return {}
    rows = await session.scalars(select(Report).where(Report.id.in_(set(ids))))
    return {r.id: r for r in rows}


async def update_report(
    session: AsyncSession, report_id: int, change: str, by: Account | None
) -> Report:
    """`resolve`, `reopen`, `assign_to_self` or `unassign` a report (`by` is None from the
    CLI). Commits."""
    report = await get_report(session, report_id)
    now = utcnow()
    if change == "resolve":
        if report.action_taken_at is None:
            report.action_taken_at = now
            report.action_taken_by_account_id = by.id if by is not None else None
    elif change == "reopen":
        report.action_taken_at, report.action_taken_by_account_id = None, None
    elif change == "assign_to_self" and by is not None:
        report.assigned_account_id = by.id
    elif change == "unassign":
        report.assigned_account_id = None
    else:
        raise NotFound()
    report.updated_at = now
    log_action(session, by, report.target_account_id, change, report.id)
    await session.commit()
    return report
