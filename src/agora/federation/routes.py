"""The ActivityPub door: actor documents, collections, notes and the inboxes.

Content negotiation: `/users/NAME` and `/users/NAME/statuses/ID` answer ActivityPub JSON to
a client that asks for `application/activity+json` or `application/ld+json` (with the
ActivityStreams profile), and redirect anyone else to the HTML pages. `ActivityPubPaths`
rewrites a `GET /@NAME` (or `/@NAME/ID`) that asks for ActivityPub to those routes, so the
HTML routes stay as they are. A note is served only when it is public or unlisted: the
visibility rule is asked (`get_visible_post` as nobody), never restated.

Every ActivityPub document is answered by `_ap`, which discloses the account (and post) it
shows, so it carries the same `Content-Usage`, `X-Robots-Tag` and `tdm-reservation` headers
as that account's (or post's) web page: the signals hook writes them, no route does.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from agora.config import get_settings
from agora.data.signals import disclose
from agora.db.models import Account, Mention, Post
from agora.federation import activities, inbox
from agora.federation.actors import CONTEXT, actor_json, actor_uri, signer_for
from agora.federation.keys import key_pair
from agora.http.deps import SessionDep
from agora.http.error_responses import ApiError
from agora.http.guard import ASGIApp, Receive, Scope, Send
from agora.http.json import JSON
from agora.social.people.lookup import find_by_username
from agora.social.posts.writing import get_visible_post
from agora.social.rules.errors import NotFound

router = APIRouter(include_in_schema=False)
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


@router.get("/users/{username}")
async def actor(request: Request, session: SessionDep, username: str) -> Response:
    """A local account's actor document (HTML clients are sent to the profile page)."""
    account = await _local(session, username)
    if not wants_activitypub(request.headers.get("accept", "")):
        return RedirectResponse(f"/@{account.username}", status_code=302)
    public_pem = (
        account.public_key_pem or (await key_pair(request.app.state.db, account.id)).public_pem
    )
    return _ap(actor_json(account, public_pem), account)


@router.get("/users/{username}/statuses/{post_id}")
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
    mentioned = list(
        (
            await session.scalars(
                select(Account)
                .join(Mention, Mention.account_id == Account.id)
                .where(Mention.post_id == post.id)
            )
        ).all()
    )
    return _ap(
        {"@context": CONTEXT, **activities.note_json(post, account, mentioned)}, account, post
    )


def _collection(account: Account, name: str, total: int) -> Response:
    uri = f"{actor_uri(account)}/{name}"
    data = {"@context": CONTEXT, "id": uri, "type": "OrderedCollection", "totalItems": total}
    return _ap(data, account)


@router.get("/users/{username}/outbox")
async def outbox(session: SessionDep, username: str) -> Response:
    """The outbox (a count only so far)."""
    account = await _local(session, username)
    return _collection(account, "outbox", account.statuses_count)


@router.get("/users/{username}/followers")
async def followers(session: SessionDep, username: str) -> Response:
    """The followers collection (a count only so far)."""
    account = await _local(session, username)
    return _collection(account, "followers", account.followers_count)


@router.get("/users/{username}/following")
async def following(session: SessionDep, username: str) -> Response:
    """The following collection (a count only so far)."""
    account = await _local(session, username)
    return _collection(account, "following", account.following_count)


async def _receive(request: Request, owner: Account | None = None) -> Response:
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    url = get_settings().base_url.rstrip("/") + raw_path.decode("latin-1")
    if query:
        url += "?" + query.decode("latin-1")
    delivery = inbox.Delivery(
        method=request.method,
        url=url,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=await request.body(),
    )
    db = request.app.state.db
    try:
        await inbox.receive(db, delivery, await signer_for(db, owner) if owner else None)
    except inbox.Refused as exc:
        raise ApiError(exc.status, str(exc)) from None
    return Response(status_code=202)


@router.post("/users/{username}/inbox")
async def personal_inbox(request: Request, session: SessionDep, username: str) -> Response:
    """A local account's inbox (an unknown sender is fetched signed by the inbox's owner)."""
    owner = await _local(session, username)
    await session.close()  # nothing more to read here; receive uses its own sessions
    return await _receive(request, owner)


@router.post("/inbox")
async def shared_inbox(request: Request) -> Response:
    """The shared inbox."""
    return await _receive(request)


class ActivityPubPaths:
    """ASGI middleware: a GET of `/@NAME` or `/@NAME/ID` asking for ActivityPub is served by
    `/users/NAME` or `/users/NAME/statuses/ID` (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            found = PROFILE_RE.match(scope.get("path", ""))
            accept = next(
                (v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"accept"), ""
            )
            if found and wants_activitypub(accept):
                name, post_id = found.groups()
                path = f"/users/{name}" + (f"/statuses/{post_id}" if post_id else "")
                scope = {**scope, "path": path, "raw_path": path.encode()}
        await self.app(scope, receive, send)
