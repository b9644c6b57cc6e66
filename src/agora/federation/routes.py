"""The ActivityPub door: actor documents, collections, notes and the inboxes.

Content negotiation: `/users/NAME` and `/users/NAME/statuses/ID` answer ActivityPub JSON to
a client that asks for `application/activity+json` or `application/ld+json` (with the
ActivityStreams profile), and redirect anyone else to the HTML pages. `ActivityPubPaths`
rewrites a `GET /@NAME` (or `/@NAME/ID`) that asks for ActivityPub to those routes, so the
HTML routes stay as they are. A note is served only when it is public or unlisted: the
visibility rule is asked (`get_visible_post` as nobody), never restated. The collections
are paged (federation/ap_collections.py). Under `AGORA_AUTHORIZED_FETCH` every GET here needs
a valid signature (federation/fetch_auth.py); the instance actor (`/actor`,
federation/instance_actor.py) stays open. Every route refuses (403) a request signed by a key
of a server this one suspended (`refuse_blocked_fetcher`).

Every ActivityPub document is answered by `_ap`, which discloses the account (and post) it
shows, so it carries the same `Content-Usage`, `X-Robots-Tag` and `tdm-reservation` headers
as that account's (or post's) web page: the signals hook writes them, no route does.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from agora.data.signals import disclose
from agora.db.models import Account, Post, QuoteState
from agora.federation import (
    activities,
    ap_collections,
    followers_sync,
    inbox,
    instance_actor,
    quote_objects,
    reply_collections,
)
from agora.federation.actors import CONTEXT, actor_json, actor_uri, moved_to_uri
from agora.federation.fetch_auth import (
    SIGNED_PATH_KEY,
    request_url,
    signed_fetcher,
    verified_fetcher,
)
from agora.federation.keys import key_pair
from agora.federation.outbox import note_for
from agora.federation.signatures import signing_key_id
from agora.http.deps import SessionDep
from agora.http.error_responses import ApiError
from agora.http.guard import ASGIApp, Receive, Scope, Send
from agora.http.json import JSON
from agora.social.people.connections import hides_collections_from
from agora.social.people.lookup import find_by_username
from agora.social.posts.quote_rule import check_quote
from agora.social.posts.writing import get_visible_post
from agora.social.rules.errors import DomainError, NotFound


async def refuse_blocked_fetcher(request: Request) -> None:
    """Router dependency: a signed fetch whose key is on a server this one suspended is
    refused with 403 before anything is read (deliveries: `inbox.receive` asks the same)."""
    if request.method not in ("GET", "HEAD"):
        return
    key_id = signing_key_id({k.lower(): v for k, v in request.headers.items()})
    if key_id:
        try:
            await inbox.refuse_blocked_server(request.app.state.db, key_id)
        except inbox.Refused as exc:
            raise ApiError(exc.status, str(exc)) from None


router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_blocked_fetcher)])
router.include_router(instance_actor.router)
# Every ActivityPub GET below: signed, when authorized fetch is on.
signed = APIRouter(include_in_schema=False, dependencies=[Depends(signed_fetcher)])
AP_TYPE = "application/activity+json"
PROFILE_RE = re.compile(r"^/@([A-Za-z0-9_]{1,30})(?:/(\d{1,20}))?/?$")


def wants_activitypub(accept: str) -> bool:
    """Whether an Accept header asks for ActivityPub JSON."""
    accept = accept.lower()
    return AP_TYPE in accept or (
        "application/ld+json" in accept and "https://www.w3.org/ns/activitystreams" in accept
    )


def _ap(data: dict[str, Any], account: Account, post: Post | None = None) -> Response:
    """An ActivityPub answer showing `account`'s profile (post None) or one of its posts,
    with their AI-use signals (disclosed here, written by the signals hook)."""
    disclose(account, post)
    response = JSON(data, media_type=AP_TYPE)
    response.headers["Vary"] = "Accept"
    return response


async def _local(session: SessionDep, username: str) -> Account:
    account = await find_by_username(session, username)
    if account is None or account.username.lower() != username.lower():
        raise ApiError(404, "Record not found")
    return account


@signed.get("/users/{username}")
async def actor(request: Request, session: SessionDep, username: str) -> Response:
    """A local account's actor document (HTML clients are sent to the profile page)."""
    account = await _local(session, username)
    if not wants_activitypub(request.headers.get("accept", "")):
        return RedirectResponse(f"/@{account.username}", status_code=302)
    public_pem = (
        account.public_key_pem or (await key_pair(request.app.state.db, account.id)).public_pem
    )
    moved_to = await moved_to_uri(session, account)
    return _ap(actor_json(account, public_pem, moved_to), account)


