"""A browser notification through the service worker, in Debian's chromium (Playwright)
against `agora serve` as a real process.

Chromium can reach no real push service here (and refuses `PushManager.subscribe` in
Playwright's incognito contexts), so the browser's own subscription stands in for a push
service by the test's receiver (tests/push_receiver.py): the page subscribes its web session
through the same route the switch calls, Agora pushes a mention to the receiver (encrypted,
VAPID-signed, decrypted there), and the decrypted push is handed to the page's service worker
through the DevTools protocol (`ServiceWorker.deliverPushMessage`), which is what the browser
does with a push. The service worker must then show it as a notification."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from mastodon import Mastodon

from browser_support import (
    BROWSER_MARKS,
    PASSWORD,
    expect,
    sign_up_on_the_web,
)
from live_server import LiveServer
from push_receiver import PushReceiver

pytestmark = BROWSER_MARKS


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer("sqlite", extra_env={"AGORA_FEDERATION_ALLOW_PRIVATE_ADDRESSES": "true"})
    live.start()
    yield live
    live.stop()


async def _pushes(receiver: PushReceiver, count: int, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if len(receiver.pushes) >= count or receiver.failures:
            break
        await asyncio.sleep(0.05)
    assert not receiver.failures and len(receiver.pushes) >= count, receiver.failures


async def test_a_mention_becomes_a_browser_notification(server: LiveServer, browser: Any) -> None:
    receiver = PushReceiver().start()
    try:
        context = await browser.new_context(base_url=server.url)
        await context.grant_permissions(["notifications"], origin=server.url)
        page = await context.new_page()
        await sign_up_on_the_web(page, "ana")

        devtools = await context.new_cdp_session(page)
        registrations: list[dict[str, Any]] = []
        devtools.on(
            "ServiceWorker.workerRegistrationUpdated",
            lambda event: registrations.extend(event["registrations"]),
        )
        await devtools.send("ServiceWorker.enable")

        await page.get_by_role("link", name="Settings").click()
        sections = page.get_by_role("navigation", name="Settings sections")
        await sections.get_by_role("link", name="Notifications").click()
        switch = page.get_by_role("button", name="Turn on browser notifications")
        await expect(switch).to_have_attribute("aria-pressed", "false")
        await switch.click()  # registers /sw.js; the incognito context refuses the subscription
        await expect(page.locator("#push-state")).not_to_have_text("Browser notifications are off.")
        await page.evaluate("navigator.serviceWorker.ready")
        scope = f"{server.url}/"
        [registration] = {r["registrationId"] for r in registrations if r["scopeURL"] == scope}

        # the page subscribes its session through the switch's own route, to the receiver
        answer = await page.evaluate(
            """([endpoint, p256dh, auth]) => fetch("/web/push/subscription", {
                method: "POST", credentials: "same-origin",
                headers: {"X-CSRF-Token": JSON.parse(
                    document.body.getAttribute("hx-headers"))["X-CSRF-Token"]},
                body: new URLSearchParams({endpoint, p256dh, auth})
            }).then(r => r.status)""",
            [receiver.endpoint, receiver.p256dh, receiver.auth_secret],
        )
        assert answer == 200
        await page.reload()
        await expect(
            page.get_by_role("button", name="Turn off browser notifications")
        ).to_be_visible()

        keys = Mastodon.create_app("push browser", api_base_url=server.url)
        ben = Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=server.url)
        ben.create_account("ben", PASSWORD, "ben@example.org", agreement=True)
        ben.status_post("@ana the garden is open")
        await _pushes(receiver, 1)
        message = receiver.pushes[0].message
        shown: list[list[str]] = []
        # DevTools hands the push to the worker of the scope's latest registration; a worker
        # that was (re)starting may drop it, so it is handed again (the same tag replaces a
        # notification, never adds one)
        for _ in range(3):
            latest = [r["registrationId"] for r in registrations if r["scopeURL"] == scope]
            await devtools.send(
                "ServiceWorker.deliverPushMessage",
                {
                    "origin": server.url,
                    "registrationId": latest[-1] if latest else registration,
                    "data": json.dumps(message),
                },
            )
            for _ in range(100):
                shown = await page.evaluate(
                    """navigator.serviceWorker.ready
                    .then(r => r.getNotifications())
                    .then(all => all.map(n => [n.title, n.body, n.tag]))"""
                )
                if shown:
                    break
                await asyncio.sleep(0.05)
            if shown:
                break
        assert shown == [
            [
                "ben mentioned you",
                "@ana the garden is open",
                f"notification-{message['notification_id']}",
            ]
        ]
        await context.close()
    finally:
        receiver.stop()
