"""The web app in a real browser: Debian's chromium driven by Playwright (never a downloaded
browser), against `agora serve` as a real process (live updates included). Runs axe-core on
the main pages (zero serious or critical violations) and saves screenshots under
artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_support import (
    BROWSER_MARKS,
    TIMEOUT,
    expect,
    no_serious_violations,
    screenshot,
    sign_up_on_the_web,
)
from helpers import ffmpeg
from live_server import LiveServer

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer(os.environ.get("AGORA_TEST_DATABASE", "sqlite"))
    live.start()
    yield live
    live.stop()


async def _context(browser, server, width: int = 1024):  # type: ignore[no-untyped-def]
    context = await browser.new_context(
        base_url=server.url, viewport={"width": width, "height": 800}
    )
    context.set_default_timeout(TIMEOUT)
    return context


async def _post(page, text: str, cw: str = "") -> str:  # type: ignore[no-untyped-def]
    """Post from the home composer; returns the new post's URL."""
    await page.goto("/home")
    if cw:
        await page.get_by_label("Content warning").first.fill(cw)
    await page.get_by_label("What is on your mind?").fill(text)
    await page.get_by_role("button", name="Post", exact=True).click()
    article = page.locator("#timeline article").filter(has_text=cw or text).first
    await expect(article).to_be_visible()
    return await article.locator("header .meta a").first.get_attribute("href")


async def test_sign_up_post_see_it_at_home_and_toggle_cw(browser, server) -> None:  # type: ignore[no-untyped-def]
    context = await _context(browser, server)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await sign_up_on_the_web(page, "ada")
    await _post(page, "Hello from a real browser #firstpost")
    for _ in range(40):  # the fan-out job (in-process worker) puts it into the home feed
        await page.reload()
        if "Hello from a real browser" in await page.locator("#timeline").inner_text():
            break
        await page.wait_for_timeout(250)
    await expect(page.locator("#timeline")).to_contain_text("Hello from a real browser")
    await _post(page, "the ending of the film", cw="film spoilers")
    article = page.locator("#timeline article").filter(has_text="film spoilers").first
    body = article.locator("details .content")
    await expect(body).to_be_hidden()
    await article.locator("details.cw summary").click()
    await expect(body).to_be_visible()
    await article.locator("details.cw summary").click()
    await expect(body).to_be_hidden()
    assert not [e for e in errors if "Content Security Policy" in e], errors
    await context.close()


async def test_like_from_another_browser_arrives_live(browser, server) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("agora.web.live", reason="live updates need the streaming hub")
    author_ctx = await _context(browser, server)
    fan_ctx = await _context(browser, server, width=390)
    author, fan = await author_ctx.new_page(), await fan_ctx.new_page()
    await sign_up_on_the_web(author, "bea")
    post_url = await _post(author, "like me if you can")
    await author.goto("/notifications")
    await expect(author.locator("#notifications")).to_contain_text("No notifications yet")
    await sign_up_on_the_web(fan, "cy")
    await fan.goto(post_url)
    await fan.locator(".focus").get_by_role("button", name=re.compile(r"^Like")).click()
    liked = fan.locator(".focus").get_by_role("button", name="Like (1)")
    await expect(liked).to_have_attribute("aria-pressed", "true")
    notification = author.locator("#notifications .notification").first
    await expect(notification).to_contain_text("liked your post")  # no reload: live
    await screenshot(author, "notifications")
    await screenshot(fan, "thread-phone")
    await author_ctx.close()
    await fan_ctx.close()


async def test_follow_request_flow(browser, server) -> None:  # type: ignore[no-untyped-def]
    owner_ctx, asker_ctx = await _context(browser, server), await _context(browser, server)
    owner, asker = await owner_ctx.new_page(), await asker_ctx.new_page()
    await sign_up_on_the_web(owner, "dee")
    await owner.goto("/settings/profile")
    await owner.get_by_label("Review follow requests (locked account)").check()
    await owner.get_by_role("button", name="Save profile").click()
    await expect(owner.locator(".saved")).to_contain_text("Saved")
    await sign_up_on_the_web(asker, "eve")
    await asker.goto("/@dee")
    await asker.get_by_role("button", name="Follow", exact=True).click()
    await expect(asker.get_by_role("button", name="Cancel follow request")).to_be_visible()
    await owner.goto("/follow_requests")
    await owner.get_by_role("button", name="Accept @eve").click()
    await expect(owner.locator("#follow-requests")).not_to_contain_text("@eve")
    await asker.reload()
    await expect(asker.get_by_role("button", name="Unfollow")).to_be_visible()
    await owner_ctx.close()
    await asker_ctx.close()


