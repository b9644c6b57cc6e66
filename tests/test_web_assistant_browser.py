"""The assistant in a real browser (Debian's chromium through Playwright) against `agora serve`
running the local model: Explain on a post, a composer helper and its "Use this", and a chat
whose answer streams in and links the posts it used. axe-core on the chat page."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from browser_support import (
    BROWSER_MARKS,
    TIMEOUT,
    expect,
    no_serious_violations,
    screenshot,
    sign_up_on_the_web,
)
from live_server import LiveServer
from test_web_browser import _context, _post

pytest.importorskip("llama_cpp")
pytestmark = BROWSER_MARKS
MODEL_TIMEOUT = 60_000  # ms: a model answer on a busy 2-core machine


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AGORA_AI_MAX_NEW_TOKENS", "24")
        patch.setenv("AGORA_AI_TIMEOUT_SECONDS", "120")
        live = LiveServer(os.environ.get("AGORA_TEST_DATABASE", "sqlite"))
        live.start()
    yield live
    live.stop()


async def test_explain_helpers_and_a_streamed_chat(browser, server) -> None:  # type: ignore[no-untyped-def]
    context = await _context(browser, server)
    page = await context.new_page()
    errors: list[str] = []
    page.on(
        "console", lambda m: errors.append(f"{m.text} {m.location}") if m.type == "error" else None
    )
    await sign_up_on_the_web(page, "cleo")
    post_url = await _post(page, "The night bus runs until two on weekdays.")

    await page.goto(post_url)
    await page.get_by_label("Ask the assistant about this post").first.click()
    await page.get_by_role("button", name="Explain").first.click()
    answer = page.locator(".ai-answer").first
    await expect(answer).to_contain_text("AI-generated", timeout=MODEL_TIMEOUT)

    await page.goto("/home")
    draft = page.get_by_label("What is on your mind?")
    await draft.fill("i realy like the nigth bus")
    await page.get_by_role("button", name="Fix spelling").click()
    suggestion = page.locator(".ai-suggestion .suggestion-text")
    await expect(suggestion).to_be_visible(timeout=MODEL_TIMEOUT)
    suggested = await suggestion.text_content()
    await page.get_by_role("button", name="Use this").click()
    await expect(draft).to_have_value(suggested or "")
    await expect(draft).to_be_focused()

    await page.goto("/assistant")
    await page.get_by_label("Ask the assistant").fill("When does the night bus run?")
    await page.get_by_role("button", name="Ask").click()
    await expect(page).to_have_url(re.compile(r"/assistant/\d+$"), timeout=MODEL_TIMEOUT)
    sources = page.locator(".msg.assistant .sources a")
    await expect(sources.first).to_have_attribute("href", post_url)
    await expect(page.locator(".msg.user")).to_have_count(1)
    await no_serious_violations(page, "assistant chat")
    await screenshot(page, "assistant-chat")
    await page.reload()  # the conversation was saved with its sources
    await expect(page.locator(".msg.assistant .sources a").first).to_have_attribute(
        "href", post_url, timeout=TIMEOUT
    )
    assert not errors, errors
    await context.close()