@signed.get("/users/{username}/statuses/{post_id}")
async def note(request: Request, session: SessionDep, username: str, post_id: str) -> Response:
    """A local public or unlisted post as a Note."""
    account = await _local(session, username)
    if not post_id.isdigit():
        raise ApiError(404, "Record not found")
    if not wants_activitypub(request.headers.get("accept", "")):
        return RedirectResponse(f"/@{account.username}/{post_id}", status_code=302)
    try:
        post = await get_visible_post(session, None, int(post_id))
    except NotFound:
        raise ApiError(404, "Record not found") from None
    if post.account_id != account.id or post.reblog_of_id is not None or post.visibility > 1:
        raise ApiError(404, "Record not found")
    return _ap({"@context": CONTEXT, **await note_for(session, post, account)}, account, post)


@signed.get("/users/{username}/statuses/{post_id}/replies")
async def replies(
    session: SessionDep, username: str, post_id: str, page: bool = False, min_id: int = 0
) -> Response:
    """A local public or unlisted post's replies collection (reply_collections), or one of
    its pages (`page=true`, after `min_id`)."""
    account = await _local(session, username)
    if not post_id.isdigit():
        raise ApiError(404, "Record not found")
    try:
        post = await get_visible_post(session, None, int(post_id))
    except NotFound:
        raise ApiError(404, "Record not found") from None
    if post.account_id != account.id or post.reblog_of_id is not None or post.visibility > 1:
        raise ApiError(404, "Record not found")
    note_id = activities.note_uri(account, post)
    if page:
        found = await reply_collections.replies_page(session, post, note_id, max(0, min_id))
        return _ap({"@context": CONTEXT, **found}, account, post)
    collection = await reply_collections.replies_collection(session, post, note_id)
    return _ap({"@context": CONTEXT, **(collection or {})}, account, post)


@signed.get("/users/{username}/statuses/{post_id}/quote_authorization")
async def quote_authorization(
    request: Request, session: SessionDep, username: str, post_id: str, quote: str = ""
) -> Response:
    """The QuoteAuthorization that lets the post `quote` quote a local post (FEP-044f),
    answered while the quote rule allows it (asked for the quoting post's author when it is
    stored here, as nobody otherwise); 404 once it does not (deleted, made private, its
    quote revoked by the quoted author…)."""
    account = await _local(session, username)
    if not post_id.isdigit() or not quote:
        raise ApiError(404, "Record not found")
    stored = (
        await session.execute(select(Post.account_id, Post.quote_state).where(Post.uri == quote))
    ).first()
    quoter = stored.account_id if stored is not None else None
    if stored is not None and stored.quote_state == QuoteState.REVOKED:
        raise ApiError(404, "Record not found")
    try:
        await check_quote(session, quoter, int(post_id))
        post = await get_visible_post(session, None, int(post_id))
    except DomainError:
        raise ApiError(404, "Record not found") from None
    if post.account_id != account.id:
        raise ApiError(404, "Record not found")
    quoted = activities.note_uri(account, post)
    return _ap(quote_objects.authorization_json(account, quoted, quote), account, post)


def _max_id(max_id: str | None) -> int | None:
    return int(max_id) if max_id and max_id.isdigit() and len(max_id) <= 20 else None


