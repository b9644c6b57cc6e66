"""Accounts: sign-up, credentials, profiles, relationships and their lists."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from agora.api import page_cache, serialise
from agora.api.entities import relationship_json
from agora.auth import oauth
from agora.auth.oauth import Credentials
from agora.config import get_settings
from agora.data.signals import disclose
from agora.db.models import Account
from agora.http.deps import (
    SessionDep,
    app_caller,
    caller,
    id_param,
    optional_caller_id,
    paging,
)
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.http.links import paged
from agora.http.params import Params, body, flag, listed_ids, openapi_body, reads_query
from agora.http.replica_routing import replica_reads
from agora.ids import parse_id
from agora.social.media.profile_images import delete_profile_image, update_profile_and_images
from agora.social.people import connections, registration
from agora.social.people import relationships as rel
from agora.social.people.lookup import find_by_username, get_account
from agora.social.people.moderation import is_admin
from agora.social.posts.quote_rule import default_quote_policy
from agora.social.reading.timelines import ProfileFilter, account_statuses
from agora.social.rules.paging import Page, Slice

router = APIRouter(prefix="/api/v1")


class SignupForm(Params):
    username: str
    email: str
    password: str
    agreement: bool = False
    locale: str = "en"
    reason: str | None = None


@router.post("/accounts", openapi_extra=openapi_body(SignupForm))
async def sign_up(
    session: SessionDep,
    creds: Credentials = app_caller("write:accounts"),
    form: SignupForm = body(SignupForm),
) -> JSON:
    registered = await registration.register(
        session,
        username=form.username,
        email=form.email,
        password=form.password,
        agreement=form.agreement,
        locale=form.locale,
    )
    account = registered.account
    issued = await oauth.issue_token(session, creds.app, account.id, creds.app.scopes.split())
    return JSON(
        {
            "access_token": issued.token,
            "token_type": "Bearer",
            "scope": " ".join(issued.scopes),
            "created_at": issued.created_at,
        }
    )


async def _credential_account(session: SessionDep, me: Account) -> JSON:
    """The CredentialAccount entity: the caller's account with its `source`."""
    waiting = await rel.pending_requests_count(session, me.id)
    admin = await is_admin(session, me.id)
    policy = (await default_quote_policy(session, me.id)).api_name
    return JSON(
        await serialise.account(
            session, me, source=True, follow_requests=waiting, admin=admin, quote_policy=policy
        )
    )


@router.get("/accounts/verify_credentials")
async def verify_credentials(session: SessionDep, me: Account = caller("read:accounts")) -> JSON:
    return await _credential_account(session, me)


class SourceForm(Params):
    """`source[quote_policy]`: who may quote one's new posts (public / followers / nobody)."""

    quote_policy: str | None = None


class ProfileForm(Params):
    display_name: str | None = None
    note: str | None = None
    locked: bool | None = None
    bot: bool | None = None
    discoverable: bool | None = None
    hide_collections: bool | None = None
    fields_attributes: dict[str, dict[str, str]] | list[dict[str, str]] | None = None
    source: SourceForm | None = None


@router.patch("/accounts/update_credentials", openapi_extra=openapi_body(ProfileForm))
async def update_credentials(
    request: Request,
    session: SessionDep,
    me: Account = caller("write:accounts"),
    form: ProfileForm = body(ProfileForm),
) -> JSON:
    changes: dict[str, Any] = form.model_dump(
        exclude_unset=True, exclude={"fields_attributes", "source"}
    )
    if form.source is not None:
        changes["quote_policy"] = form.source.quote_policy
    if form.fields_attributes is not None:
        attrs = form.fields_attributes
        items = [attrs[k] for k in sorted(attrs, key=_index)] if isinstance(attrs, dict) else attrs
        changes["fields"] = items
    images = {kind: await _image_part(request, kind) for kind in ("avatar", "header")}
    await update_profile_and_images(session, me, changes, **images)
    return await _credential_account(session, me)


@router.delete("/profile/avatar")
async def delete_avatar(session: SessionDep, me: Account = caller("write:accounts")) -> JSON:
    """Remove one's avatar (the default picture shows again); answers the CredentialAccount."""
    await delete_profile_image(session, me, "avatar")
    return await _credential_account(session, me)


