"""Reports: POST /api/v1/reports."""

from __future__ import annotations

from fastapi import APIRouter

from agora.api import serialise
from agora.db.models import Account
from agora.http.deps import SessionDep, caller, id_param
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.http.params import Params, body, openapi_body
from agora.social.people import reports

router = APIRouter(prefix="/api/v1")


Ids = list[str | int] | str | int  # JSON clients may send numbers


class ReportForm(Params):
    account_id: str | int
    status_ids: Ids = []
    comment: str = ""
    category: str | None = None
    rule_ids: Ids = []
    forward: bool = False
    forward_to_domains: list[str] | str = []


def _ids(values: Ids, name: str) -> list[int]:
    items = values if isinstance(values, list) else [values]
    try:
        return [id_param(str(v)) for v in items if v != ""]
    except ApiError:
        raise ApiError(422, f"Validation failed: {name} must be numeric ids") from None


@router.post("/reports", openapi_extra=openapi_body(ReportForm))
async def file_report(
    session: SessionDep,
    me: Account = caller("write:reports"),
    form: ReportForm = body(ReportForm),
) -> JSON:
    given = reports.ReportInput(
        target_id=id_param(str(form.account_id)),
        status_ids=_ids(form.status_ids, "status_ids"),
        comment=form.comment,
        category=form.category or None,
        rule_ids=tuple(_ids(form.rule_ids, "rule_ids")),
        forward=form.forward,
    )
    report = await reports.create_report(session, me, given)
    return JSON(await serialise.report(session, report))
