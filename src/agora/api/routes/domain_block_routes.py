"""Domain blocks: the admins' blocks of other servers (`/api/v1/admin/domain_blocks`, Mastodon's
Admin::DomainBlock), the public list (`/api/v1/instance/domain_blocks`) and a person's own
blocks of servers (`/api/v1/domain_blocks`). Every rule is in
social/people/domain_blocks.py and social/people/account_domain_blocks.py."""

from __future__ import annotations

from fastapi import APIRouter, Request

from agora.api.entities import admin_domain_block_json, domain_block_json
from agora.db.models import Account
from agora.http.deps import (
    SessionDep,
    admin_caller,
    caller,
    id_param,
    optional_caller_id,
    paging,
)
from agora.http.json import JSON
from agora.http.links import paged
from agora.http.params import Params, body, openapi_body
from agora.social.instance.instance_settings import effective
from agora.social.people import account_domain_blocks, domain_blocks
from agora.social.rules.paging import Page

router = APIRouter(prefix="/api")


class DomainBlockForm(Params):
    domain: str | None = None
    severity: str | None = None
    reject_media: bool | None = None
    reject_reports: bool | None = None
    private_comment: str | None = None
    public_comment: str | None = None
    obfuscate: bool | None = None

    def given(self, *, with_domain: bool) -> domain_blocks.DomainBlockInput:
        return domain_blocks.DomainBlockInput(
            domain=self.domain if with_domain else None,
            severity=self.severity or None,
            reject_media=self.reject_media,
            reject_reports=self.reject_reports,
            private_comment=self.private_comment,
            public_comment=self.public_comment,
            obfuscate=self.obfuscate,
        )


@router.get("/v1/admin/domain_blocks")
@router.get("/v1/admin/domain_blocks/", include_in_schema=False)  # Mastodon.py asks so
async def list_domain_blocks(
    request: Request,
    session: SessionDep,
    page: Page = paging(100, 200),
    me: Account = admin_caller("admin:read:domain_blocks"),
) -> JSON:
    found = await domain_blocks.list_blocks(session, page)
    items = [admin_domain_block_json(b) for b in found.items]
    return paged(request, items, found.next_max_id, found.prev_min_id)


@router.get("/v1/admin/domain_blocks/{block_id}")
async def get_domain_block(
    session: SessionDep, block_id: str, me: Account = admin_caller("admin:read:domain_blocks")
) -> JSON:
    return JSON(admin_domain_block_json(await domain_blocks.get_block(session, id_param(block_id))))


@router.post("/v1/admin/domain_blocks", openapi_extra=openapi_body(DomainBlockForm))
@router.post("/v1/admin/domain_blocks/", include_in_schema=False)  # Mastodon.py posts so
async def create_domain_block(
    session: SessionDep,
    me: Account = admin_caller("admin:write:domain_blocks"),
    form: DomainBlockForm = body(DomainBlockForm),
) -> JSON:
    block = await domain_blocks.create_block(session, form.given(with_domain=True), by=me)
    return JSON(admin_domain_block_json(block))


@router.put("/v1/admin/domain_blocks/{block_id}", openapi_extra=openapi_body(DomainBlockForm))
async def update_domain_block(
    session: SessionDep,
    block_id: str,
    me: Account = admin_caller("admin:write:domain_blocks"),
    form: DomainBlockForm = body(DomainBlockForm),
) -> JSON:
    block = await domain_blocks.update_block(
        session, id_param(block_id), form.given(with_domain=False), by=me
    )
    return JSON(admin_domain_block_json(block))


@router.delete("/v1/admin/domain_blocks/{block_id}")
async def delete_domain_block(
    session: SessionDep, block_id: str, me: Account = admin_caller("admin:write:domain_blocks")
) -> JSON:
    await domain_blocks.remove_block(session, id_param(block_id), by=me)
    return JSON({})


@router.get("/v1/instance/domain_blocks")
async def public_domain_blocks(session: SessionDep, me: int | None = optional_caller_id()) -> JSON:
    """The servers this one blocks, as Mastodon publishes them (obfuscated when asked), to
    whom the admins' `domain_blocks_shown` allows (404 when disabled, 401 signed out when
    only for signed-in people)."""
    shown = (await effective(session)).domain_blocks_shown
    found = await domain_blocks.published_blocks(session, shown, signed_in=me is not None)
    return JSON([domain_block_json(b) for b in found])


# --- a person's own domain blocks ----------------------------------------------------------


class PersonDomainForm(Params):
    domain: str = ""


@router.get("/v1/domain_blocks")
async def my_domain_blocks(
    request: Request,
    session: SessionDep,
    page: Page = paging(100, 200),
    me: Account = caller("read:blocks"),
) -> JSON:
    found = await account_domain_blocks.blocked_domains(session, me.id, page)
    return paged(request, found.items, found.next_max_id, found.prev_min_id)


@router.post("/v1/domain_blocks", openapi_extra=openapi_body(PersonDomainForm))
async def block_domain(
    session: SessionDep,
    me: Account = caller("write:blocks"),
    form: PersonDomainForm = body(PersonDomainForm),
) -> JSON:
    await account_domain_blocks.block_domain(session, me, form.domain)
    await session.commit()
    return JSON({})


@router.delete("/v1/domain_blocks", openapi_extra=openapi_body(PersonDomainForm))
async def unblock_domain(
    session: SessionDep,
    me: Account = caller("write:blocks"),
    form: PersonDomainForm = body(PersonDomainForm),
) -> JSON:
    await account_domain_blocks.unblock_domain(session, me, form.domain)
    await session.commit()
    return JSON({})
