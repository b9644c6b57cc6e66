"""The admin console's trends review (`/admin/trends`): the trending hashtags, posts and
links, those waiting for review first, each approved or rejected with one button (the
service `/api/v1/admin/trends/...` calls). Admins only (`Admin`: a 404 for anyone else);
every form is CSRF-checked (`Form`)."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from agora.http.deps import SessionDep
from agora.social.reading import trends
from agora.social.rules.errors import NotFound
from agora.web.admin_access import Admin
from agora.web.render import render
from agora.web.route import id_or_404, web_router
from agora.web.session import Form

router = web_router()
SECTIONS: tuple[tuple[trends.TrendKind, str], ...] = (
    ("tag", "Hashtags"),
    ("status", "Posts"),
    ("link", "Links"),
)


@router.get("/admin/trends")
async def trends_page(request: Request, session: SessionDep, me: Admin) -> Response:
    """Every trending item, by kind, waiting ones first."""
    queues = [(kind, label, await trends.review_queue(session, kind)) for kind, label in SECTIONS]
    return render(request, "admin_trends.html", {"section": "trends", "queues": queues})


@router.post("/admin/trends/{kind}/{key}/{decision}")
async def review(
    session: SessionDep, me: Admin, form: Form, kind: str, key: str, decision: str
) -> Response:
    """Approve or reject one trending item."""
    if kind not in trends.KINDS or decision not in ("approve", "reject"):
        raise NotFound()
    verdict = "approved" if decision == "approve" else "rejected"
    await trends.review_trend(session, kind, id_or_404(key), verdict)  # type: ignore[arg-type]
    return RedirectResponse(f"/admin/trends?done=trend_{verdict}", status_code=303)
