"""The admin console in a real browser (Debian's chromium, Playwright, axe-core), against
`agora serve` as a real process: an admin reads a report with its post and suspends the
account from it, then changes the server settings, which the API shows at once. Every console
page has zero serious or critical axe violations. SQLite pass only (the console's HTTP tests,
tests/test_admin_console.py, run on both databases)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from browser_support import (
    BROWSER_MARKS,
    PASSWORD,
    TIMEOUT,
    expect,
    no_serious_violations,
    screenshot,
    sign_up_on_the_web,
)
from live_server import LiveServer

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer("sqlite")
    live.start()
    yield live
    live.stop()


async def _page(browser, server, name: str):  # type: ignore[no-untyped-def]
    """A new browser context signed up as `name` (through the sign-up form)."""
    context = await browser.new_context(
        base_url=server.url, viewport={"width": 1024, "height": 800}
    )
    context.set_default_timeout(TIMEOUT)
    page = await context.new_page()
    await sign_up_on_the_web(page, name)
    return context, page


async def _accessible(page, name: str) -> None:  # type: ignore[no-untyped-def]
    await no_serious_violations(page, name)
    await screenshot(page, name)


def _token(server: LiveServer, username: str) -> str:
    """A token for `username`, by the password grant (as a Mastodon client gets one)."""
    app = httpx.post(
        f"{server.url}/api/v1/apps",
        data={
            "client_name": "t",
            "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
            "scopes": "read write",
        },
    ).json()
    grant = httpx.post(
        f"{server.url}/oauth/token",
        data={
            "grant_type": "password",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "username": f"{username}@example.org",
            "password": PASSWORD,
            "scope": "read write",
        },
    )
    assert grant.status_code == 200, grant.text
    return grant.json()["access_token"]


async def test_report_to_suspension_and_settings_in_the_console(browser, server) -> None:  # type: ignore[no-untyped-def]
    troll_ctx, troll = await _page(browser, server, "troll")
    await troll.get_by_label("What is on your mind?").fill("buy cheap pills at spam.example")
    await troll.get_by_role("button", name="Post", exact=True).click()
    await expect(troll.locator("#timeline article").first).to_contain_text("cheap pills")
    witness_ctx, _ = await _page(browser, server, "witness")
    mod_ctx, mod = await _page(browser, server, "mod")
    server.cli("user", "admin", "mod")

    headers = {"Authorization": f"Bearer {_token(server, 'witness')}"}
    troll_id = httpx.get(f"{server.url}/api/v1/accounts/lookup?acct=troll", headers=headers).json()[
        "id"
    ]
    post_id = httpx.get(
        f"{server.url}/api/v1/accounts/{troll_id}/statuses", headers=headers
    ).json()[0]["id"]
    filed = httpx.post(
        f"{server.url}/api/v1/reports",
        headers=headers,
        data={"account_id": troll_id, "status_ids[]": post_id, "comment": "spam"},
    )
    assert filed.status_code == 200, filed.text

    await mod.goto("/home")
    await mod.get_by_role("link", name="Admin").click()
    await expect(mod.get_by_role("heading", name="Admin console")).to_be_visible()
    await expect(mod.get_by_role("link", name="1 open report")).to_be_visible()
    await _accessible(mod, "admin-dashboard")
    await (
        mod.get_by_role("navigation", name="Admin console sections")
        .get_by_role("link", name="Reports")
        .click()
    )
    await _accessible(mod, "admin-reports")
    await mod.get_by_role("link", name=re.compile(r"about @troll")).click()
    await expect(mod.locator(".feed")).to_contain_text("cheap pills")  # the reported post
    await _accessible(mod, "admin-report")
    await mod.get_by_role("radio", name=re.compile(r"Suspend")).check()
    await mod.get_by_label("Note for the moderation log").fill("spam seller")
    await mod.get_by_role("button", name="Apply").click()
    await expect(mod.locator("p.saved")).to_contain_text("The account is suspended.")
    await expect(mod.locator("#account-state")).to_contain_text("suspended")
    await expect(mod.locator("#account-log")).to_contain_text("suspend by @mod")
    await _accessible(mod, "admin-account")
    gone = httpx.get(f"{server.url}/api/v1/statuses/{post_id}", headers=headers)
    assert gone.status_code == 404  # the suspension applies at once

    for path, name in [
        ("/admin/accounts?q=t", "admin-accounts"),
        ("/admin/jobs", "admin-jobs"),
        ("/admin/domain_blocks", "admin-domain-blocks"),
    ]:
        await mod.goto(path)
        await _accessible(mod, name)

    await mod.goto("/admin/settings")
    await _accessible(mod, "admin-settings")
    await mod.get_by_label("Anyone, approved by an admin first").check()
    await mod.get_by_label("Server rules, one per line").fill("Be kind\nNo spam")
    await mod.get_by_label("Short description").fill("A calm server")
    await mod.get_by_role("button", name="Save settings").click()
    await expect(mod.locator("p.saved")).to_contain_text("The settings are saved.")
    instance = httpx.get(f"{server.url}/api/v1/instance").json()
    assert (
        instance["approval_required"] is True and instance["short_description"] == "A calm server"
    )
    assert [r["text"] for r in instance["rules"]] == ["Be kind", "No spam"]
    await mod.goto("/admin")
    await expect(mod.locator("#log-title + ul")).to_contain_text("registrations")
    await mod.emulate_media(color_scheme="dark")
    await _accessible(mod, "admin-dashboard-dark")
    for context in (troll_ctx, witness_ctx, mod_ctx):
        await context.close()
