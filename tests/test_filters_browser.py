"""Filters in Debian's chromium (Playwright) against `agora serve`: made on the settings page,
a hidden post stays hidden after a reload, a `warn` post is behind a "Filtered: …" disclosure
that opens on a click."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from mastodon import Mastodon

from browser_support import (
    BROWSER_MARKS,
    PASSWORD,
    expect,
)
from live_server import LiveServer

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer("sqlite")
    live.start()
    yield live
    live.stop()


async def test_a_hidden_post_stays_hidden_and_a_warned_one_is_behind_a_disclosure(
    server: LiveServer, browser: Any
) -> None:
    keys = Mastodon.create_app("filters browser", api_base_url=server.url)
    ben = Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=server.url)
    ben.create_account("ben", PASSWORD, "ben@example.org", agreement=True)
    context = await browser.new_context(base_url=server.url)
    page = await context.new_page()
    await page.goto("/auth/sign_up")
    await page.get_by_label("Username").fill("ana")
    await page.get_by_label("E-mail").fill("ana@example.org")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Password again").fill(PASSWORD)
    await page.get_by_label("I accept the server rules").check()
    await page.get_by_role("button", name="Sign up").click()
    await expect(page).to_have_url(re.compile(r"/home$"))
    await page.goto("/@ben")
    await page.get_by_role("button", name="Follow").first.click()
    ben.status_post("tomato soup tonight")
    ben.status_post("Dune part three is out")
    ben.status_post("a plain post")

    for title, words, action in (("Food", "soup", "Hide completely"), ("Films", "dune", None)):
        await page.goto("/settings/filters")
        await page.get_by_label("Title").fill(title)
        await page.get_by_label("Keywords").fill(words)
        if action:
            await page.get_by_label("What to do").select_option(label=action)
        await page.get_by_role("button", name="Add filter").click()
        await expect(page.get_by_text("Saved.")).to_be_visible()

    for _ in range(2):  # and again after a reload
        await page.goto("/home")
        await expect(page.get_by_text("a plain post")).to_be_visible()
        await expect(page.get_by_text("tomato soup tonight")).to_have_count(0)
        disclosure = page.locator("details.filtered").filter(has_text="Filtered: Films")
        await expect(disclosure).to_have_count(1)
        await expect(disclosure.get_by_text("Dune part three is out")).to_be_hidden()
    await disclosure.locator("summary").click()
    await expect(disclosure.get_by_text("Dune part three is out")).to_be_visible()
    await context.close()
