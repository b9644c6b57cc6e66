"""Mastodon's admin API, the subset that fits a single server: reports and account actions.
Every route needs an admin:* scope and the admin role (403 otherwise)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from agora.api import present
from agora.api.deps import SessionDep, admin_caller, id_param, paging
from agora.api.errors import ApiError
from agora.api.json import JSON
from agora.api.links import paged
from agora.api.params import Params, body, openapi_body
from agora.db.models import Account
from agora.social import moderation, reports
from agora.social.paging import Page

router = APIRouter(prefix="/api/v1/admin")


def _optional_id(value: str | int | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return id_param(str(value))
    except ApiError:
        raise ApiError(422, f"Validation failed: {name} must be a numeric id") from None


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes", "on")


@router.get("/reports")
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
        resolved=_flag(resolved),
        account_id=_optional_id(account_id, "account_id"),
        target_account_id=_optional_id(target_account_id, "target_account_id"),
    )
    found = await reports.list_reports(session, f, page)
    items = await present.admin_reports(session, found)
    nxt, prev = (found[-1].id, found[0].id) if found else (None, None)
    return paged(request, items, nxt, prev)


@router.get("/reports/{report_id}")
async def get_report(
    session: SessionDep, report_id: str, me: Account = admin_caller("admin:read:reports")
) -> JSON:
    report = await reports.get_report(session, id_param(report_id))
    return JSON((await present.admin_reports(session, [report]))[0])


async def _change(session: SessionDep, report_id: str, change: str, me: Account) -> JSON:
    report = await reports.update_report(session, id_param(report_id), change, me)
    return JSON((await present.admin_reports(session, [report]))[0])


@router.post("/reports/{report_id}/resolve")
async def resolve(
    session: SessionDep, report_id: str, me: Account = admin_caller("admin:write:reports")
) -> JSON:
    return await _change(session, report_id, "resolve", me)


@router.post("/reports/{report_id}/reopen")
async def reopen(
    session: SessionDep, report_id: str, me: Account = admin_caller("admin:write:reports")
) -> JSON:
    return await _change(session, report_id, "reopen", me)


@router.post("/reports/{report_id}/assign_to_self")
async def assign_to_self(
    session: SessionDep, report_id: str, me: Account = admin_caller("admin:write:reports")
) -> JSON:
    return await _change(session, report_id, "assign_to_self", me)


@router.post("/reports/{report_id}/unassign")
async def unassign(
    session: SessionDep, report_id: str, me: Account = admin_caller("admin:write:reports")
) -> JSON:
    return await _change(session, report_id, "unassign", me)


@router.get("/accounts/{account_id}")
async def get_account(
    session: SessionDep, account_id: str, me: Account = admin_caller("admin:read:accounts")
) -> JSON:
    return JSON(await present.admin_account(session, id_param(account_id)))


class ActionForm(Params):
    type: str = "none"
    report_id: str | int | None = None
    warning_preset_id: str | int | None = None
    text: str = ""
    send_email_notification: bool = False


@router.post("/accounts/{account_id}/action", openapi_extra=openapi_body(ActionForm))
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


@router.post("/accounts/{account_id}/unsuspend")
async def unsuspend(
    session: SessionDep, account_id: str, me: Account = admin_caller("admin:write:accounts")
) -> JSON:
    member = await moderation.lift(session, id_param(account_id), "unsuspend", by=me)
    return JSON(await present.admin_account(session, member.account.id))


@router.post("/accounts/{account_id}/unsilence")
async def unsilence(
    session: SessionDep, account_id: str, me: Account = admin_caller("admin:write:accounts")
) -> JSON:
    member = await moderation.lift(session, id_param(account_id), "unsilence", by=me)
    return JSON(await present.admin_account(session, member.account.id))
