"""Keyboard shortcuts on the home timeline in Debian's chromium (Playwright) against `agora
serve` (static/shortcuts.js): j / k move between posts, f likes, ? shows the help, n goes to
the composer, r opens the reply; post cards carry lazy-loaded, sized avatars."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from browser_support import BROWSER_MARKS, ana_follows_ben, expect, no_serious_violations
from live_server import LiveServer

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer("sqlite")
    live.start(timeout=120)  # the machine may be loaded
    yield live
    live.stop()


async def test_keyboard_moves_likes_and_helps_on_the_home_timeline(
    server: LiveServer, browser: Any
) -> None:
    ben, page = await ana_follows_ben(browser, server.url, "shortcuts browser")
    for text in ("first post", "second post", "third post"):
        ben.status_post(text)
    cards = page.locator("#timeline article.post")
    for _ in range(30):  # the posts reach the home feed through jobs (a loaded machine)
        await page.goto("/home")
        if await cards.count() == 3:
            break
        await page.wait_for_timeout(1000)
    await expect(cards).to_have_count(3)
    avatar = cards.first.locator("img.avatar")
    assert await avatar.get_attribute("loading") == "lazy"
    assert await avatar.get_attribute("width") == "40"

    await page.keyboard.press("j")
    await expect(cards.nth(0)).to_have_class(re.compile("kb-focus"))
    await page.keyboard.press("j")
    await expect(cards.nth(1)).to_have_class(re.compile("kb-focus"))
    await expect(cards.nth(0)).not_to_have_class(re.compile("kb-focus"))
    await page.keyboard.press("k")
    await expect(cards.nth(0)).to_have_class(re.compile("kb-focus"))
    await page.keyboard.press("f")
    like = cards.nth(0).locator('button[data-action="favourite"]')
    await expect(like).to_have_attribute("aria-pressed", "true")
    await expect(cards.nth(0)).to_have_class(re.compile("kb-focus"))  # kept after the swap

    await page.keyboard.press("?")
    await expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    await no_serious_violations(page, "home with the shortcuts help")
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()

    await page.keyboard.press("n")
    composer = page.locator("form.composer textarea")
    await expect(composer).to_be_focused()
    await page.keyboard.press("j")  # typed into the composer, not a shortcut
    await expect(composer).to_have_value("j")
    await page.keyboard.press("Escape")
    await page.keyboard.press("r")
    await expect(page).to_have_url(re.compile(r"/@ben/\d+#reply$"))
    await page.context.close()
