"""The server's public pages: /about (the descriptions, the rules, the contact, the servers
it blocks when the admins publish them), /privacy-policy and /terms. Public, for visitors and
signed-in people alike; each reads the same service as the API's instance documents
(social/instance/instance_documents.py), so a page and an app show the same text."""

from __future__ import annotations

from fastapi import Request, Response
from markupsafe import Markup

from agora.http.deps import SessionDep
from agora.social.instance import instance_documents, peer_servers
from agora.social.instance.instance_settings import effective
from agora.social.people import domain_blocks
from agora.social.rules.errors import DomainError
from agora.web.render import render
from agora.web.route import web_router
from agora.web.session import Viewer

router = web_router()


@router.get("/about")
async def about(request: Request, session: SessionDep, viewer: Viewer) -> Response:
    """What this server is, its rules, and the servers it blocks (when shown to this
    viewer)."""
    shown = (await effective(session)).domain_blocks_shown
    blocks: list[tuple[str, str, str]] | None
    try:
        found = await domain_blocks.published_blocks(session, shown, signed_in=viewer is not None)
        blocks = [(domain_blocks.shown_domain(b), b.severity, b.public_comment) for b in found]
    except DomainError:
        blocks = None  # not published to this viewer
    about_text = await instance_documents.extended_description(session)
    context = {
        "about": Markup(about_text.content),
        "blocks": blocks,
        "peer_count": len(await peer_servers.peers(session)),
    }
    return render(request, "about.html", context)


async def _document_page(
    request: Request, title: str, found: instance_documents.Document
) -> Response:
    context = {
        "title": title,
        "content": Markup(found.content),
        "updated_at": found.updated_at,
    }
    return render(request, "server_document.html", context)


@router.get("/privacy-policy")
async def privacy_policy(request: Request, session: SessionDep, viewer: Viewer) -> Response:
    """The privacy policy."""
    found = await instance_documents.privacy_policy(session)
    return await _document_page(request, "Privacy policy", found)


@router.get("/terms")
async def terms(request: Request, session: SessionDep, viewer: Viewer) -> Response:
    """The terms of service (404 when the server publishes none)."""
    found = await instance_documents.terms_of_service(session)
    return await _document_page(request, "Terms of service", found)
