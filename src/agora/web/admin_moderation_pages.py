"""The admin console's moderation pages: reports (open or resolved, one report with the posts
it names, resolve / reopen / assign) and accounts (search, one account with its moderation
log, and suspend, silence, warn, their undoing, approve or turn down a sign-up, delete).

Admins only (`Admin`: a 404 for anyone else); every form is CSRF-checked (`Form`); each
action is one call of the service the admin API and the CLI call (social/people/
moderation.py, reports.py, account_deletion.py), which writes the moderation log. A refused
action is shown on the page it came from, with nothing changed."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from agora.http.deps import SessionDep
from agora.ids import parse_id
from agora.social.people import account_deletion, moderation, reports
from agora.social.rules.errors import DomainError, Invalid, NotFound
from agora.social.rules.paging import Page
from agora.web.admin_access import Admin
from agora.web.page_feeds import hydrate
from agora.web.render import render
from agora.web.route import id_or_404, web_router
from agora.web.session import Form, field

router = web_router()
PAGE_SIZE = 40
REPORT_CHANGES = {
    "resolve": "resolved",
    "reopen": "reopened",
    "assign_to_self": "assigned",
    "unassign": "unassigned",
}
LIFTS = ("unsuspend", "unsilence")


def _older(request: Request) -> Page:
    return Page(limit=PAGE_SIZE, max_id=parse_id(request.query_params.get("max_id")))


@router.get("/admin/reports")
async def reports_page(request: Request, session: SessionDep, me: Admin) -> Response:
    """Open reports (or resolved ones: `?resolved=1`), newest first, with who and what."""
    resolved = request.query_params.get("resolved") == "1"
    found = await reports.list_reports(
        session, reports.ReportFilter(resolved=resolved), _older(request)
    )
    people = {i for r in found.items for i in (r.account_id, r.target_account_id)}
    context = {
        "section": "reports",
        "resolved": resolved,
        "reports": found.items,
        "members": await moderation.load_members(session, list(people)),
        "next_max_id": found.next_max_id if len(found.items) >= PAGE_SIZE else None,
    }
    return render(request, "admin_reports.html", context)


async def _report_page(
    request: Request, session: AsyncSession, me: Admin, report_id: int, error: str | None = None
) -> Response:
    report = await reports.get_report(session, report_id)
    members = await moderation.load_members(
        session,
        [
            i
            for i in (
                report.account_id,
                report.target_account_id,
                report.assigned_account_id,
                report.action_taken_by_account_id,
            )
            if i is not None
        ],
    )
    # the reported posts as their reporter saw them (the admin API's rule: one hydration)
    posts = await hydrate(session, report.account_id, list(report.status_ids))
    context = {
        "section": "reports",
        "report": report,
        "members": members,
        "target": members[report.target_account_id],
        "posts": posts,
        "missing": len(report.status_ids) - len(posts),
        "error": error,
    }
    return render(request, "admin_report.html", context, status=422 if error else 200)


@router.get("/admin/reports/{report_id}")
async def report_page(request: Request, session: SessionDep, me: Admin, report_id: str) -> Response:
    """One report: reporter, account, comment, the reported posts and the actions."""
    return await _report_page(request, session, me, id_or_404(report_id))


@router.post("/admin/reports/{report_id}/{change}")
async def change_report(
    session: SessionDep, me: Admin, form: Form, report_id: str, change: str
) -> Response:
    """Resolve, reopen, assign to oneself or unassign a report."""
    if change not in REPORT_CHANGES:
        raise NotFound()
    report = await reports.update_report(session, id_or_404(report_id), change, me.account)
    return RedirectResponse(
        f"/admin/reports/{report.id}?done={REPORT_CHANGES[change]}", status_code=303
    )


@router.get("/admin/accounts")
async def accounts_page(request: Request, session: SessionDep, me: Admin) -> Response:
    """Accounts, newest first: searched by username, display name or e-mail (`q`), and by
    status (active, pending, silenced, suspended)."""
    q = request.query_params.get("q", "").strip()[:200]
    status = request.query_params.get("status") or None
    if status not in moderation.STATUSES:
        status = None
    by = request.query_params.get("by", "username")
    f = moderation.AccountFilter(
        status=status,
        username=q if by == "username" and q else None,
        display_name=q if by == "display_name" and q else None,
        email=q if by == "email" and q else None,
    )
    found = await moderation.list_members(session, f, _older(request))
    context = {
        "section": "accounts",
        "q": q,
        "by": by,
        "status": status,
        "statuses": [s for s in moderation.STATUSES if s != "disabled"],
        "members": found.items,
        "next_max_id": found.next_max_id if len(found.items) >= PAGE_SIZE else None,
    }
    return render(request, "admin_accounts.html", context)


async def _account_page(
    request: Request,
    session: AsyncSession,
    account_id: int,
    error: str | None = None,
    status: int = 200,
) -> Response:
    member = await moderation.get_member(session, account_id)
    history = await moderation.history(session, account_id)
    admins = await moderation.load_members(
        session, [e.account_id for e in history if e.account_id is not None]
    )
    open_reports = await reports.list_reports(
        session, reports.ReportFilter(target_account_id=account_id), Page(limit=PAGE_SIZE)
    )
    context = {
        "section": "accounts",
        "member": member,
        "history": history,
        "admins": admins,
        "open_reports": open_reports.items,
        "report_id": parse_id(request.query_params.get("report_id")),
        "error": error,
    }
    return render(request, "admin_account.html", context, status=status)


@router.get("/admin/accounts/{account_id}")
async def account_page(
    request: Request, session: SessionDep, me: Admin, account_id: str
) -> Response:
    """One account: its state, open reports about it, its moderation log and the actions."""
    return await _account_page(request, session, id_or_404(account_id))


async def _refused(
    request: Request, session: AsyncSession, me: Admin, account_id: int, exc: DomainError
) -> Response:
    """The account's page again, saying why the action was refused (nothing changed)."""
    if isinstance(exc, NotFound):
        raise exc
    await session.rollback()
    await session.refresh(me.account)
    return await _account_page(request, session, account_id, exc.message, exc.status)


