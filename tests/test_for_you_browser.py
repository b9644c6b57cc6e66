"""The For You tab in Debian's chromium (Playwright) against `agora serve`: a followed
person's post is there with its "Why this post" disclosure (reasons, contributions, score),
"show less like this" answers in place, and the weight sliders save; axe finds no serious or
critical violation on the tab or the settings page. SQLite pass only."""

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
    no_serious_violations,
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


async def test_for_you_tab_why_this_post_and_sliders(server: LiveServer, browser: Any) -> None:
    keys = Mastodon.create_app("for you browser", api_base_url=server.url)
    gus = Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=server.url)
    gus.create_account("gus", PASSWORD, "gus@example.org", agreement=True)
    context = await browser.new_context(base_url=server.url)
    page = await context.new_page()
    await sign_up_on_the_web(page, "hal")
    await page.goto("/@gus")
    await page.get_by_role("button", name="Follow").first.click()
    await expect(page.get_by_role("button", name="Unfollow")).to_be_visible()
    gus.status_post("a first post from gus")
    gus.status_post("gus posts again #gardening")

    await page.get_by_role("link", name="For You").click()
    await expect(page).to_have_url(re.compile(r"/for_you$"))
    article = page.locator("#timeline article").filter(has_text="gus posts again")
    await expect(article).to_have_count(1)
    why = article.locator("details.why")
    await expect(why.get_by_text("From someone you follow")).to_be_hidden()
    await why.locator("summary").click()
    await expect(why.get_by_text("From someone you follow")).to_be_visible()
    await expect(why.locator("tfoot")).to_contain_text("Score")
    await expect(why.locator("tbody")).to_contain_text("From people you follow")
    await no_serious_violations(page, "for you")

    await page.goto("/settings/for_you")
    likes = page.get_by_label("Likes", exact=True)
    await likes.fill("3.5")
    await expect(page.locator('output[for="w-likes"]')).to_have_text("3.50")
    await no_serious_violations(page, "for you settings")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Saved.")).to_be_visible()
    await expect(page.get_by_label("Likes", exact=True)).to_have_value("3.5")

    await page.goto("/for_you")
    first = page.locator("#timeline article").filter(has_text="a first post from gus")
    await first.locator("details.why summary").click()
    await first.get_by_role("button", name="Show less like this").click()
    await expect(first.get_by_role("status")).to_contain_text("less like this")
    await page.reload()
    await expect(page.get_by_text("a first post from gus")).to_have_count(0)
    await context.close()
