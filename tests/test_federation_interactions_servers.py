"""Everyday interactions between real Agora servers: three `agora serve` processes on loopback
ports, each with its own database, driven with Mastodon.py (tests/federation_servers.py).

alice (A) and bob (B) follow each other; carol (C) is locked. Across the servers: a reply
joins the thread it answers, a like and a boost (and their undo) reach the author with their
notifications, an edit and a profile change reach the follower's copy, a locked account's
later approval (or refusal) of a remote follow request reaches the requester, and a direct
post to a remote mention reaches that server only.

The servers run on SQLite only (the single-server tests of the same code run on both
databases: tests/test_federation_interactions.py), in the SQLite pass.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from federation_servers import (
    Person,
    db,
    federating,
    home_texts,
    person,
    remote_posts,
    resolve,
)
from helpers import ON_POSTGRES
from live_server import LiveServer, started_together, wait_for

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="multi-server tests run in the SQLite pass")
WAIT = 20


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[LiveServer, LiveServer, LiveServer]]:
    with started_together([federating() for _ in range(3)]) as (a, b, c):
        yield a, b, c


def follow(follower: Person, target: Person) -> str:
    """`follower` follows `target` across servers; `target`'s id on the follower's server."""
    remote_id = resolve(follower, target)
    follower.api.account_follow(remote_id)
    wait_for(
        lambda: follower.api.account_relationships(remote_id)[0].following,
        WAIT,
        f"{target.username}'s Accept",
    )
    return remote_id


@pytest.fixture(scope="module")
def people(servers: tuple[LiveServer, LiveServer, LiveServer]) -> dict[str, Person]:
    a, b, c = servers
    alice, bob, carol = person(a, "alice"), person(b, "bob"), person(c, "carol")
    follow(bob, alice)
    follow(alice, bob)
    return {"alice": alice, "bob": bob, "carol": carol}


def arrived(reader: Person, text: str) -> dict[str, object]:
    """The status holding `text` in `reader`'s home timeline, once it is there."""
    return wait_for(
        lambda: next((s for s in reader.api.timeline_home(limit=40) if text in s.content), None),
        WAIT,
        f"{text!r} in {reader.username}'s home",
    )


def notified(reader: Person, kind: str, by: Person) -> object:
    acct = by.handle.lstrip("@")
    return wait_for(
        lambda: next(
            (n for n in reader.api.notifications() if n.type == kind and n.account.acct == acct),
            None,
        ),
        WAIT,
        f"a {kind} notification from {acct} for {reader.username}",
    )


def test_reply_joins_the_thread_on_the_other_server(people: dict[str, Person]) -> None:
    alice, bob = people["alice"], people["bob"]
    original = alice.api.status_post("Who wants to talk about federation?")
    copy = arrived(bob, "Who wants to talk about federation?")
    reply = bob.api.status_reply(copy, "Me, from server B!")
    # Mastodon.py mentions the author it answers: resolved on B, linked as Mastodon does
    assert [m.acct for m in reply.mentions] == [alice.handle.lstrip("@")]
    assert "h-card" in reply.content
    context = wait_for(
        lambda: alice.api.status_context(original.id).descendants or None,
        WAIT,
        "bob's reply in alice's thread on A",
    )
    assert [s.uri for s in context] == [reply.uri]
    assert context[0].in_reply_to_id == original.id
    assert alice.api.status(original.id).replies_count == 1
    notice = notified(alice, "mention", bob)
    assert notice.status.uri == reply.uri  # type: ignore[attr-defined]
    # and alice's answer to bob's reply links to it on B
    on_a = alice.api.status_context(original.id).descendants[0]
    answer = alice.api.status_reply(on_a, "Welcome, bob")
    wait_for(
        lambda: (
            [s.uri for s in bob.api.status_context(copy.id).descendants]  # type: ignore[attr-defined]
            == [reply.uri, answer.uri]
        ),
        WAIT,
        "alice's answer under bob's reply on B",
    )