@signed.get("/users/{username}/outbox")
async def outbox(
    session: SessionDep, username: str, page: str | None = None, max_id: str | None = None
) -> Response:
    """The outbox: Create activities of public posts, paged."""
    account = await _local(session, username)
    if page is None:
        uri = f"{actor_uri(account)}/outbox"
        return _ap(ap_collections.collection(uri, account.statuses_count), account)
    return _ap(await ap_collections.outbox_page(session, account, _max_id(max_id)), account)


async def _people(
    session: SessionDep, username: str, which: str, page: str | None, max_id: str | None
) -> Response:
    account = await _local(session, username)
    total = account.followers_count if which == "followers" else account.following_count
    hidden = hides_collections_from(account, None)  # another server sees what nobody sees
    if page is None or hidden:
        uri = f"{actor_uri(account)}/{which}"
        return _ap(ap_collections.collection(uri, total, paged=not hidden), account)
    page_json = await ap_collections.people_page(session, account, which, _max_id(max_id))
    return _ap(page_json, account)


@signed.get("/users/{username}/followers")
async def followers(
    session: SessionDep, username: str, page: str | None = None, max_id: str | None = None
) -> Response:
    """The followers collection, paged (a count only when the account hides it)."""
    return await _people(session, username, "followers", page, max_id)


@signed.get("/users/{username}/following")
async def following(
    session: SessionDep, username: str, page: str | None = None, max_id: str | None = None
) -> Response:
    """The following collection, paged (a count only when the account hides it)."""
    return await _people(session, username, "following", page, max_id)


@signed.get("/users/{username}/collections/featured")
async def featured(session: SessionDep, username: str) -> Response:
    """The pinned public and unlisted posts."""
    account = await _local(session, username)
    return _ap(await ap_collections.featured(session, account), account)


@router.get("/users/{username}/followers_synchronization")
async def followers_synchronization(
    request: Request, session: SessionDep, username: str
) -> Response:
    """The account's followers on the signer's server (FEP-8fcf), to a signed fetch only."""
    account = await _local(session, username)
    fetcher = await verified_fetcher(request)
    partial = await followers_sync.partial_collection(session, account, fetcher.domain or "")
    return _ap(partial, account)


@signed.get("/users/{username}/collections/tags")
async def featured_tags(session: SessionDep, username: str) -> Response:
    """The hashtags the account features on its profile."""
    account = await _local(session, username)
    return _ap(await ap_collections.featured_tags(session, account), account)


async def _receive(request: Request) -> Response:
    delivery = inbox.Delivery(
        method=request.method,
        url=request_url(request),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await request.body(),
    )
    db = request.app.state.db
    try:
        await inbox.receive(db, delivery)
    except inbox.Refused as exc:
        raise ApiError(exc.status, str(exc)) from None
    return Response(status_code=202)


@router.post("/users/{username}/inbox")
async def personal_inbox(request: Request, session: SessionDep, username: str) -> Response:
    """A local account's inbox (an unknown sender is fetched signed by the instance actor)."""
    await _local(session, username)
    await session.close()  # nothing more to read here; receive uses its own sessions
    return await _receive(request)


@router.post("/inbox")
@router.post("/actor/inbox")
async def shared_inbox(request: Request) -> Response:
    """The shared inbox (also the instance actor's inbox)."""
    return await _receive(request)


def _accept(scope: Scope) -> str:
    return next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"accept"), "")


class ActivityPubPaths:
    """ASGI middleware: a GET of `/@NAME` or `/@NAME/ID` asking for ActivityPub is served by
    `/users/NAME` or `/users/NAME/statuses/ID` (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            found = PROFILE_RE.match(scope.get("path", ""))
            if found and wants_activitypub(_accept(scope)):
                name, post_id = found.groups()
                path = f"/users/{name}" + (f"/statuses/{post_id}" if post_id else "")
                original = scope.get("raw_path") or scope["path"].encode()
                scope = {**scope, "path": path, "raw_path": path.encode()}
                scope[SIGNED_PATH_KEY] = original  # what a signed fetch signed
        await self.app(scope, receive, send)


router.include_router(signed)
