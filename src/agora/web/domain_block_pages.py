"""The admins' page of blocked servers: `/admin/domain_blocks` lists this server's domain
blocks with the moderation log about servers, and its forms block a server or lift a block.
A page of the admin console: admins only (`Admin`: a 404 for anyone else); every form carries
the session's CSRF token (`Form`); each action is one call to social/people/domain_blocks.py
(as the API's and the CLI's), which logs it."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from agora.http.deps import SessionDep
from agora.http.params import flag
from agora.social.people import domain_blocks, moderation
from agora.social.rules.errors import Invalid
from agora.web.admin_access import Admin
from agora.web.render import render
from agora.web.route import id_or_404, web_router
from agora.web.session import Form, field

router = web_router()
PAGE = "/admin/domain_blocks"


async def _page(request: Request, session: AsyncSession, error: str | None = None) -> Response:
    context = {
        "section": "domain_blocks",
        "blocks": await domain_blocks.all_blocks(session),
        "log": await moderation.domain_log(session),
        "severities": domain_blocks.SEVERITIES,
        "error": error,
    }
    return render(request, "admin_domain_blocks.html", context, status=422 if error else 200)


@router.get(PAGE)
async def domain_blocks_page(request: Request, session: SessionDep, me: Admin) -> Response:
    """Blocked servers, the form to block one, and the log."""
    return await _page(request, session)


@router.post(PAGE)
async def block_server(request: Request, session: SessionDep, me: Admin, form: Form) -> Response:
    """Block a server (a refused block is shown on the page, nothing stored)."""
    given = domain_blocks.DomainBlockInput(
        domain=field(form, "domain"),
        severity=field(form, "severity", "silence"),
        reject_media=flag(field(form, "reject_media")),
        reject_reports=flag(field(form, "reject_reports")),
        public_comment=field(form, "public_comment"),
        private_comment=field(form, "private_comment"),
        obfuscate=flag(field(form, "obfuscate")),
    )
    try:
        await domain_blocks.create_block(session, given, by=me.account)
    except Invalid as exc:
        await session.rollback()
        await session.refresh(me.account)
        return await _page(request, session, exc.message)
    return RedirectResponse(PAGE, status_code=303)


@router.post(PAGE + "/{block_id}/delete")
async def unblock_server(session: SessionDep, me: Admin, form: Form, block_id: str) -> Response:
    """Lift a block."""
    await domain_blocks.remove_block(session, id_or_404(block_id), by=me.account)
    return RedirectResponse(PAGE, status_code=303)
