"""Real clients against a real server: Mastodon.py and toot drive `agora serve` over HTTP.

One server process per module (see live_server.py), on SQLite or, with
AGORA_TEST_DATABASE=postgresql, on a fresh PostgreSQL database. Asynchronous effects (fan-out,
notifications) are awaited by polling with a short timeout.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from mastodon import Mastodon, MastodonAPIError, MastodonNotFoundError

from live_server import LiveServer, wait_for

PASSWORD = "correct horse battery"
OOB = "urn:ietf:wg:oauth:2.0:oob"
CALLBACK = "https://client.example/callback"
TOOT = Path(sys.executable).parent / "toot"


@dataclass
class Client:
    """A signed-in Mastodon.py client and who it is."""

    api: Mastodon
    id: str
    username: str


@pytest.fixture(scope="module")
def app_keys(server: LiveServer) -> tuple[str, str]:
    """A registered app (client id and secret) that allows both redirect flows."""
    return Mastodon.create_app(
        "agora real-client tests", api_base_url=server.url, redirect_uris=[OOB, CALLBACK]
    )


def _api(server: LiveServer, keys: tuple[str, str], token: str | None = None) -> Mastodon:
    return Mastodon(
        client_id=keys[0], client_secret=keys[1], access_token=token, api_base_url=server.url
    )


def _signed_in(api: Mastodon) -> Client:
    me = api.account_verify_credentials()
    return Client(api, str(me.id), me.username)


def _password_login(server: LiveServer, keys: tuple[str, str], email: str) -> Client:
    api = _api(server, keys)
    api.log_in(email, PASSWORD, allow_http=True)
    return _signed_in(api)


@pytest.fixture(scope="module")
def alice(server: LiveServer, app_keys: tuple[str, str]) -> Client:
    """Created with `agora user create`, signed in with the password grant."""
    server.cli("user", "create", "alice", "alice@example.org", "--password", PASSWORD)
    return _password_login(server, app_keys, "alice@example.org")


@pytest.fixture(scope="module")
def bob(server: LiveServer, app_keys: tuple[str, str]) -> Client:
    """Signed up through the API, then locks his account."""
    api = _api(server, app_keys)
    api.create_account("bob", PASSWORD, "bob@example.org", agreement=True)
    api.account_update_credentials(locked=True)
    return _signed_in(api)


@pytest.fixture(scope="module")
def carol(server: LiveServer, app_keys: tuple[str, str]) -> Client:
    """Signed up through the API, then signs in again with the authorization-code flow."""
    _api(server, app_keys).create_account("carol", PASSWORD, "carol@example.org", agreement=True)
    api = _api(server, app_keys)
    code = _authorize(
        server, api.auth_request_url(redirect_uris=CALLBACK, state="s1", allow_http=True), "carol"
    )
    api.log_in(code=code, redirect_uri=CALLBACK, allow_http=True)
    return _signed_in(api)


def _authorize(server: LiveServer, url: str, login: str) -> str:
    """Sign in on Agora's authorize page as a browser would; the code it hands back."""
    assert url.startswith(f"{server.url}/oauth/authorize?")
    with httpx.Client(base_url=server.url) as http:
        page = http.get(url)
        assert page.status_code == 200, page.text
        fields = dict(
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)
        )
        assert "client_id" in fields and 'name="password"' in page.text
        form = {**fields, "username": login, "password": PASSWORD, "decision": "allow"}
        done = http.post("/oauth/authorize", data=form)
    if done.status_code == 302:
        query = parse_qs(urlparse(done.headers["location"]).query)
        assert query.get("state") == [parse_qs(urlparse(url).query)["state"][0]]
        return query["code"][0]
    assert done.status_code == 200, done.text
    found = re.search(r'<output id="code" class="code">([^<]+)</output>', done.text)
    assert found, done.text
    return found.group(1)


def test_app_registration_and_instance(server: LiveServer, app_keys: tuple[str, str]) -> None:
    api = _api(server, app_keys)
    assert api.retrieve_mastodon_version() is not None
    assert api.verify_minimum_version("4.5.0", cached=True)  # so 4.3 to 4.5 calls are made
    assert api.instance().domain == f"127.0.0.1:{server.port}"  # v2 on a 4.x server
    assert api.instance_v1().uri == f"127.0.0.1:{server.port}"
    token_api = _api(server, app_keys)
    token_api.create_account("dora", PASSWORD, "dora@example.org", agreement=True)
    assert token_api.app_verify_credentials().name == "agora real-client tests"


