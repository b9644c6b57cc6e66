"""Apps and OAuth: /api/v1/apps, /oauth/token, /oauth/revoke, /oauth/userinfo (the sign-in
page of /oauth/authorize is the web app's, web/oauth_pages.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from agora.api import serialise
from agora.auth import oauth
from agora.auth.oauth import Credentials, OAuthError
from agora.config import get_settings
from agora.db.models import Account
from agora.http.deps import SessionDep, app_caller, caller
from agora.http.json import JSON
from agora.http.params import Params, body, openapi_body
from agora.http.ratelimit import sign_in_throttle
from agora.social.reading.push_keys import vapid_public_key

router = APIRouter()


class AppForm(Params):
    client_name: str = Field(min_length=1, max_length=200)
    redirect_uris: str | list[str] = oauth.OOB
    scopes: str = "read"
    website: str | None = None


def _app_json(app: Any, vapid_key: str, *, secret: bool) -> dict[str, Any]:
    data = {
        "id": str(app.id),
        "name": app.name,
        "website": app.website,
        "scopes": app.scopes.split(),
        "redirect_uri": app.redirect_uris.replace("\n", " "),
        "redirect_uris": app.redirect_uris.split("\n"),
        "vapid_key": vapid_key,
    }
    if secret:
        data.update(
            client_id=app.client_id, client_secret=app.client_secret, client_secret_expires_at=0
        )
    return data


@router.post("/api/v1/apps", openapi_extra=openapi_body(AppForm))
async def create_app(request: Request, session: SessionDep, form: AppForm = body(AppForm)) -> JSON:
    app = await oauth.register_app(
        session,
        name=form.client_name,
        redirect_uris=form.redirect_uris,
        scopes=form.scopes,
        website=form.website,
    )
    return JSON(_app_json(app, await vapid_public_key(request.app.state.db), secret=True))


@router.get("/api/v1/apps/verify_credentials")
async def verify_app(request: Request, creds: Credentials = app_caller()) -> JSON:
    key = await vapid_public_key(request.app.state.db)
    return JSON(_app_json(creds.app, key, secret=False))


class TokenForm(Params):
    grant_type: str = ""
    client_id: str | None = None
    client_secret: str | None = None
    code: str | None = None
    redirect_uri: str | None = None
    code_verifier: str | None = None
    scope: str | None = None
    username: str | None = None
    password: str | None = None


@router.post("/oauth/token", openapi_extra=openapi_body(TokenForm))
async def token(request: Request, session: SessionDep, form: TokenForm = body(TokenForm)) -> JSON:
    client_id, secret = _client_auth(request, form)
    app = await oauth.authenticate_client(session, client_id, secret)
    if form.grant_type == "authorization_code":
        issued = await oauth.exchange_code(
            session, app, form.code, form.redirect_uri, form.code_verifier
        )
    elif form.grant_type == "password":
        account = await oauth.sign_in(
            session, form.username or "", form.password or "", sign_in_throttle(request)
        )
        issued = await oauth.issue_token(
            session, app, account.id, oauth.requested_scopes(app, form.scope)
        )
    elif form.grant_type == "client_credentials":
        issued = await oauth.issue_token(
            session, app, None, oauth.requested_scopes(app, form.scope)
        )
    else:
        raise OAuthError("unsupported_grant_type", "The authorization grant type is not supported.")
    return JSON(
        {
            "access_token": issued.token,
            "token_type": "Bearer",
            "scope": " ".join(issued.scopes),
            "created_at": issued.created_at,
        }
    )


def _client_auth(request: Request, form: TokenForm) -> tuple[str | None, str | None]:
    """Client credentials from the body or an HTTP Basic header."""
    header = request.headers.get("authorization", "")
    if header[:6].lower() == "basic ":
        import base64

        try:
            user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
            return user, pw
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", "Malformed Basic authorization", 401) from None
    return form.client_id, form.client_secret


@router.get("/oauth/userinfo")
async def userinfo(session: SessionDep, me: Account = caller("profile")) -> JSON:
    """Mastodon 4.3's OpenID-Connect-style userinfo for a token with the `profile` scope:
    `iss` (this server), `sub` (the account's ActivityPub id), `name`, `preferred_username`,
    `profile` (its page) and `picture` (its avatar)."""
    shown = await serialise.account(session, me)
    return JSON(
        {
            "iss": f"{get_settings().base_url}/",
            "sub": shown["uri"],
            "name": shown["display_name"] or shown["username"],
            "preferred_username": shown["username"],
            "profile": shown["url"],
            "picture": shown["avatar"],
        }
    )


class RevokeForm(Params):
    client_id: str | None = None
    client_secret: str | None = None
    token: str = ""


@router.post("/oauth/revoke", openapi_extra=openapi_body(RevokeForm))
async def revoke(session: SessionDep, form: RevokeForm = body(RevokeForm)) -> JSON:
    app = await oauth.authenticate_client(session, form.client_id, form.client_secret)
    await oauth.revoke(session, app, form.token)
    return JSON({})
