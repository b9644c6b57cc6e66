"""Search and hashtags with real clients against a real server: Mastodon.py (search_v2,
account_search, tag follow and the home feed it feeds) and the toot CLI (`toot whois`,
`toot follow` and `toot tags`, which find accounts and hashtags through /api/v2/search)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mastodon import Mastodon

from live_server import LiveServer, wait_for

PASSWORD = "correct horse battery"
TOOT = Path(sys.executable).parent / "toot"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer(os.environ.get("AGORA_TEST_DATABASE", "sqlite"))
    live.start()
    try:
        for name in ("alice", "bob"):
            live.cli("user", "create", name, f"{name}@example.org", "--password", PASSWORD)
        yield live
    finally:
        live.stop()


def _client(server: LiveServer, email: str) -> Mastodon:
    keys = Mastodon.create_app("agora search tests", api_base_url=server.url)
    api = Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=server.url)
    api.log_in(email, PASSWORD, allow_http=True)
    return api


def _toot(home: Path, *args: str) -> str:
    """Run toot with its config under `home`, never the real one; its output."""
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    env.update(TERM="dumb", NO_COLOR="1", COLUMNS="200", PAGER="cat")
    done = subprocess.run(
        [str(TOOT), *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"toot {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_mastodon_py_search_and_followed_hashtags(server: LiveServer) -> None:
    alice = _client(server, "alice@example.org")
    bob = _client(server, "bob@example.org")
    heron = bob.status_post("A grey heron by the river #Birds")
    bob.status_post("Only friends see this heron", visibility="private")
    found = alice.search_v2("heron river")  # resolve=True and exclude_unreviewed by default
    assert [s.id for s in found.statuses] == [heron.id]
    assert [t.name for t in found.hashtags] == []
    assert [a.acct for a in alice.search_v2("bob", result_type="accounts").accounts] == ["bob"]
    assert [a.acct for a in alice.account_search("@bob")] == ["bob"]
    tagged = alice.search_v2("#birds", result_type="hashtags").hashtags
    assert [t.name for t in tagged] == ["birds"] and tagged[0].following is False
    followed = alice.tag_follow("birds")
    assert followed.name == "birds" and followed.following is True
    assert [t.name for t in alice.followed_tags()] == ["birds"]
    assert alice.tag("birds").following is True
    later = bob.status_post("Another heron #birds")
    wait_for(
        lambda: [s for s in alice.timeline_home(limit=10) if s.id == later.id],
        what="a followed hashtag's post in the home timeline",
    )
    assert alice.tag_unfollow("birds").following is False
    first = alice.search_v2("heron", result_type="statuses", limit=1)
    assert [s.id for s in first.statuses] == [later.id]
    second = alice.fetch_next(first)
    assert second is not None and [s.id for s in second.statuses] == [heron.id]


def test_toot_finds_people_and_hashtags_through_search(server: LiveServer, tmp_path: Path) -> None:
    out = _toot(tmp_path, "login_cli", "-i", server.url, "-e", "alice@example.org", "-p", PASSWORD)
    assert "Successfully logged in" in out
    whois = _toot(tmp_path, "whois", "bob")
    assert "@bob" in whois
    assert "You are now following bob" in _toot(tmp_path, "follow", "bob")
    assert "You are no longer following @bob" in _toot(tmp_path, "unfollow", "@bob")
    domain = server.url.split("://", 1)[1]
    assert "You are now following" in _toot(tmp_path, "follow", f"bob@{domain}")
    assert "@bob" in _toot(tmp_path, "whois", f"@bob@{domain}")
    assert "You are now following #gardening" in _toot(tmp_path, "tags", "follow", "gardening")
    assert "#gardening" in _toot(tmp_path, "tags", "followed")
    info = _toot(tmp_path, "tags", "info", "gardening")
    assert "#gardening" in info and "Followed" in info
    _toot(tmp_path, "post", "tomatoes in the greenhouse")
    results = _toot(tmp_path, "search", "greenhouse tomatoes", "--type", "statuses")
    assert "Statuses:" in results and "/@alice/" in results
    assert "Nothing found" in _toot(tmp_path, "search", "nosuchwordanywhere")
