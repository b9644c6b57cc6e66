"""Mastodon.py against a real `agora serve` with small rate limits: reporting, the admin API,
suspension, and how the client reads the rate-limit headers and 429s."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import pytest
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonIllegalArgumentError,
    MastodonRatelimitError,
)

from live_server import LiveServer

PASSWORD = "correct horse battery"
SCOPES = ["read", "write", "follow", "admin:read", "admin:write"]
READS = 60  # per token and minute on this server
T = TypeVar("T")


@dataclass
class LimitedServer(LiveServer):
    """A live server with its own rate limits."""

    limits: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **self.limits}


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LimitedServer(
        os.environ.get("AGORA_TEST_DATABASE", "sqlite"),
        limits={
            "AGORA_RATELIMIT_READS": f"{READS}/minute",
            "AGORA_RATELIMIT_SIGN_IN_ACCOUNT": "3/minute",
        },
    )
    live.start()
    try:
        live.cli("user", "create", "boss", "boss@example.org", "--password", PASSWORD, "--admin")
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def keys(server: LiveServer) -> tuple[str, str]:
    """An app with admin scopes, and the people who sign up through it."""
    keys = Mastodon.create_app("moderation tests", api_base_url=server.url, scopes=SCOPES)
    for name in ("alice", "troll", "victim"):
        api = Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=server.url)
        api.create_account(name, PASSWORD, f"{name}@example.org", agreement=True, scopes=SCOPES)
    return keys


def _client(server: LiveServer, keys: tuple[str, str], name: str, **options: str) -> Mastodon:
    api = Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=server.url, **options)
    api.log_in(f"{name}@example.org", PASSWORD, scopes=SCOPES, allow_http=True)
    return api


def _poll(check: Callable[[], T | None], timeout: float = 20.0) -> T:
    """`check()` every half second (each call counts against the token's read limit)."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)
    return found


def test_report_and_suspend_through_the_admin_api(server, keys) -> None:
    boss, alice, troll = (_client(server, keys, n) for n in ("boss", "alice", "troll"))
    assert boss.account_verify_credentials().role.name == "Admin"
    troll_id = troll.account_verify_credentials().id
    spam = troll.status_post("buy now")
    report = alice.report(troll_id, status_ids=[spam], comment="spam", category="spam")
    assert report.target_account.id == troll_id and report.category == "spam"

    note = _poll(lambda: [n for n in boss.notifications() if n.type == "admin.report"])[0]
    assert note.report.id == report.id
    listed = boss.admin_reports()
    assert [r.id for r in listed] == [report.id]
    assert [s.id for s in boss.admin_report(report.id).statuses] == [spam.id]
    boss.admin_account_moderate(troll_id, "suspend", report_id=report.id, text="spam")
    assert boss.admin_reports() == []
    assert boss.admin_account(troll_id).suspended is True
    assert [a.id for a in boss.admin_accounts_v2(status="suspended")] == [troll_id]
    with pytest.raises(MastodonAPIError):
        troll.account_verify_credentials()
    with pytest.raises(MastodonAPIError):
        alice.status(spam.id)  # gone for everyone
    assert boss.admin_account_unsuspend(troll_id).suspended is False
    assert troll.account_verify_credentials().id == troll_id
    assert alice.status(spam.id).id == spam.id
    with pytest.raises(MastodonAPIError):  # not an admin
        alice.admin_reports()


def test_client_reads_rate_limit_headers_and_429(server, keys) -> None:
    api = _client(server, keys, "alice", ratelimit_method="throw")
    calls = 0
    with pytest.raises(MastodonRatelimitError):
        while calls <= READS:
            api.timeline_home()
            calls += 1
    assert READS - 5 <= calls < READS  # Mastodon.py's own requests (instance, version) count
    assert api.ratelimit_limit == READS and api.ratelimit_remaining == 0
    assert api.ratelimit_reset is not None  # parsed from the ISO 8601 header


def test_password_guessing_is_slowed(server, keys) -> None:
    for _ in range(3):
        with pytest.raises(MastodonIllegalArgumentError, match="Invalid user name"):
            Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=server.url).log_in(
                "victim@example.org", "guess", scopes=SCOPES, allow_http=True
            )
    with pytest.raises(MastodonIllegalArgumentError, match="rate limit"):
        _client(server, keys, "victim")  # even the right password waits now