def test_like_and_its_undo_reach_the_author(people: dict[str, Person]) -> None:
    alice, bob = people["alice"], people["bob"]
    original = alice.api.status_post("Like this across servers")
    copy = arrived(bob, "Like this across servers")
    bob.api.status_favourite(copy)
    wait_for(lambda: alice.api.status(original.id).favourites_count == 1, WAIT, "the like on A")
    notified(alice, "favourite", bob)
    liked_by = alice.api.status_favourited_by(original.id)
    assert [a.acct for a in liked_by] == [bob.handle.lstrip("@")]
    bob.api.status_unfavourite(copy)
    wait_for(lambda: alice.api.status(original.id).favourites_count == 0, WAIT, "the unlike on A")


def test_boost_and_its_undo_reach_the_author(people: dict[str, Person]) -> None:
    alice, bob = people["alice"], people["bob"]
    own = bob.api.status_post("Boost this across servers")
    copy = arrived(alice, "Boost this across servers")
    alice.api.status_reblog(copy)
    wait_for(lambda: bob.api.status(own.id).reblogs_count == 1, WAIT, "the boost on B")
    notified(bob, "reblog", alice)
    assert [a.acct for a in bob.api.status_reblogged_by(own.id)] == [alice.handle.lstrip("@")]
    alice.api.status_unreblog(copy)
    wait_for(lambda: bob.api.status(own.id).reblogs_count == 0, WAIT, "the unboost on B")


def test_boost_of_a_third_servers_post_reaches_the_boosters_followers(
    people: dict[str, Person],
) -> None:
    """carol (C) posts; alice (A), who follows her, boosts it: bob (B), who follows alice
    but not carol, gets the boost and the post it boosts fetched from C into his home."""
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    own = carol.api.status_post("A post from server C")
    carol_on_a = resolve(alice, carol)
    alice.api.account_follow(carol_on_a)
    wait_for(
        lambda: alice.api.account_relationships(carol_on_a)[0].following, WAIT, "carol's Accept"
    )
    later = carol.api.status_post("A second post from server C")
    on_a = arrived(alice, "A second post from server C")
    alice.api.status_reblog(on_a)
    boosted = wait_for(
        lambda: next(
            (
                s
                for s in bob.api.timeline_home(limit=40)
                if s.reblog is not None and s.reblog.uri == later.uri
            ),
            None,
        ),
        WAIT,
        "alice's boost of carol's post in bob's home on B",
    )
    assert boosted.account.acct == alice.handle.lstrip("@")
    assert boosted.reblog.account.acct == carol.handle.lstrip("@")
    assert own.uri not in remote_posts(bob.server, carol.server)  # only what was boosted
    notified(carol, "reblog", alice)
    alice.api.account_unfollow(carol_on_a)


def test_edit_reaches_the_followers_copy_with_its_history(people: dict[str, Person]) -> None:
    alice, bob = people["alice"], people["bob"]
    original = alice.api.status_post("First draft of a thought")
    copy = arrived(bob, "First draft of a thought")
    bob.api.status_reblog(copy)  # a local boost of the remote post: notified of the edit
    alice.api.status_update(original.id, status="Second draft of a thought")
    wait_for(
        lambda: "Second draft" in bob.api.status(copy.id).content,  # type: ignore[attr-defined]
        WAIT,
        "the edit on B",
    )
    edited = bob.api.status(copy.id)  # type: ignore[attr-defined]
    assert edited.edited_at is not None
    history = bob.api.status_history(copy.id)  # type: ignore[attr-defined]
    assert ["First draft" in h.content for h in history] == [True, False]
    notified(bob, "update", alice)
    bob.api.status_unreblog(copy)


def test_profile_change_reaches_the_followers_server(people: dict[str, Person]) -> None:
    alice, bob = people["alice"], people["bob"]
    alice.api.account_update_credentials(
        display_name="Alice of A", note="Now with a bio", fields=[("Home", "server A")]
    )
    alice_on_b = resolve(bob, alice)
    wait_for(
        lambda: bob.api.account(alice_on_b).display_name == "Alice of A",
        WAIT,
        "alice's new name on B",
    )
    account = bob.api.account(alice_on_b)
    assert "Now with a bio" in account.note
    assert [(f.name, f.value) for f in account.fields] == [("Home", "server A")]


