"""Two-factor sign-in: setting it up in the settings (QR code, recovery codes), the web
sign-in and the OAuth authorize page asking for the code, wrong / reused / expired codes
refused and counted against the sign-in limit, recovery codes working once, the password
grant refusing, turning it off (settings and `admin_disable`)."""

from __future__ import annotations

import re
import time

import httpx
import pyotp
from sqlalchemy import select

from agora.auth import two_factor
from agora.auth.oauth import SECOND_FACTOR
from agora.db.models import RecoveryCode
from helpers import PASSWORD, csrf_of, web_sign_in
from test_ratelimit import limited

SECRET_RE = re.compile(r'<code class="otp-secret">([A-Z2-7]+)</code>')
CODE_RE = re.compile(r"<li><code>([0-9a-f]{8}-[0-9a-f]{8})</code></li>")


def code_at(secret: str, offset_steps: int = 0) -> str:
    """The TOTP code of the step `offset_steps` from now."""
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


async def turn_on(client: httpx.AsyncClient, login: str) -> tuple[str, list[str]]:
    """Set up two-factor sign-in through the settings pages; the secret and the codes."""
    csrf = await web_sign_in(client, login)
    off = await client.get("/settings/two_factor")
    assert off.status_code == 200 and "<strong>off</strong>" in off.text
    assert (await client.post("/settings/two_factor/setup", data={"csrf": csrf})).status_code == 303
    page = await client.get("/settings/two_factor")
    assert 'src="data:image/svg+xml' in page.text  # the QR code
    secret = SECRET_RE.search(page.text)
    assert secret
    wrong = await client.post("/settings/two_factor/enable", data={"csrf": csrf, "code": "000000"})
    assert wrong.status_code == 422 and two_factor.WRONG_CODE in wrong.text
    on = await client.post(
        "/settings/two_factor/enable", data={"csrf": csrf, "code": code_at(secret.group(1))}
    )
    assert on.status_code == 200 and "<strong>on</strong>" in on.text
    codes = CODE_RE.findall(on.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret.group(1), codes


async def _sign_in(client: httpx.AsyncClient, code: str | None) -> httpx.Response:
    page = await client.get("/auth/sign_in")
    form = {"csrf": csrf_of(page.text), "username": "alice", "password": PASSWORD}
    if code is not None:
        form["otp_attempt"] = code
    return await client.post("/auth/sign_in", data=form)


async def test_web_sign_in_asks_for_the_code_and_refuses_wrong_reused_and_expired_ones(
    app, client, db, make_person
):
    await make_person("alice")
    secret, _ = await turn_on(client, "alice")
    async with db.session() as session:  # stored hashed
        stored = (await session.scalars(select(RecoveryCode.code_hash))).all()
    assert len(stored) == 10 and all(len(h) == 64 for h in stored)
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    asked = await _sign_in(browser, None)
    assert asked.status_code == 401 and 'name="otp_attempt"' in asked.text
    assert SECOND_FACTOR in asked.text
    wrong = await _sign_in(browser, "123456" if code_at(secret) != "123456" else "654321")
    assert wrong.status_code == 401 and two_factor.WRONG_CODE in wrong.text
    assert 'name="otp_attempt"' in wrong.text
    expired = await _sign_in(browser, code_at(secret, -3))
    assert expired.status_code == 401
    future = code_at(secret, 1)  # a step ahead (clock drift) is accepted, once
    assert (await _sign_in(browser, future)).status_code == 303
    await browser.aclose()
    again = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    reused = await _sign_in(again, future)
    assert reused.status_code == 401 and two_factor.WRONG_CODE in reused.text
    older = await _sign_in(again, code_at(secret))  # a step before the last one used
    assert older.status_code == 401
    await again.aclose()


async def test_a_recovery_code_works_once(app, client, make_person):
    await make_person("alice")
    _, codes = await turn_on(client, "alice")
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    assert (await _sign_in(browser, codes[3].upper())).status_code == 303
    await browser.aclose()
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    assert (await _sign_in(browser, codes[3])).status_code == 401
    assert (await _sign_in(browser, codes[4])).status_code == 303
    await browser.aclose()
    page = await client.get("/settings/two_factor")
    assert "8 recovery code(s) left" in page.text


async def test_the_password_grant_refuses_an_account_with_two_factor(client, make_person):
    await make_person("alice")
    await turn_on(client, "alice")
    app = (await client.post("/api/v1/apps", data={"client_name": "x", "scopes": "read"})).json()
    grant = {
        "grant_type": "password",
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "username": "alice@example.org",
        "password": PASSWORD,
        "scope": "read",
    }
    refused = await client.post("/oauth/token", data=grant)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    assert refused.json()["error_description"] == SECOND_FACTOR


async def test_the_authorize_page_asks_for_the_code(client, make_person):
    await make_person("alice")
    secret, _ = await turn_on(client, "alice")
    app = (
        await client.post(
            "/api/v1/apps",
            data={"client_name": "x", "scopes": "read", "redirect_uris": "https://c.example/cb"},
        )
    ).json()
    form = {
        "client_id": app["client_id"],
        "redirect_uri": "https://c.example/cb",
        "response_type": "code",
        "scope": "read",
        "username": "alice",
        "password": PASSWORD,
        "decision": "allow",
    }
    asked = await client.post("/oauth/authorize", data=form)
    assert asked.status_code == 401 and 'name="otp_attempt"' in asked.text
    assert 'value="alice"' in asked.text
    wrong = await client.post("/oauth/authorize", data={**form, "otp_attempt": "99999x"})
    assert wrong.status_code == 401 and two_factor.WRONG_CODE in wrong.text
    done = await client.post("/oauth/authorize", data={**form, "otp_attempt": code_at(secret, 1)})
    assert done.status_code == 302 and "code=" in done.headers["location"]


async def test_wrong_codes_count_against_the_sign_in_limit(db, client, make_person):
    await make_person("alice")
    secret, _ = await turn_on(client, "alice")
    async with limited(db, ratelimit_sign_in_account="3/hour") as make_client:
        browser = make_client("10.9.9.9")
        for _ in range(3):
            assert (await _sign_in(browser, "000001")).status_code == 401
        stopped = await _sign_in(browser, code_at(secret, 1))  # even the right code now
        assert stopped.status_code == 429


async def test_turning_it_off_needs_the_password_and_a_code_or_the_admin(
    app, client, db, make_person
):
    await make_person("alice")
    secret, codes = await turn_on(client, "alice")
    csrf = csrf_of((await client.get("/settings/two_factor")).text)
    no_password = await client.post(
        "/settings/two_factor/disable",
        data={"csrf": csrf, "password": "wrong", "code": code_at(secret, 1)},
    )
    assert no_password.status_code == 422 and "<strong>on</strong>" in no_password.text
    renewed = await client.post(
        "/settings/two_factor/recovery_codes",
        data={"csrf": csrf, "password": PASSWORD, "code": codes[0]},
    )
    fresh = CODE_RE.findall(renewed.text)
    assert renewed.status_code == 200 and len(fresh) == 10 and not set(fresh) & set(codes)
    off = await client.post(
        "/settings/two_factor/disable",
        data={"csrf": csrf, "password": PASSWORD, "code": fresh[0]},
    )
    assert off.status_code == 303
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    assert (await _sign_in(browser, None)).status_code == 303
    await browser.aclose()

    second = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    await turn_on(second, "alice")
    await second.aclose()
    async with db.session(write=True) as session:
        assert await two_factor.admin_disable(session, "alice") is True
        assert await two_factor.admin_disable(session, "alice") is False
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    assert (await _sign_in(browser, None)).status_code == 303
    await browser.aclose()
