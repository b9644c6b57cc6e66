"""Community Notes in a real browser (Debian's chromium through Playwright) against
`agora serve`: writing a note on a post, rating it on the "Rate notes" page, and seeing a
Helpful note under the post; axe-core at zero serious violations on each page. Runs in the
SQLite pass (the accounts are aged and the note made Helpful in the server's database file)."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator

import pytest

from browser_support import (
    BROWSER_MARKS,
    expect,
    no_serious_violations,
    screenshot,
    sign_up_on_the_web,
)
from live_server import LiveServer
from test_web_browser import _context, _post

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer(os.environ.get("AGORA_TEST_DATABASE", "sqlite"))
    live.start(timeout=120)  # a busy 2-core machine starts it slowly
    yield live
    live.stop()


def _sql(server: LiveServer, statement: str) -> None:
    """Run one statement on the server's SQLite database."""
    path = server.database_url.split("///", 1)[1]
    with sqlite3.connect(path) as connection:
        connection.execute(statement)


async def test_write_rate_and_see_a_note(browser, server) -> None:  # type: ignore[no-untyped-def]
    author_context = await _context(browser, server)
    author = await author_context.new_page()
    await sign_up_on_the_web(author, "tidewriter")
    post_url = await _post(author, "Tides are caused by the wind alone.")

    noter_context = await _context(browser, server)
    noter = await noter_context.new_page()
    await sign_up_on_the_web(noter, "noter")
    rater_context = await _context(browser, server)
    rater = await rater_context.new_page()
    await sign_up_on_the_web(rater, "rater")
    _sql(
        server,
        "UPDATE accounts SET created_at = datetime('now', '-30 days') "
        "WHERE username IN ('noter', 'rater')",
    )

    await noter.goto(post_url)
    await noter.get_by_label("Community Notes").first.click()
    await expect(noter.get_by_role("heading", name="Write a note")).to_be_visible()
    await noter.get_by_label("This post is").select_option("misleading")
    await noter.get_by_label("Note (cite at least one source link)").fill(
        "Tides come from the moon's gravity: https://example.org/tides"
    )
    await noter.get_by_role("button", name="Submit note").click()
    note = noter.locator("#notes article.note").first
    await expect(note).to_contain_text("Needs more ratings")
    await expect(note).to_contain_text("your note")
    await no_serious_violations(noter, "a post's notes")
    await screenshot(noter, "community-notes-post")

    await rater.goto("/notes/rate")
    to_rate = rater.locator("article.note").filter(has_text="moon's gravity")
    await expect(to_rate).to_be_visible()
    await no_serious_violations(rater, "rate notes")
    await to_rate.get_by_label("Helpful", exact=True).check()
    await to_rate.get_by_text("Reasons").click()
    await to_rate.get_by_label("good sources").check()
    await to_rate.get_by_role("button", name="Rate").click()
    await expect(rater.get_by_text("No notes need your rating right now.")).to_be_visible()

    # once rescoring finds it Helpful, it shows under the post
    _sql(server, "UPDATE community_notes SET status = 'helpful', intercept = 0.5, factor = 0")
    await author.goto(post_url)
    shown = author.locator(".focus .community-note")
    await expect(shown).to_contain_text("Readers added context")
    await expect(shown).to_contain_text("moon's gravity")
    await no_serious_violations(author, "a post with a note")
    await screenshot(author, "community-notes-shown")
    for context in (author_context, noter_context, rater_context):
        await context.close()