async def test_keyboard_only_posting(browser, server) -> None:  # type: ignore[no-untyped-def]
    context = await _context(browser, server)
    page = await context.new_page()
    await sign_up_on_the_web(page, "fay")
    await page.goto("/home")
    for _ in range(40):  # Tab through the page until the post text has focus
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.name") == "status":
            break
    else:
        raise AssertionError("the composer cannot be reached with Tab")
    await page.keyboard.type("typed without a mouse")
    for _ in range(5):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.textContent.trim()") == "Post":
            break
    await page.keyboard.press("Enter")
    await expect(page.locator("#timeline article").first).to_contain_text("typed without a mouse")
    await expect(page.get_by_label("What is on your mind?")).to_have_value("")
    await context.close()


async def test_main_pages_are_accessible(browser, server) -> None:  # type: ignore[no-untyped-def]
    context = await _context(browser, server)
    page = await context.new_page()
    signed_out = [("/", "start"), ("/explore", "explore-signed-out"), ("/auth/sign_in", "sign-in")]
    for path, name in [*signed_out, ("/auth/sign_up", "sign-up")]:
        await page.goto(path)
        await no_serious_violations(page, name)
        await screenshot(page, name)
    await sign_up_on_the_web(page, "gus")
    post_url = await _post(page, "an accessible post with a #tag", cw="a warning")
    pages = [
        ("/home", "home"),
        ("/local", "local"),
        ("/explore", "explore"),
        ("/tags/tag", "hashtag"),
        ("/@gus", "profile"),
        (post_url, "thread"),
        ("/notifications", "notifications-empty"),
        ("/bookmarks", "bookmarks"),
        ("/follow_requests", "follow-requests"),
        ("/settings/profile", "settings-profile"),
        ("/settings/data", "settings-data"),
        ("/settings/apps", "settings-apps"),
    ]
    for path, name in pages:
        await page.goto(path)
        await no_serious_violations(page, name)
        await screenshot(page, name)
    await page.emulate_media(color_scheme="dark")
    await page.set_viewport_size({"width": 360, "height": 740})
    await page.goto("/home")
    await no_serious_violations(page, "home-dark-360")
    await screenshot(page, "home-dark-360")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await context.close()


def _png(color: tuple[int, int, int] = (30, 140, 90)) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (320, 200), color).save(out, "PNG")
    return out.getvalue()


async def test_search_from_the_header(browser, server) -> None:  # type: ignore[no-untyped-def]
    context = await _context(browser, server)
    page = await context.new_page()
    await sign_up_on_the_web(page, "hal")
    await _post(page, "okapis are forest giraffes #okapi")
    for _ in range(40):  # indexing and the hashtag are written by the fan-out job
        await page.get_by_role("searchbox", name="Search").first.fill("okapi")
        await page.keyboard.press("Enter")
        await expect(page).to_have_url(re.compile(r"/search\?q=okapi"))
        if await page.locator("#timeline article").count():
            break
        await page.wait_for_timeout(250)
    await expect(page.locator("#timeline article").first).to_contain_text("forest giraffes")
    await expect(
        page.locator("#found-hashtags + ul").get_by_role("link", name="#okapi")
    ).to_be_visible()
    await no_serious_violations(page, "search")
    await screenshot(page, "search")
    await page.get_by_role("link", name="People").click()
    await expect(page.get_by_role("heading", name="People")).to_be_visible()
    await context.close()


async def test_poll_from_the_composer_and_voting(browser, server) -> None:  # type: ignore[no-untyped-def]
    author_ctx, voter_ctx = await _context(browser, server), await _context(browser, server)
    author, voter = await author_ctx.new_page(), await voter_ctx.new_page()
    await sign_up_on_the_web(author, "ida")
    await author.goto("/home")
    await author.get_by_text("Add images, video, audio or a poll").click()
    await author.get_by_label("Option 1").fill("mountains")
    await author.get_by_label("Option 2").fill("the sea")
    post_url = await _post_from_open_composer(author, "where to go?")
    await sign_up_on_the_web(voter, "jon")
    await voter.goto(post_url)
    poll = voter.locator(".focus .poll")
    await poll.get_by_label("the sea").check()
    await no_serious_violations(voter, "poll-open")
    await poll.get_by_role("button", name="Vote").click()
    await expect(voter.locator(".focus .poll")).to_contain_text("your vote")
    await expect(voter.locator(".focus .poll")).to_contain_text("100%")
    await screenshot(voter, "poll-voted")
    await author_ctx.close()
    await voter_ctx.close()


