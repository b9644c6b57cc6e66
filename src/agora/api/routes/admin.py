"""Mastodon's admin API, the subset that fits a single server: reports and account actions.
Every route needs an admin:* scope and the admin role (403 otherwise)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from agora.api import serialise
from agora.api.entities import admin_account_json
from agora.db.models import Account
from agora.http.deps import SessionDep, admin_caller, id_param, paging
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.http.links import paged
from agora.http.params import Params, body, flag, openapi_body
from agora.social.people import account_deletion, moderation, reports
from agora.social.rules.errors import NotFound
from agora.social.rules.paging import Page

router = APIRouter(prefix="/api")


def _optional_id(value: str | int | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return id_param(str(value))
    except ApiError:
        raise ApiError(422, f"Validation failed: {name} must be a numeric id") from None


@router.get("/v1/admin/reports")
async def list_reports(
    request: Request,
    session: SessionDep,
    resolved: str | None = None,
    account_id: str | None = None,
    target_account_id: str | None = None,
    page: Page = paging(100, 200),
    me: Account = admin_caller("admin:read:reports"),
) -> JSON:
    f = reports.ReportFilter(
        resolved=flag(resolved),
        account_id=_optional_id(account_id, "account_id"),
        target_account_id=_optional_id(target_account_id, "target_account_id"),
    )
    found = await reports.list_reports(session, f, page)
    items = await serialise.admin_reports(session, found.items)
    return paged(request, items, found.next_max_id, found.prev_min_id)


@router.get("/v1/admin/reports/{report_id}")
async def get_report(
    session: SessionDep, report_id: str, me: Account = admin_caller("admin:read:reports")
) -> JSON:
    report = await reports.get_report(session, id_param(report_id))
    return JSON((await serialise.admin_reports(session, [report]))[0])


REPORT_CHANGES = ("resolve", "reopen", "assign_to_self", "unassign")


@router.post("/v1/admin/reports/{report_id}/{change}")
async def change_report(
    session: SessionDep,
    report_id: str,
    change: str,
    me: Account = admin_caller("admin:write:reports"),
) -> JSON:
    """Mastodon's resolve, reopen, assign_to_self and unassign (404 for anything else)."""
    if change not in REPORT_CHANGES:
        raise NotFound()
    report = await reports.update_report(session, id_param(report_id), change, me)
    return JSON((await serialise.admin_reports(session, [report]))[0])


@router.get("/v1/admin/accounts")
async def list_accounts_v1(
    request: Request,
    session: SessionDep,
    page: Page = paging(100, 200),
    me: Account = admin_caller("admin:read:accounts"),
) -> JSON:
    q = request.query_params
    status = next((s for s in moderation.STATUSES if flag(q.get(s))), None)
    f = moderation.AccountFilter(
        status=status,
        staff=flag(q.get("staff")),
        username=q.get("username"),
        display_name=q.get("display_name"),
        email=q.get("email"),
        remote=flag(q.get("remote")) or bool(q.get("by_domain")),
        by_ip=bool(q.get("ip")),
    )
    return await _accounts(request, session, f, page)


@router.get("/v2/admin/accounts")
async def list_accounts_v2(
    request: Request,
    session: SessionDep,
    page: Page = paging(100, 200),
    me: Account = admin_caller("admin:read:accounts"),
) -> JSON:
    q = request.query_params
    f = moderation.AccountFilter(
        status=q.get("status") or None,
        staff=q.get("permissions") == "staff",
        username=q.get("username"),
        display_name=q.get("display_name"),
        email=q.get("email"),
        remote=q.get("origin") == "remote" or bool(q.get("by_domain")),
        by_ip=bool(q.get("ip")),
    )
    return await _accounts(request, session, f, page)


async def _accounts(
    request: Request, session: SessionDep, f: moderation.AccountFilter, page: Page
) -> JSON:
    found = await moderation.list_members(session, f, page)
    items = [admin_account_json(m.account, m.user) for m in found.items]
    return paged(request, items, found.next_max_id, found.prev_min_id)


@router.get("/v1/admin/accounts/{account_id}")
async def get_account(
    session: SessionDep, account_id: str, me: Account = admin_caller("admin:read:accounts")
) -> JSON:
    return JSON(await serialise.admin_account(session, id_param(account_id)))


class ActionForm(Params):
    type: str = "none"
    report_id: str | int | None = None
    warning_preset_id: str | int | None = None
    text: str = ""
    send_email_notification: bool = False


@router.post("/v1/admin/accounts/{account_id}/action", openapi_extra=openapi_body(ActionForm))
async def act(
    session: SessionDep,
    account_id: str,
    me: Account = admin_caller("admin:write:accounts"),
    form: ActionForm = body(ActionForm),
) -> JSON:
    await moderation.take_action(
        session,
        id_param(account_id),
        form.type or "none",
        by=me,
        report_id=_optional_id(form.report_id, "report_id"),
        text=form.text,
    )
    return JSON({})


@router.post("/v1/admin/accounts/{account_id}/unsuspend")
async def unsuspend(
    session: SessionDep, account_id: str, me: Account = admin_caller("admin:write:accounts")
) -> JSON:
    member = await moderation.lift(session, id_param(account_id), "unsuspend", by=me)
    return JSON(await serialise.admin_account(session, member.account.id))


@router.post("/v1/admin/accounts/{account_id}/approve")
async def approve(
    session: SessionDep, account_id: str, me: Account = admin_caller("admin:write:accounts")
) -> JSON:
    member = await moderation.approve(session, id_param(account_id), by=me)
    return JSON(await serialise.admin_account(session, member.account.id))


@router.post("/v1/admin/accounts/{account_id}/reject")
async def reject(
    session: SessionDep, account_id: str, me: Account = admin_caller("admin:write:accounts")
) -> JSON:
    """Turn down a sign-up waiting for approval: the account is deleted (as the owner's own
    deletion), logged as the admin's `reject`."""
    target_id = id_param(account_id)
    await account_deletion.reject_sign_up(session, target_id, by=me)
    return JSON(await serialise.admin_account(session, target_id))


@router.delete("/v1/admin/accounts/{account_id}")
async def delete_account(
    session: SessionDep, account_id: str, me: Account = admin_caller("admin:write:accounts")
) -> JSON:
    """Delete a local account: the same deletion as the owner's own (suspended at once, its
    data erased by a job), logged as the admin's `delete`."""
    target_id = id_param(account_id)
    await account_deletion.delete_by_admin(session, target_id, by=me)
    return JSON(await serialise.admin_account(session, target_id))


@router.post("/v1/admin/accounts/{account_id}/unsilence")
async def unsilence(
    session: SessionDep, account_id: str, me: Account = admin_caller("admin:write:accounts")
) -> JSON:
    member = await moderation.lift(session, id_param(account_id), "unsilence", by=me)
    return JSON(await serialise.admin_account(session, member.account.id))