def _done(account_id: int, key: str) -> Response:
    return RedirectResponse(f"/admin/accounts/{account_id}?done={key}", status_code=303)


@router.post("/admin/accounts/{account_id}/action")
async def act(
    request: Request, session: SessionDep, me: Admin, form: Form, account_id: str
) -> Response:
    """Warn (`none`), silence or suspend, maybe about a report (which it resolves)."""
    target = id_or_404(account_id)
    kind = field(form, "type", "none")
    try:
        await moderation.take_action(
            session,
            target,
            kind,
            by=me.account,
            report_id=parse_id(field(form, "report_id")) if field(form, "report_id") else None,
            text=field(form, "text"),
        )
    except DomainError as exc:
        return await _refused(request, session, me, target, exc)
    return _done(target, kind)


async def _confirmed_deletion(session: AsyncSession, form: Form, target: int) -> None:
    """The deletion form asks for the username typed again (a slip of the mouse deletes
    nothing)."""
    member = await moderation.get_member(session, target)
    if field(form, "confirm").strip().lstrip("@").lower() != member.account.username.lower():
        raise Invalid("Type the account's username to confirm its deletion")


@router.post("/admin/accounts/{account_id}/{change}")
async def change_account(
    request: Request, session: SessionDep, me: Admin, form: Form, account_id: str, change: str
) -> Response:
    """Unsuspend, unsilence, approve or turn down a sign-up, or delete the account."""
    target = id_or_404(account_id)
    try:
        if change in LIFTS:
            await moderation.lift(session, target, change, by=me.account)
        elif change == "approve":
            await moderation.approve(session, target, by=me.account)
        elif change == "reject":
            await account_deletion.reject_sign_up(session, target, me.account)
        elif change == "delete":
            await _confirmed_deletion(session, form, target)
            await account_deletion.delete_by_admin(session, target, me.account)
        else:
            raise NotFound()
    except DomainError as exc:
        return await _refused(request, session, me, target, exc)
    return _done(target, change)
