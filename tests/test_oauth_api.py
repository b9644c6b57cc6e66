"""OAuth 2 as Mastodon does it: apps, the sign-in page, codes with PKCE, grants, scopes."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlparse

import pytest

from agora.config import get_settings

REDIRECT = "https://client.example/callback"


async def _app(client, scopes="read write follow", redirect=REDIRECT):
    r = await client.post(
        "/api/v1/apps", json={"client_name": "Test", "redirect_uris": redirect, "scopes": scopes}
    )
    assert r.status_code == 200, r.text
    return r.json()


async def _authorize(client, app, extra=None, username="alice", password="correct horse battery"):
    params = {
        "client_id": app["client_id"],
        "redirect_uri": app["redirect_uri"],
        "response_type": "code",
        "scope": "read write",
        "state": "xyz",
        **(extra or {}),
    }
    page = await client.get("/oauth/authorize/", params=params)
    assert page.status_code == 200 and "Test" in page.text and 'name="password"' in page.text
    assert "content-security-policy" in page.headers
    return await client.post(
        "/oauth/authorize",
        data={**params, "username": username, "password": password, "decision": "allow"},
    )


async def test_authorization_code_with_pkce(client, make_person):
    await make_person("alice")
    app = await _app(client)
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    r = await _authorize(
        client, app, {"code_challenge": challenge.decode(), "code_challenge_method": "S256"}
    )
    assert r.status_code == 302
    query = parse_qs(urlparse(r.headers["location"]).query)
    assert query["state"] == ["xyz"]
    form = {
        "grant_type": "authorization_code",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "redirect_uri": REDIRECT,
        "code": query["code"][0],
    }
    bad = await client.post("/oauth/token", data={**form, "code_verifier": "wrong"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    ok = await client.post("/oauth/token", json={**form, "code_verifier": verifier})
    assert ok.status_code == 200
    token = ok.json()
    assert token["token_type"] == "Bearer" and token["scope"] == "read write"
    again = await client.post("/oauth/token", json={**form, "code_verifier": verifier})
    assert again.status_code == 400  # a code is single use
    me = await client.get(
        "/api/v1/accounts/verify_credentials",
        headers={"Authorization": f"Bearer {token['access_token']}"},
    )
    assert me.json()["username"] == "alice"


async def test_oob_code_page_and_wrong_password(client, make_person):
    await make_person("alice")
    app = await _app(client, redirect="urn:ietf:wg:oauth:2.0:oob")
    r = await _authorize(client, app, password="nope nope nope")
    assert r.status_code == 401 and "Invalid email or password" in r.text
    r = await _authorize(client, app)
    assert r.status_code == 200
    code = re.search(r'<output id="code" class="code">([^<]+)</output>', r.text).group(1)
    token = await client.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "code": code,
            "redirect_uri": "urn:ietf:wg:oauth:2.0:oob",
        },
    )
    assert token.status_code == 200


async def test_deny_redirects_with_error(client, make_person):
    await make_person("alice")
    app = await _app(client)
    r = await client.post(
        "/oauth/authorize",
        data={
            "client_id": app["client_id"],
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "decision": "deny",
        },
    )
    assert r.status_code == 302 and "error=access_denied" in r.headers["location"]


async def test_authorize_rejects_unknown_client_and_redirect(client):
    r = await client.get("/oauth/authorize", params={"client_id": "nope", "response_type": "code"})
    assert r.status_code == 400
    app = await _app(client)
    r = await client.get(
        "/oauth/authorize",
        params={
            "client_id": app["client_id"],
            "redirect_uri": "https://evil.example/",
            "response_type": "code",
        },
    )
    assert r.status_code == 400 and "redirect" in r.text


async def test_password_grant_scopes_and_revoke(client, make_person):
    await make_person("alice")
    app = await _app(client, scopes="read write follow")
    r = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "username": "alice@example.org",
            "password": "correct horse battery",
            "scope": "read",
        },
    )
    token = r.json()
    assert token["scope"] == "read"
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert (await client.get("/api/v1/timelines/home", headers=headers)).status_code == 200
    r = await client.post("/api/v1/statuses", headers=headers, data={"status": "no"})
    assert r.status_code == 403 and r.json()["error"]
    wider = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "username": "alice",
            "password": "correct horse battery",
            "scope": "read admin:write",
        },
    )
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    await client.post(
        "/oauth/revoke",
        data={
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "token": token["access_token"],
        },
    )
    assert (await client.get("/api/v1/timelines/home", headers=headers)).status_code == 401


async def test_granular_scopes(client, make_person):
    await make_person("alice")
    app = await _app(client, scopes="read:statuses write:favourites")
    r = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "username": "alice",
            "password": "correct horse battery",
            "scope": "read:statuses write:favourites",
        },
    )
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await client.get("/api/v1/timelines/home", headers=headers)).status_code == 200
    assert (await client.get("/api/v1/notifications", headers=headers)).status_code == 403
    assert (
        await client.post("/api/v1/statuses", headers=headers, data={"status": "x"})
    ).status_code == 403


async def test_client_credentials_sign_up_and_app_verify(client, monkeypatch):
    app = await _app(client, scopes="read write")
    r = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "read write",
        },
    )
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    verify = await client.get("/api/v1/apps/verify_credentials", headers=headers)
    assert verify.json()["name"] == "Test" and "client_secret" not in verify.json()
    assert (
        await client.get("/api/v1/accounts/verify_credentials", headers=headers)
    ).status_code == 422
    signup = {
        "username": "newbie",
        "email": "n@example.org",
        "password": "long enough pw",
        "agreement": "true",
        "locale": "en",
    }
    r = await client.post("/api/v1/accounts", headers=headers, data=signup)
    assert r.status_code == 200, r.text
    me = await client.get(
        "/api/v1/accounts/verify_credentials",
        headers={"Authorization": f"Bearer {r.json()['access_token']}"},
    )
    assert me.json()["username"] == "newbie"
    dup = await client.post("/api/v1/accounts", headers=headers, data=signup)
    assert dup.status_code == 422
    monkeypatch.setattr(get_settings(), "registrations", "closed")
    closed = await client.post(
        "/api/v1/accounts",
        headers=headers,
        data={**signup, "username": "other", "email": "o@example.org"},
    )
    assert closed.status_code == 403


async def test_approval_mode_blocks_sign_in_until_approved(client, monkeypatch):
    monkeypatch.setattr(get_settings(), "registrations", "approval")
    app = await _app(client, scopes="read write")
    r = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "read write",
        },
    )
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    await client.post(
        "/api/v1/accounts",
        headers=headers,
        data={
            "username": "waiting",
            "email": "w@example.org",
            "password": "long enough pw",
            "agreement": "true",
        },
    )
    r = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "username": "waiting",
            "password": "long enough pw",
        },
    )
    assert r.status_code == 403 and "approval" in r.json()["error_description"]


async def test_discovery_documents(client, make_person):
    await make_person("alice")
    meta = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert (
        "password" in meta["grant_types_supported"]
        and "S256" in meta["code_challenge_methods_supported"]
    )
    v1 = (await client.get("/api/v1/instance/")).json()
    assert v1["version"].split(" ")[0] == "4.5.0" and v1["uri"] == "testserver"
    assert v1["configuration"]["statuses"]["max_characters"] == 500
    v2 = (await client.get("/api/v2/instance")).json()
    assert v2["api_versions"]["mastodon"] == 7  # Mastodon 4.5's
    finger = await client.get(
        "/.well-known/webfinger", params={"resource": "acct:alice@testserver"}
    )
    assert finger.json()["subject"] == "acct:alice@testserver"
    assert (
        await client.get("/.well-known/webfinger", params={"resource": "acct:nobody@testserver"})
    ).status_code == 404
    for path in ("/nodeinfo/2.0", "/nodeinfo/2.1"):
        assert (await client.get(path)).json()["usage"]["users"]["total"] == 1
    assert "lrdd" in (await client.get("/.well-known/host-meta")).text
    assert len((await client.get("/.well-known/nodeinfo")).json()["links"]) == 2
    cors = await client.get("/api/v1/instance", headers={"Origin": "https://elk.example"})
    assert "Link" in cors.headers["access-control-expose-headers"]


@pytest.mark.parametrize(
    ("scope", "status", "error"),
    [
        # Mastodon checks the scope first (doorkeeper_authorize!), then asks for a user
        ("write", 403, "This action is outside the authorized scopes"),
        ("read", 422, "This method requires an authenticated user"),
    ],
)
async def test_an_app_token_is_refused_for_its_scope_before_its_missing_user(
    client, scope: str, status: int, error: str
) -> None:
    app = await _app(client, scopes="read write")
    issued = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": scope,
        },
    )
    assert issued.status_code == 200, issued.text
    headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    home = await client.get("/api/v1/timelines/home", headers=headers)
    assert (home.status_code, home.json()) == (status, {"error": error})