@router.delete("/profile/header")
async def delete_header(session: SessionDep, me: Account = caller("write:accounts")) -> JSON:
    """Remove one's header image; answers the CredentialAccount."""
    await delete_profile_image(session, me, "header")
    return await _credential_account(session, me)


async def _image_part(request: Request, name: str) -> bytes | None:
    """The bytes of a multipart file part (`avatar`, `header`), read up to one byte past the
    limit (the service refuses anything larger with a 422); None when it was not sent."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return None
    part = (await request.form()).get(name)
    if not isinstance(part, UploadFile):
        return None
    return await part.read(get_settings().media_max_bytes + 1)


def _index(key: str) -> int:
    return parse_id(key) or 0


@router.get("/accounts")
async def many(request: Request, session: SessionDep) -> JSON:
    """Several accounts by `id[]` (Mastodon 4.3; at most 40): those that exist and are not
    suspended, in the order asked."""
    return JSON(await serialise.accounts(session, await listed_ids(request, 40)))


@router.get("/accounts/lookup")
async def lookup(session: SessionDep, acct: Annotated[str, Query(max_length=300)]) -> JSON:
    domain = get_settings().domain
    name, _, host = acct.lstrip("@").partition("@")
    account = None if host and host != domain else await find_by_username(session, name)
    if account is None:
        raise ApiError(404, "Record not found")
    return JSON(await serialise.account(session, account))


@router.get("/accounts/relationships")
async def relationships(
    request: Request, session: SessionDep, me: Account = caller("read:follows")
) -> JSON:
    raw = request.query_params.getlist("id[]") or request.query_params.getlist("id")
    ids = [i for i in map(parse_id, raw) if i is not None][:100]
    rels = await rel.relationships(session, me.id, ids)
    return JSON([relationship_json(r) for r in rels])


@router.get("/accounts/{account_id}")
async def get_one(session: SessionDep, account_id: str) -> JSON:
    account = await get_account(session, id_param(account_id))
    return JSON(await serialise.account(session, account))


@router.get("/accounts/{account_id}/statuses")
@replica_reads
@reads_query("exclude_replies", "exclude_reblogs", "only_media", "pinned", "tagged")
async def statuses(
    request: Request,
    session: SessionDep,
    account_id: str,
    page: Page = paging(),
    viewer: int | None = optional_caller_id("read:statuses"),
) -> Response:
    q = request.query_params
    f = ProfileFilter(
        flag(q.get("exclude_replies")),
        flag(q.get("exclude_reblogs")),
        flag(q.get("only_media")),
        flag(q.get("pinned")),
        q.get("tagged"),
    )
    owner_id = id_param(account_id)

    async def build() -> Response:
        account = await get_account(session, owner_id)
        disclose(account)  # the profile's own signal, even for an empty page
        found = await account_statuses(session, viewer, account.id, page, f)
        items = await serialise.shown_statuses(session, viewer, found.items, context="account")
        return paged(request, items, found.next_max_id, found.prev_min_id)

    sources = page_cache.account_sources(owner_id)
    return await page_cache.served(request, session, viewer, sources, build)


async def _account_page(request: Request, session: SessionDep, found: Slice[Account]) -> JSON:
    items = await serialise.accounts(session, [account.id for account in found.items])
    return paged(request, items, found.next_max_id, found.prev_min_id)


@router.get("/accounts/{account_id}/followers")
async def followers(
    request: Request,
    session: SessionDep,
    account_id: str,
    page: Page = paging(40, 80),
    viewer: int | None = optional_caller_id("read:accounts"),
) -> JSON:
    target = await get_account(session, id_param(account_id))
    if connections.hides_collections_from(target, viewer):
        return JSON([])
    found = await connections.followers(session, target.id, page)
    return await _account_page(request, session, found)


@router.get("/accounts/{account_id}/following")
async def following(
    request: Request,
    session: SessionDep,
    account_id: str,
    page: Page = paging(40, 80),
    viewer: int | None = optional_caller_id("read:accounts"),
) -> JSON:
    target = await get_account(session, id_param(account_id))
    if connections.hides_collections_from(target, viewer):
        return JSON([])
    found = await connections.followed_accounts(session, target.id, page)
    return await _account_page(request, session, found)


class FollowForm(Params):
    reblogs: bool = True
    notify: bool = False


async def _relationship(session: SessionDep, me: Account, target: int) -> JSON:
    found = await rel.relationships(session, me.id, [target])
    return JSON(relationship_json(found[0]))


@router.post("/accounts/{account_id}/follow", openapi_extra=openapi_body(FollowForm))
async def follow(
    session: SessionDep,
    account_id: str,
    me: Account = caller("write:follows"),
    form: FollowForm = body(FollowForm),
) -> JSON:
    followed = await rel.follow(
        session, me, id_param(account_id), reblogs=form.reblogs, notify=form.notify
    )
    await session.commit()
    return await _relationship(session, me, followed)


@router.post("/accounts/{account_id}/unfollow")
async def unfollow(
    session: SessionDep, account_id: str, me: Account = caller("write:follows")
) -> JSON:
    target = id_param(account_id)
    await rel.unfollow(session, me, target)
    await session.commit()
    return await _relationship(session, me, target)


@router.post("/accounts/{account_id}/remove_from_followers")
async def remove_from_followers(
    session: SessionDep, account_id: str, me: Account = caller("write:follows")
) -> JSON:
    target = id_param(account_id)
    await rel.remove_from_followers(session, me, target)
    await session.commit()
    return await _relationship(session, me, target)


@router.post("/accounts/{account_id}/block")
async def block(session: SessionDep, account_id: str, me: Account = caller("write:blocks")) -> JSON:
    target = id_param(account_id)
    await rel.block(session, me, target)
    await session.commit()
    return await _relationship(session, me, target)


@router.post("/accounts/{account_id}/unblock")
async def unblock(
    session: SessionDep, account_id: str, me: Account = caller("write:blocks")
) -> JSON:
    target = id_param(account_id)
    await rel.unblock(session, me, target)
    await session.commit()
    return await _relationship(session, me, target)


class MuteForm(Params):
    notifications: bool = True
    duration: int = 0


@router.post("/accounts/{account_id}/mute", openapi_extra=openapi_body(MuteForm))
async def mute(
    session: SessionDep,
    account_id: str,
    me: Account = caller("write:mutes"),
    form: MuteForm = body(MuteForm),
) -> JSON:
    target = id_param(account_id)
    await rel.mute(session, me, target, notifications=form.notifications, duration=form.duration)
    await session.commit()
    return await _relationship(session, me, target)


@router.post("/accounts/{account_id}/unmute")
async def unmute(session: SessionDep, account_id: str, me: Account = caller("write:mutes")) -> JSON:
    target = id_param(account_id)
    await rel.unmute(session, me, target)
    await session.commit()
    return await _relationship(session, me, target)


@router.get("/blocks")
async def blocks(
    request: Request,
    session: SessionDep,
    me: Account = caller("read:blocks"),
    page: Page = paging(40, 80),
) -> JSON:
    found = await connections.blocked_accounts(session, me.id, page)
    return await _account_page(request, session, found)


@router.get("/mutes")
async def mutes(
    request: Request,
    session: SessionDep,
    me: Account = caller("read:mutes"),
    page: Page = paging(40, 80),
) -> JSON:
    found = await connections.muted_accounts(session, me.id, page)
    return await _account_page(request, session, found)


@router.get("/follow_requests")
async def follow_requests(
    request: Request,
    session: SessionDep,
    me: Account = caller("read:follows"),
    page: Page = paging(40, 80),
) -> JSON:
    found = await connections.follow_requesters(session, me.id, page)
    return await _account_page(request, session, found)


@router.post("/follow_requests/{account_id}/authorize")
async def authorize_request(
    session: SessionDep, account_id: str, me: Account = caller("write:follows")
) -> JSON:
    requester = id_param(account_id)
    await rel.answer_follow_request(session, me, requester, accept=True)
    await session.commit()
    return await _relationship(session, me, requester)


@router.post("/follow_requests/{account_id}/reject")
async def reject_request(
    session: SessionDep, account_id: str, me: Account = caller("write:follows")
) -> JSON:
    requester = id_param(account_id)
    await rel.answer_follow_request(session, me, requester, accept=False)
    await session.commit()
    return await _relationship(session, me, requester)