def test_password_and_authorization_code_logins(
    server: LiveServer, app_keys: tuple[str, str], alice: Client, carol: Client
) -> None:
    assert alice.username == "alice" and carol.username == "carol"
    api = _api(server, app_keys)  # out of band: the code is shown on a page
    code = _authorize(server, api.auth_request_url(allow_http=True), "alice@example.org")
    api.log_in(code=code, allow_http=True)
    assert api.me().username == "alice"
    assert _password_login(server, app_keys, "carol@example.org").id == carol.id


def test_post_reply_edit_delete(alice: Client, carol: Client) -> None:
    post = alice.api.status_post("Hello from Mastodon.py #agora", visibility="public")
    assert post.account.id == alice.id and post.tags[0].name == "agora"
    reply = carol.api.status_reply(post, "a reply")
    assert reply.in_reply_to_id == post.id and reply.mentions[0].acct == "alice"
    edited = alice.api.status_update(post.id, "Hello, edited")
    assert edited.edited_at is not None and "edited" in edited.content
    assert len(alice.api.status_history(post.id)) == 2
    assert alice.api.status_source(post.id).text == "Hello, edited"
    deleted = carol.api.status_delete(reply.id)
    assert deleted.id == reply.id and deleted.text.endswith("a reply")  # for redrafting
    with pytest.raises(MastodonNotFoundError):
        alice.api.status(reply.id)


def test_follow_locked_account_and_accept(alice: Client, bob: Client) -> None:
    rel = alice.api.account_follow(bob.id)
    assert rel.requested and not rel.following and rel.domain_blocking is False
    assert [a.id for a in bob.api.follow_requests()] == [alice.id]
    assert bob.api.account_verify_credentials().source.follow_requests_count == 1
    asked = wait_for(
        lambda: bob.api.notifications(types=["follow_request"]),
        what="bob's follow_request notification",
    )
    assert asked[0].account.id == alice.id
    rel = bob.api.follow_request_authorize(alice.id)
    assert rel.followed_by and not rel.requested_by
    assert alice.api.account_relationships(bob.id)[0].following
    assert bob.api.follow_requests() == []
    assert bob.api.account_verify_credentials().source.follow_requests_count == 0
    # answered requests leave no notification behind (nothing to accept twice), as on Mastodon
    assert bob.api.notifications(types=["follow_request", "follow"]) == []


def test_favourite_boost_and_notifications(alice: Client, carol: Client) -> None:
    post = carol.api.status_post("like and boost me")
    faved = alice.api.status_favourite(post.id)
    assert faved.favourited and faved.favourites_count == 1
    boost = alice.api.status_reblog(post.id)
    assert boost.reblog.id == post.id and boost.reblog.reblogged
    assert [a.id for a in carol.api.status_favourited_by(post.id)] == [alice.id]

    def mine() -> set[str] | None:
        notes = carol.api.notifications(types=["favourite", "reblog"])
        got = {n.type for n in notes if n.status and n.status.id == post.id}
        return got if got == {"favourite", "reblog"} else None

    wait_for(mine, what="favourite and reblog notifications")
    others = carol.api.notifications(exclude_types=["favourite", "reblog"])
    assert not {n.type for n in others} & {"favourite", "reblog"}
    one = carol.api.notifications(types=["favourite"])[0]
    assert carol.api.notifications(id=one.id).account.id == alice.id
    carol.api.notifications_dismiss(one.id)
    assert one.id not in {n.id for n in carol.api.notifications()}


def _whole_home(client: Client, limit: int) -> list[str]:
    """Every id of the home timeline, page after page through `fetch_next`."""
    page, seen = client.api.timeline_home(limit=limit), []
    while page:
        seen.extend(s.id for s in page)
        page = client.api.fetch_next(page)
    return seen


def test_home_timeline_pages_with_fetch_next(alice: Client, carol: Client) -> None:
    alice.api.account_follow(carol.id)
    posted = [carol.api.status_post(f"page test {i}").id for i in range(45)]

    def all_arrived() -> list[str] | None:
        ids = _whole_home(alice, 20)
        return ids if set(posted) <= set(ids) else None

    seen = wait_for(all_arrived, what="fan-out of carol's 45 posts to alice")
    assert len(seen) == len(set(seen)) and len(seen) > 40  # three pages, no overlap
    assert [i for i in seen if i in set(posted)] == posted[::-1]
    older = alice.api.timeline_home(max_id=posted[10], limit=5)
    assert [s.id for s in older] == posted[5:10][::-1]
    newer = alice.api.fetch_previous(older)  # min_id: the five just above, newest first
    assert [s.id for s in newer] == posted[10:15][::-1]


