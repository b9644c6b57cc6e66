"""E-mail against a real SMTP server (aiosmtpd, tests/mail_server.py): sign-up confirmation,
password reset, change of address, retries while the server is down, STARTTLS with
authentication, the person's language, and what happens with no mail server at all."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from agora.auth.standing import UNCONFIRMED
from agora.config import get_settings
from agora.db.models import AccessToken, EmailToken, Job, User, WebSession, utcnow
from helpers import PASSWORD, csrf_of, web_sign_in
from mail_server import (
    SECRET,
    USER,
    MailServer,
    free_port,
    point_agora_at,
    running_mail_server,
    self_signed,
)

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def mail_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    yield from running_mail_server(monkeypatch)


def _path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


async def _api_sign_up(
    client: httpx.AsyncClient, username: str = "newbie", locale: str = "en"
) -> dict[str, str]:
    app = (
        await client.post("/api/v1/apps", data={"client_name": "x", "scopes": "read write"})
    ).json()
    keys = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    grant = {"grant_type": "client_credentials", "scope": "read write", **keys}
    app_token = (await client.post("/oauth/token", data=grant)).json()["access_token"]
    signup = {
        "username": username,
        "email": f"{username}@example.org",
        "password": "long enough pw",
        "agreement": "true",
        "locale": locale,
    }
    r = await client.post(
        "/api/v1/accounts", headers={"Authorization": f"Bearer {app_token}"}, data=signup
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _post(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/api/v1/statuses", headers=headers, data={"status": "hello"})


async def test_an_unconfirmed_account_cannot_post_until_its_link_is_opened_once(
    client, run_jobs, mail_server: MailServer
):
    headers = await _api_sign_up(client)
    refused = await _post(client, headers)
    assert refused.status_code == 403 and refused.json() == {"error": UNCONFIRMED}
    assert (await client.get("/api/v1/timelines/home", headers=headers)).status_code == 403
    checked = await client.get("/api/v1/emails/check_confirmation", headers=headers)
    assert checked.status_code == 200 and checked.json() is False
    await run_jobs()
    [mail] = mail_server.wait_for(1)
    assert mail.rcpt == ["newbie@example.org"]
    assert mail.message["Subject"].startswith("Confirm your e-mail address")
    assert mail.link in mail.text and mail.link.replace("&", "&amp;") in mail.html
    assert mail.link.startswith("http://testserver/auth/confirmation?confirmation_token=")
    # the web sign-in is refused too, and says what to do
    page = await client.get("/auth/sign_in")
    form = {"csrf": csrf_of(page.text), "username": "newbie", "password": "long enough pw"}
    signed = await client.post("/auth/sign_in", data=form)
    assert signed.status_code == 403 and "/auth/confirmation/new" in signed.text

    opened = await client.get(_path(mail.link))
    assert opened.status_code == 200 and "confirmed" in opened.text
    assert (await _post(client, headers)).status_code == 200
    again = await client.get(_path(mail.link))
    assert again.status_code == 422 and "invalid or has expired" in again.text
    checked = await client.get("/api/v1/emails/check_confirmation", headers=headers)
    assert checked.json() is True
    resend = await client.post("/api/v1/emails/confirmations", headers=headers)
    assert resend.status_code == 403


async def test_a_confirmation_link_expires(client, run_jobs, db, mail_server: MailServer):
    headers = await _api_sign_up(client)
    await run_jobs()
    [mail] = mail_server.wait_for(1)
    async with db.transaction() as session:
        await session.execute(update(EmailToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await client.get(_path(mail.link))).status_code == 422
    assert (await _post(client, headers)).status_code == 403


async def test_asking_again_sends_a_new_link_and_the_old_one_stops_working(
    client, run_jobs, db, mail_server: MailServer
):
    headers = await _api_sign_up(client)
    corrected = await client.post(
        "/api/v1/emails/confirmations", headers=headers, data={"email": "Fixed@Example.org"}
    )
    assert corrected.status_code == 200 and corrected.json() == {}
    await run_jobs()
    first, second = mail_server.wait_for(2)
    assert first.rcpt == ["newbie@example.org"] and second.rcpt == ["fixed@example.org"]
    assert (await client.get(_path(first.link))).status_code == 422
    assert (await client.get(_path(second.link))).status_code == 200
    async with db.session() as session:
        assert await session.scalar(select(User.email)) == "fixed@example.org"
    # the web form answers the same for any address, and mails only an unconfirmed one
    page = await client.get("/auth/confirmation/new")
    for address in ("fixed@example.org", "nobody@example.org"):
        answer = await client.post(
            "/auth/confirmation/new", data={"csrf": csrf_of(page.text), "email": address}
        )
        assert answer.status_code == 200 and "Check your inbox" in answer.text
    await run_jobs()
    assert len(mail_server.messages) == 2


async def test_password_reset_works_once_and_ends_every_session_and_token(
    client, app, run_jobs, db, make_person, mail_server: MailServer
):
    alice = await make_person("alice")
    other_browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    await web_sign_in(other_browser, "alice")
    assert (
        await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)
    ).is_success

    page = await client.get("/auth/password/new")
    assert page.status_code == 200 and 'name="email"' in page.text
    for address in ("alice@example.org", "nobody@example.org"):
        asked = await client.post(
            "/auth/password/new", data={"csrf": csrf_of(page.text), "email": address}
        )
        assert asked.status_code == 200 and "Check your inbox" in asked.text
    await run_jobs()
    [mail] = mail_server.wait_for(1)
    assert mail.rcpt == ["alice@example.org"]
    assert "reset_password_token=" in mail.link
    async with db.session() as session:  # stored hashed: the link's token is not in the table
        stored = (await session.scalars(select(EmailToken.token_hash))).all()
    token = mail.link.rsplit("=", 1)[1]
    assert token not in stored and len(stored) == 1

    form_page = await client.get(_path(mail.link))
    assert form_page.status_code == 200
    short = await client.post(
        "/auth/password/edit",
        data={"csrf": csrf_of(form_page.text), "token": token, "password": "x", "confirm": "x"},
    )
    assert short.status_code == 422  # nothing used up by a refused password
    done = await client.post(
        "/auth/password/edit",
        data={
            "csrf": csrf_of(form_page.text),
            "token": token,
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert done.status_code == 303 and done.headers["location"] == "/auth/sign_in?reset=1"
    verify = await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)
    assert verify.status_code == 401  # the token was revoked
    assert (await other_browser.get("/home")).status_code in (303, 307)
    await other_browser.aclose()
    async with db.session() as session:
        assert await session.scalar(select(WebSession.id)) is None
        live = await session.scalar(select(AccessToken.id).where(AccessToken.revoked_at.is_(None)))
        assert live is None
    reused = await client.get(_path(mail.link))
    assert reused.status_code == 422
    await web_sign_in(client, "alice", NEW_PASSWORD)


async def test_a_reset_link_expires(client, run_jobs, db, make_person, mail_server: MailServer):
    await make_person("alice")
    page = await client.get("/auth/password/new")
    await client.post(
        "/auth/password/new", data={"csrf": csrf_of(page.text), "email": "alice@example.org"}
    )
    await run_jobs()
    [mail] = mail_server.wait_for(1)
    async with db.transaction() as session:
        await session.execute(update(EmailToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await client.get(_path(mail.link))).status_code == 422
    form = {
        "csrf": csrf_of(page.text),
        "token": mail.link.rsplit("=", 1)[1],
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    }
    assert (await client.post("/auth/password/edit", data=form)).status_code == 422
    await web_sign_in(client, "alice", PASSWORD)  # the old password still works


async def test_a_mail_server_that_is_down_is_retried_and_nothing_is_lost(
    client, run_jobs, db, make_person, monkeypatch
):
    port = free_port()
    point_agora_at(monkeypatch, port)
    try:
        await make_person("alice")
        page = await client.get("/auth/password/new")
        await client.post(
            "/auth/password/new", data={"csrf": csrf_of(page.text), "email": "alice@example.org"}
        )
        for _ in range(3):
            await run_jobs()
            async with db.transaction() as session:
                [job] = (await session.scalars(select(Job))).all()
                assert job.kind == "send_mail" and job.state == "pending"
                assert "Connect" in (job.last_error or "") or "refused" in (job.last_error or "")
                job.run_at = utcnow()  # the retry is due now
        server = MailServer(port)
        server.start()
        try:
            await run_jobs()
            [mail] = server.wait_for(1)
        finally:
            server.stop()
        assert mail.rcpt == ["alice@example.org"] and "reset_password_token=" in mail.link
        async with db.session() as session:
            assert (await session.scalars(select(Job))).all() == []
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


async def test_starttls_and_authentication(client, run_jobs, make_person, monkeypatch, tmp_path):
    context, cert = self_signed(tmp_path)
    server = MailServer(free_port())
    server.start(tls=context)
    point_agora_at(
        monkeypatch,
        server.port,
        smtp_security="starttls",
        smtp_user=USER,
        smtp_password=SECRET,
        smtp_ca_file=str(cert),
        smtp_from="Agora <mail@agora.test>",
    )
    try:
        await make_person("alice")
        page = await client.get("/auth/password/new")
        await client.post(
            "/auth/password/new", data={"csrf": csrf_of(page.text), "email": "alice@example.org"}
        )
        await run_jobs()
        [mail] = server.wait_for(1)
        assert server.logins == [USER]
        assert mail.message["From"] == "Agora <mail@agora.test>"
    finally:
        server.stop()
        monkeypatch.undo()
        get_settings.cache_clear()


async def test_mails_are_in_the_persons_language(client, run_jobs, mail_server: MailServer):
    await _api_sign_up(client, "marie", locale="fr")
    await _api_sign_up(client, "maria", locale="pt-BR")  # no Portuguese templates: English
    await run_jobs()
    mails = {m.rcpt[0]: m for m in mail_server.wait_for(2)}
    assert mails["marie@example.org"].message["Subject"].startswith("Confirmez")
    assert "Bonjour @marie" in mails["marie@example.org"].text
    assert 'lang="fr"' in mails["marie@example.org"].html
    assert mails["maria@example.org"].message["Subject"].startswith("Confirm your")


async def test_changing_the_address_takes_effect_when_the_new_one_is_confirmed(
    client, run_jobs, db, make_person, mail_server: MailServer
):
    await make_person("alice")
    await make_person("bob")
    csrf = await web_sign_in(client, "alice")
    wrong = await client.post(
        "/settings/email", data={"csrf": csrf, "email": "new@example.org", "password": "nope"}
    )
    assert wrong.status_code == 422 and "password is wrong" in wrong.text
    taken = await client.post(
        "/settings/email", data={"csrf": csrf, "email": "bob@example.org", "password": PASSWORD}
    )
    assert taken.status_code == 422 and "already been taken" in taken.text
    asked = await client.post(
        "/settings/email", data={"csrf": csrf, "email": "new@example.org", "password": PASSWORD}
    )
    assert asked.status_code == 303 and asked.headers["location"] == "/settings/email?sent=1"
    await run_jobs()
    [mail] = mail_server.wait_for(1)
    assert mail.rcpt == ["new@example.org"] and "new e-mail address" in mail.message["Subject"]
    async with db.session() as session:  # nothing changes before the link is opened
        emails = set((await session.scalars(select(User.email))).all())
    assert emails == {"alice@example.org", "bob@example.org"}
    assert (await client.get(_path(mail.link))).status_code == 200
    await run_jobs()
    notice = mail_server.wait_for(2)[1]
    assert notice.rcpt == ["alice@example.org"] and "new@example.org" in notice.text
    page = await client.get("/settings/email")
    assert "new@example.org" in page.text


async def test_without_a_mail_server_sign_ups_need_no_confirmation(client, run_jobs, db):
    assert not get_settings().smtp_host
    headers = await _api_sign_up(client)
    assert (await _post(client, headers)).status_code == 200
    page = await client.get("/auth/password/new")
    assert "does not send e-mail" in page.text and 'name="email"' not in page.text
    await run_jobs()
    async with db.session() as session:
        assert (await session.scalars(select(Job))).all() == []
