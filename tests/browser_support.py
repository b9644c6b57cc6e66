"""What the browser tests share: Debian's chromium driven by Playwright (never a downloaded
browser), its arguments, the marks that run browser flows once (in the SQLite pass of
`make test`; AGORA_WEB_BROWSER_ALL=1 runs them on PostgreSQL too: the browser does not care
which database serves it), the expectation timeout and the axe-core check (zero serious or
critical violations). The `browser` fixture that launches it is in conftest.py.

Importing this module skips the importing test module when Playwright or axe is missing."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from helpers import ON_POSTGRES

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
async_api = pytest.importorskip("playwright.async_api")
axe_module = pytest.importorskip("axe_playwright_python.async_playwright")

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser password"  # of the accounts the flows sign up
TIMEOUT = 10_000  # ms, for every expectation and page action
SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"  # git-ignored
BROWSER_MARKS = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no /usr/bin/chromium"),
    pytest.mark.skipif(
        ON_POSTGRES and not os.environ.get("AGORA_WEB_BROWSER_ALL"),
        reason="browser flows run in the SQLite pass",
    ),
]
expect = async_api.expect
expect.set_options(timeout=TIMEOUT)


@asynccontextmanager
async def launched_chromium() -> AsyncIterator[Any]:
    """A headless chromium, closed on exit."""
    async with async_api.async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=ARGS
        )
        yield chromium
        await chromium.close()


async def no_serious_violations(page: Any, name: str) -> None:
    """Assert that axe-core finds no serious or critical violation on `page`."""
    results = await axe_module.Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{name}: {bad}"


async def screenshot(page: Any, name: str) -> None:
    """Save a full-page screenshot as artifacts/screenshots/NAME.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def sign_up_on_the_web(page: Any, username: str) -> None:
    """Sign `username` up through the web sign-up page (PASSWORD, USERNAME@example.org); the
    page ends on the home timeline, signed in."""
    import re

    await page.goto("/auth/sign_up")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("E-mail").fill(f"{username}@example.org")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Password again").fill(PASSWORD)
    await page.get_by_label("I accept the server rules").check()
    await page.get_by_role("button", name="Sign up").click()
    await expect(page).to_have_url(re.compile(r"/home$"))


async def ana_follows_ben(browser: Any, url: str, app_name: str) -> tuple[Any, Any]:
    """The flows' two people on the server at `url`: ben, signed up through the API (his
    Mastodon.py client is returned), and ana, signed up on the web sign-up page, who follows
    ben from his profile (her page is returned, at his profile)."""

    from mastodon import Mastodon

    keys = Mastodon.create_app(app_name, api_base_url=url)
    ben = Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=url)
    ben.create_account("ben", PASSWORD, "ben@example.org", agreement=True)
    context = await browser.new_context(base_url=url)
    page = await context.new_page()
    await sign_up_on_the_web(page, "ana")
    await page.goto("/@ben")
    await page.get_by_role("button", name="Follow").first.click()
    return ben, page