def test_thread_context(alice: Client, carol: Client) -> None:
    root = alice.api.status_post("root of a thread")
    middle = carol.api.status_reply(root, "middle")
    leaf = alice.api.status_reply(middle, "leaf")
    context = carol.api.status_context(middle.id)
    assert [s.id for s in context.ancestors] == [root.id]
    assert [s.id for s in context.descendants] == [leaf.id]
    mention = wait_for(
        lambda: [n for n in alice.api.notifications(types=["mention"]) if n.status.id == middle.id],
        what="alice's mention notification",
    )
    assert mention[0].account.id == carol.id


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


def test_toot_login_post_timeline(server: LiveServer, alice: Client, tmp_path: Path) -> None:
    out = _toot(tmp_path, "login_cli", "-i", server.url, "-e", "alice@example.org", "-p", PASSWORD)
    assert "Successfully logged in" in out
    assert "alice" in _toot(tmp_path, "auth")
    out = _toot(tmp_path, "post", "hello from toot")
    posted = re.search(r"Toot posted: \S+/@alice/(\d+)$", out.strip())
    assert posted, out
    own = wait_for(
        lambda: [s for s in alice.api.timeline_home(limit=5) if "hello from toot" in s.content],
        what="toot's post in the home timeline",
    )
    assert str(own[0].id) == posted.group(1)
    assert "hello from toot" in _toot(tmp_path, "timeline", "--once", "--count", "5")


def test_direct_messages_as_conversations(alice: Client, carol: Client) -> None:
    dm = carol.api.status_post(f"@{alice.username} a secret for you", visibility="direct")
    found = wait_for(
        lambda: [c for c in alice.api.conversations() if c.last_status.id == dm.id],
        what="the direct message's conversation",
    )
    assert found[0].unread is True and [a.id for a in found[0].accounts] == [carol.id]
    read = alice.api.conversations_read(found[0].id)
    assert read.unread is False and read.last_status.id == dm.id
    mine = [c for c in carol.api.conversations() if c.last_status.id == dm.id]
    assert mine and mine[0].unread is False


def test_scheduled_posts(alice: Client) -> None:
    import datetime as dt

    at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
    kept = alice.api.status_post("see you later", scheduled_at=at)
    assert kept.params.text == "see you later" and abs(kept.scheduled_at - at).total_seconds() < 1
    assert [s.id for s in alice.api.scheduled_statuses()] == [kept.id]
    moved = alice.api.scheduled_status_update(kept.id, at + dt.timedelta(days=1))
    assert moved.scheduled_at > kept.scheduled_at
    alice.api.scheduled_status_delete(kept.id)
    assert alice.api.scheduled_statuses() == []


def test_grouped_notifications_and_policy_with_mastodon_py(alice: Client, carol: Client) -> None:
    """Mastodon.py's 4.3 notification calls, its version check on (Agora says 4.5.0)."""
    api = carol.api
    post = carol.api.status_post("group my likes")
    alice.api.status_favourite(post.id)

    def liked() -> Any:
        found = api.grouped_notifications(types=["favourite"])
        mine = [g for g in found.notification_groups if g.status_id == post.id]
        return (found, mine[0]) if mine else None

    found, group = wait_for(liked, what="a grouped favourite")
    assert group.group_key.startswith(f"favourite-{post.id}-")
    assert group.sample_account_ids == [alice.id]
    assert alice.id in {a.id for a in found.accounts} and post.id in {s.id for s in found.statuses}
    one = api.grouped_notification(group.group_key)
    assert one.notification_groups[0].notifications_count == 1
    assert [a.id for a in api.grouped_notification_accounts(group.group_key)] == [alice.id]
    assert api.unread_grouped_notifications_count() >= 1
    policy = api.update_notifications_policy(for_not_following="filter")
    assert policy.for_not_following == "filter"
    assert api.notifications_policy().summary.pending_requests_count == 0
    assert api.notification_requests() == []
    api.update_notifications_policy(for_not_following="accept")
    api.dismiss_grouped_notification(group.group_key)
    left = api.grouped_notifications(types=["favourite"]).notification_groups
    assert group.group_key not in {g.group_key for g in left}
    assert api.notifications_merged() is True
    assert api.notifications_unread_count().count >= 0


