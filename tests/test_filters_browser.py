"""Filters in Debian's chromium (Playwright) against `agora serve`: made on the settings page,
a hidden post stays hidden after a reload, a `warn` post is behind a "Filtered: …" disclosure
that opens on a click."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from browser_support import (
    BROWSER_MARKS,
    ana_follows_ben,
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
    ben, page = await ana_follows_ben(browser, server.url, "filters browser")
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
    await page.context.close()
