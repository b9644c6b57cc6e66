"""Two-factor sign-in with a real client: Mastodon.py's authorization-code flow against
`agora serve` signs in through the authorize page with the code; its password grant is
refused for that account."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
import pytest
from mastodon import Mastodon, MastodonAPIError, MastodonIllegalArgumentError

from live_server import LiveServer

PASSWORD = "correct horse battery"
CALLBACK = "https://client.example/callback"
CSRF_RE = re.compile(r'name="csrf" value="([0-9a-f]+)"')
SECRET_RE = re.compile(r'<code class="otp-secret">([A-Z2-7]+)</code>')
HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def _csrf(page: httpx.Response) -> str:
    found = CSRF_RE.search(page.text)
    assert found, page.text
    return found.group(1)


def _turn_on_two_factor(server: LiveServer) -> str:
    """Sign in on the web as alice and set up two-factor sign-in; the secret."""
    with httpx.Client(base_url=server.url) as web:
        page = web.get("/auth/sign_in")
        form = {"csrf": _csrf(page), "username": "alice", "password": PASSWORD}
        assert web.post("/auth/sign_in", data=form).status_code == 303
        csrf = _csrf(web.get("/home"))
        assert web.post("/settings/two_factor/setup", data={"csrf": csrf}).status_code == 303
        secret = SECRET_RE.search(web.get("/settings/two_factor").text)
        assert secret
        code = pyotp.TOTP(secret.group(1)).now()
        on = web.post("/settings/two_factor/enable", data={"csrf": csrf, "code": code})
        assert on.status_code == 200 and "<strong>on</strong>" in on.text
        return secret.group(1)


def test_authorization_code_flow_signs_in_with_the_code_and_the_password_grant_refuses(
    server: LiveServer,
) -> None:
    server.cli("user", "create", "alice", "alice@example.org", "--password", PASSWORD)
    secret = _turn_on_two_factor(server)
    keys = Mastodon.create_app("2fa test", api_base_url=server.url, redirect_uris=[CALLBACK])
    api = Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=server.url)
    with pytest.raises((MastodonIllegalArgumentError, MastodonAPIError)):
        api.log_in("alice@example.org", PASSWORD, allow_http=True)

    url = api.auth_request_url(redirect_uris=CALLBACK, state="s2", allow_http=True)
    with httpx.Client(base_url=server.url) as browser:
        page = browser.get(url)
        form = {
            **dict(HIDDEN_RE.findall(page.text)),
            "username": "alice@example.org",
            "password": PASSWORD,
            "decision": "allow",
        }
        asked = browser.post("/oauth/authorize", data=form)
        assert asked.status_code == 401 and 'name="otp_attempt"' in asked.text
        code = pyotp.TOTP(secret).at(time.time() + 30)  # the next step
        done = browser.post("/oauth/authorize", data={**form, "otp_attempt": code})
    assert done.status_code == 302, done.text
    query = parse_qs(urlparse(done.headers["location"]).query)
    assert query["state"] == ["s2"]
    api.log_in(code=query["code"][0], redirect_uri=CALLBACK, allow_http=True)
    assert api.me().username == "alice"
    assert "turned off" in server.cli("user", "disable-2fa", "alice")
    password_api = Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=server.url)
    password_api.log_in("alice@example.org", PASSWORD, allow_http=True)
    assert password_api.me().username == "alice"
