"""Polls and quotes between real Agora servers (three `agora serve` processes, driven with
Mastodon.py): bob (B) and carol (C) follow alice (A), alice follows bob, bob follows carol.

A poll of alice's reaches B and C as a Question; bob's and carol's votes reach A as votes
(counted by A's voting rules) and A's Update(Question) brings carol's vote to B. bob quotes
alice's post and A links the quote to her own post; bob quotes carol's post, which A has never
seen: A fetches it from C and links it. alice's image reaches B as B's own copy. bob opening
alice's thread on B fetches the answer of a person on A he does not follow.

SQLite pass only (as the other multi-server tests); the single-server tests
(test_federation_objects.py) run the same handlers on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mastodon import MastodonAPIError

from federation_servers import FEDERATION, Person, person, remote_posts, resolve
from helpers import ON_POSTGRES
from live_server import LiveServer, started_together, wait_for

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="multi-server tests run in the SQLite pass")
QUICK_POLL_UPDATES = {"AGORA_FEDERATION_POLL_UPDATE_DELAY": "1"}


@pytest.fixture(scope="module")
def people() -> Iterator[dict[str, Person]]:
    # poll updates after a second (not a minute), for the test's sake
    env = {**FEDERATION, **QUICK_POLL_UPDATES}
    with started_together([LiveServer("sqlite", extra_env=env) for _ in range(3)]) as (a, b, c):
        found = {"alice": person(a, "alice"), "bob": person(b, "bob"), "carol": person(c, "carol")}
        for who, whom in (("bob", "alice"), ("carol", "alice"), ("alice", "bob"), ("bob", "carol")):
            _follow(found[who], found[whom])
        yield found


def _follow(follower: Person, target: Person) -> None:
    remote = resolve(follower, target)
    follower.api.account_follow(remote)
    wait_for(
        lambda: follower.api.account_relationships(remote)[0].following,
        15,
        f"{follower.username}'s follow of {target.username}",
    )


def _arrived(reader: Person, text: str) -> Any:
    """The status containing `text` in `reader`'s home timeline, once it is there."""
    return wait_for(
        lambda: next((s for s in reader.api.timeline_home(limit=40) if text in s.content), None),
        20,
        f"{text!r} in {reader.username}'s home",
    )


def _counts(poll: Any) -> list[int]:
    return [o.votes_count for o in poll.options]


def test_poll_and_votes_across_servers(people: dict[str, Person]) -> None:
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    poll = alice.api.make_poll(["tea", "coffee"], expires_in=3600)
    status = alice.api.status_post("Tea or coffee, fediverse?", poll=poll)
    on_b, on_c = _arrived(bob, "Tea or coffee"), _arrived(carol, "Tea or coffee")
    assert [o.title for o in on_b.poll.options] == ["tea", "coffee"] and not on_b.poll.multiple
    bob.api.poll_vote(on_b.poll.id, [1])
    wait_for(lambda: _counts(alice.api.poll(status.poll.id)) == [0, 1], 20, "bob's vote on A")
    # a second vote is refused (on B, by the same rules)
    with pytest.raises(MastodonAPIError):
        bob.api.poll_vote(on_b.poll.id, [0])
    carol.api.poll_vote(on_c.poll.id, [0])
    wait_for(lambda: _counts(alice.api.poll(status.poll.id)) == [1, 1], 20, "carol's vote on A")
    assert alice.api.poll(status.poll.id).voters_count == 2
    # A's Update(Question) brings carol's vote to B, which never saw it
    wait_for(lambda: _counts(bob.api.poll(on_b.poll.id)) == [1, 1], 20, "the new counts on B")
    assert bob.api.poll(on_b.poll.id).voters_count == 2
    assert bob.api.poll(on_b.poll.id).own_votes == [1]


def test_quote_of_a_post_both_servers_hold(people: dict[str, Person]) -> None:
    alice, bob = people["alice"], people["bob"]
    original = alice.api.status_post("A thought worth quoting")
    on_b = _arrived(bob, "A thought worth quoting")
    bob.api.status_post("Indeed, this:", quoted_status_id=on_b.id)
    quoting = _arrived(alice, "Indeed, this:")
    assert quoting.quote.state == "accepted"
    assert str(quoting.quote.quoted_status.id) == str(original.id)  # her own post, on A


def test_quote_of_a_post_the_server_lacks_is_fetched(people: dict[str, Person]) -> None:
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    carol.api.status_post("Carol's post, unknown on A")
    on_b = _arrived(bob, "Carol's post, unknown on A")
    bob.api.status_post("Look what carol said:", quoted_status_id=on_b.id)
    quoting = _arrived(alice, "Look what carol said:")

    def quoted() -> Any:
        found = alice.api.status(quoting.id).quote
        return found.quoted_status if found and found.quoted_status else None

    fetched = wait_for(quoted, 20, "carol's post fetched by A and linked")
    assert "unknown on A" in fetched.content
    assert fetched.account.acct == carol.handle.lstrip("@")


def test_post_with_an_image_arrives_with_its_image(people: dict[str, Person], tmp_path) -> None:
    import httpx
    from PIL import Image

    alice, bob = people["alice"], people["bob"]
    path = tmp_path / "sunset.png"
    Image.new("RGB", (80, 60), (250, 120, 20)).save(path, "PNG")
    media = alice.api.media_post(str(path), description="an orange sunset")
    alice.api.status_post("Tonight's sunset", media_ids=[media.id])
    on_b = _arrived(bob, "Tonight's sunset")

    def cached() -> Any:
        found = bob.api.status(on_b.id).media_attachments
        return found[0] if found and found[0].url.startswith(bob.server.url) else None

    image = wait_for(cached, 20, "alice's image fetched into B's media store")
    assert image.description == "an orange sunset"
    # A's file (its plain URL: the upload's URL was signed for alice while unattached)
    assert image.remote_url == media.url.split("?")[0]
    assert image.meta.original.width == 80 and image.blurhash
    served = httpx.get(image.url, timeout=10)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"


def test_thread_completed_by_fetching(people: dict[str, Person]) -> None:
    """dave (A) answers alice; bob (B) follows alice, not dave, so B lacks the answer until
    bob opens the thread: B then fetches alice's replies collection from A and stores it."""
    alice, bob = people["alice"], people["bob"]
    dave = person(alice.server, "dave")
    root = alice.api.status_post("Which fediverse server do you run?")
    answer = dave.api.status_post("Agora, of course", in_reply_to_id=root.id)
    on_b = _arrived(bob, "Which fediverse server")
    assert answer.uri not in remote_posts(bob.server, alice.server)
    bob.api.status_context(on_b.id)
    wait_for(
        lambda: answer.uri in remote_posts(bob.server, alice.server),
        20,
        "dave's answer fetched by B when bob opened the thread",
    )