def test_mastodon_py_4_3_and_4_4_calls(alice: Client, carol: Client) -> None:
    """The other calls Mastodon.py gates on 4.3 / 4.4, its version check on: several
    accounts and statuses by id, endorse / unendorse, featuring a hashtag by name."""
    post = carol.api.status_post("two at once")
    assert [str(a.id) for a in alice.api.accounts([carol.id, alice.id])] == [carol.id, alice.id]
    assert [s.id for s in alice.api.statuses([post.id])] == [post.id]
    alice.api.account_follow(carol.id)
    assert alice.api.account_endorse(carol.id).endorsed is True
    assert alice.api.account_unendorse(carol.id).endorsed is False
    assert alice.api.tag_feature("mastodonpy").featuring is True
    assert [t.name for t in alice.api.featured_tags()] == ["mastodonpy"]
    assert alice.api.tag_unfeature("mastodonpy").featuring is False
    with pytest.raises(MastodonNotFoundError):
        alice.api.instance_terms_of_service()  # none published


def test_quote_posts_and_conversation_mute(alice: Client, carol: Client) -> None:
    """Mastodon.py's 4.5 quote calls, its version check on (it refuses them to an older
    server): post with a policy and quote, list quotes, change the policy, revoke (someone
    else's: refused); status_mute / status_unmute."""
    post = carol.api.status_post("quote me", quote_approval_policy="public")
    assert post.quote_approval.automatic == ["public"]
    quoting = alice.api.status_post("quoting", quoted_status_id=post.id)
    assert quoting.quote.state == "accepted" and quoting.quote.quoted_status.id == post.id
    assert [s.id for s in carol.api.status_quotes(post.id)] == [quoting.id]
    with pytest.raises(MastodonAPIError):
        alice.api.status_quote_revoke(post.id, quoting.id)  # not alice's post: 403
    revoked = carol.api.status_quote_revoke(post.id, quoting.id)
    assert revoked.id == quoting.id and revoked.quote.state == "revoked"
    assert list(carol.api.status_quotes(post.id)) == []
    closed = carol.api.status_update_quote_approval_policy(post.id, "nobody")
    assert closed.quote_approval.automatic == []
    with pytest.raises(MastodonAPIError):
        alice.api.status_post("again", quoted_status_id=post.id)  # 422
    assert carol.api.status_mute(post.id).muted is True
    assert carol.api.status_unmute(post.id).muted is False


def test_discovery_through_mastodon_py(alice: Client, carol: Client) -> None:
    """Featured tags, endorsements, notes, familiar followers, suggestions, the directory
    and the (empty until reviewed) trends, as Mastodon.py calls them."""
    carol.api.status_post("about #agora and more")
    created = carol.api.featured_tag_create("agora")
    assert created.name == "agora" and str(created.statuses_count) == "1"
    assert [t.name for t in carol.api.featured_tags()] == ["agora"]
    assert [t.name for t in alice.api.account_featured_tags(carol.id)] == ["agora"]
    carol.api.featured_tag_delete(created.id)
    assert carol.api.featured_tags() == []
    alice.api.account_follow(carol.id)
    assert alice.api.account_pin(carol.id).endorsed is True
    assert [str(a.id) for a in alice.api.endorsements()] == [carol.id]
    assert alice.api.account_note_set(carol.id, "met at FOSDEM").note == "met at FOSDEM"
    assert alice.api.account_unpin(carol.id).endorsed is False
    familiar = alice.api.account_familiar_followers(carol.id)
    assert [str(f.id) for f in familiar] == [carol.id] and familiar[0].accounts == []
    # Mastodon.py asks v1 (accounts) or v2 (suggestions) by the advertised version
    suggested = [str(getattr(s, "account", s).id) for s in alice.api.suggestions()]
    assert carol.id not in suggested and alice.id not in suggested  # followed, self
    assert alice.id in [str(a.id) for a in alice.api.directory(local=True, order="new")]
    assert alice.api.trending_tags() == [] and alice.api.trending_statuses() == []
    assert alice.api.trending_links() == []