def test_locked_account_approves_and_rejects_remote_requests(
    servers: tuple[LiveServer, LiveServer, LiveServer], people: dict[str, Person]
) -> None:
    bob, carol = people["bob"], people["carol"]
    dave = person(bob.server, "dave")
    carol.api.account_update_credentials(locked=True)
    carol_for_bob, carol_for_dave = resolve(bob, carol), resolve(dave, carol)
    assert bob.api.account(carol_for_bob).locked is True
    for asker, target in ((bob, carol_for_bob), (dave, carol_for_dave)):
        asker.api.account_follow(target)
    requests = wait_for(
        lambda: carol.api.follow_requests() if len(carol.api.follow_requests()) == 2 else None,
        WAIT,
        "two follow requests on C",
    )
    by_acct = {r.acct: r.id for r in requests}
    assert bob.api.account_relationships(carol_for_bob)[0].requested is True
    carol.api.follow_request_authorize(by_acct[bob.handle.lstrip("@")])
    carol.api.follow_request_reject(by_acct[dave.handle.lstrip("@")])
    wait_for(
        lambda: bob.api.account_relationships(carol_for_bob)[0].following,
        WAIT,
        "carol's Accept on B",
    )
    wait_for(
        lambda: not dave.api.account_relationships(carol_for_dave)[0].requested,
        WAIT,
        "carol's Reject on B",
    )
    assert dave.api.account_relationships(carol_for_dave)[0].following is False
    # bob now receives carol's followers-only posts; dave does not
    carol.api.status_post("For my approved followers", visibility="private")
    arrived(bob, "For my approved followers")
    assert not any("approved followers" in t for t in home_texts(dave))
    # carol removes bob from her followers: B learns it (Reject of his Follow)
    bob_on_c = next(a.id for a in carol.api.account_followers(carol.id) if a.username == "bob")
    carol.api.account_remove_from_followers(bob_on_c)
    wait_for(
        lambda: not bob.api.account_relationships(carol_for_bob)[0].following,
        WAIT,
        "the end of bob's follow on B",
    )
    carol.api.account_update_credentials(locked=False)


def test_direct_post_to_a_remote_mention_reaches_only_that_server(
    people: dict[str, Person],
) -> None:
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    resolve(alice, carol)
    # bob follows alice, so B would get any non-direct post; the direct one goes to C only
    status = alice.api.status_post(f"{carol.handle} only you should read this", visibility="direct")
    assert [m.acct for m in status.mentions] == [carol.handle.lstrip("@")]
    assert "h-card" in status.content
    # carol follows nobody on A: Mastodon's default policy files a private mention from a
    # stranger under a notification request, which she accepts
    auth = {"Authorization": f"Bearer {carol.api.access_token}"}
    requests = wait_for(
        lambda: (
            httpx.get(f"{carol.server.url}/api/v1/notifications/requests", headers=auth).json()
            or None
        ),
        WAIT,
        "alice's notification request for carol",
    )
    assert [r["account"]["acct"] for r in requests] == [alice.handle.lstrip("@")]
    accept = f"{carol.server.url}/api/v1/notifications/requests/{requests[0]['id']}/accept"
    assert httpx.post(accept, headers=auth).status_code == 200
    notice = notified(carol, "mention", alice)
    assert notice.status.visibility == "direct"  # type: ignore[attr-defined]
    assert notice.status.uri == status.uri  # type: ignore[attr-defined]
    assert status.uri in remote_posts(carol.server, alice.server)
    assert status.uri not in remote_posts(bob.server, alice.server)
    with db(bob.server) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM posts WHERE content_html LIKE '%only you should read%'"
        ).fetchone()
    assert count == 0


def test_mention_of_an_unknown_remote_account_resolves_it_first(
    servers: tuple[LiveServer, LiveServer, LiveServer], people: dict[str, Person]
) -> None:
    """A handle nobody on A has looked up is resolved while posting, so the mention links
    and reaches its server (erin on C, never seen on A before)."""
    alice = people["alice"]
    erin = person(servers[2], "erin")
    status = alice.api.status_post(f"Hello {erin.handle}, welcome")
    assert [m.acct for m in status.mentions] == [erin.handle.lstrip("@")]
    notified(erin, "mention", alice)