async def _post_from_open_composer(page, text: str) -> str:  # type: ignore[no-untyped-def]
    await page.get_by_label("What is on your mind?").fill(text)
    await page.get_by_role("button", name="Post", exact=True).click()
    article = page.locator("#timeline article").filter(has_text=text).first
    await expect(article).to_be_visible()
    return await article.locator("header .meta a").first.get_attribute("href")


async def test_images_and_the_lightbox_by_keyboard(browser, server) -> None:  # type: ignore[no-untyped-def]
    context = await _context(browser, server)
    page = await context.new_page()
    await sign_up_on_the_web(page, "kit")
    await page.goto("/home")
    await page.get_by_text("Add images, video, audio or a poll").click()
    await page.get_by_label("File 1", exact=True).set_input_files(
        files=[{"name": "field.png", "mimeType": "image/png", "buffer": _png()}]
    )
    await page.get_by_label("Alt text for file 1").fill("a green field under a grey sky")
    post_url = await _post_from_open_composer(page, "look at this")
    await page.goto(post_url)
    thumb = page.locator(".focus a[data-lightbox]").first
    await thumb.focus()
    await page.keyboard.press("Enter")
    dialog = page.locator("dialog#lightbox")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("figcaption")).to_have_text("a green field under a grey sky")
    await expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    await no_serious_violations(page, "lightbox")
    await screenshot(page, "lightbox")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(thumb).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_visible()
    await page.keyboard.press("Enter")  # the focused Close button
    await expect(dialog).to_be_hidden()
    await expect(thumb).to_be_focused()
    await context.close()


def _clip(tmp: Path) -> bytes:
    """A 1 s H.264/AAC MP4 made by ffmpeg (with its index at the end, as phones write them)."""
    out = tmp / "clip.mp4"
    video = ["-f", "lavfi", "-i", "testsrc=size=96x64:rate=10:duration=1"]
    ffmpeg(*video, "-f", "lavfi", "-i", "sine=duration=1", "-pix_fmt", "yuv420p", str(out))
    return out.read_bytes()


async def test_a_video_from_the_composer_plays(browser, server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    context = await _context(browser, server)
    page = await context.new_page()
    await sign_up_on_the_web(page, "vic")
    await page.goto("/home")
    await page.get_by_text("Add images, video, audio or a poll").click()
    await page.get_by_label("File 1", exact=True).set_input_files(
        files=[{"name": "clip.mp4", "mimeType": "video/mp4", "buffer": _clip(tmp_path)}]
    )
    await page.get_by_label("Alt text for file 1").fill("a test pattern with a beep")
    post_url = await _post_from_open_composer(page, "a short clip")
    await page.goto(post_url)
    video = page.locator(".focus video")
    await expect(video).to_have_attribute("preload", "none")
    await expect(video).to_have_attribute("poster", re.compile(r"/small\.\w+"))
    played = await video.evaluate(
        """async v => { v.muted = true; await v.play();
           await new Promise(r => setTimeout(r, 600)); return v.currentTime; }"""
    )
    assert played > 0
    await no_serious_violations(page, "video")
    await context.close()


async def test_lists_and_profile_images_pages_are_accessible(browser, server) -> None:  # type: ignore[no-untyped-def]
    context = await _context(browser, server)
    page = await context.new_page()
    await sign_up_on_the_web(page, "lou")
    await page.goto("/settings/profile")
    await page.get_by_label("New avatar").set_input_files(
        files=[{"name": "me.png", "mimeType": "image/png", "buffer": _png((200, 60, 60))}]
    )
    await page.get_by_role("button", name="Save profile").click()
    await expect(page.locator(".saved")).to_contain_text("Saved")
    avatar = await page.get_by_alt_text("Your current avatar").get_attribute("src")
    assert "/media/profile/" in avatar
    await no_serious_violations(page, "settings-profile-images")
    await page.goto("/lists")
    await no_serious_violations(page, "lists")
    await page.get_by_label("Title").fill("Neighbours")
    await page.get_by_role("button", name="Create list").click()
    await expect(page.get_by_role("heading", name="Neighbours")).to_be_visible()
    await page.get_by_text("Edit the list and its members").click()
    await no_serious_violations(page, "list")
    await screenshot(page, "list")
    await page.goto("/@lou")
    await screenshot(page, "profile-with-avatar")
    await context.close()
