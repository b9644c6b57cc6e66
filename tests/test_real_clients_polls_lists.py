"""Polls and lists with a real client: Mastodon.py against `agora serve` (see live_server.py),
on SQLite or, with AGORA_TEST_DATABASE=postgresql, on PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from mastodon import Mastodon, MastodonAPIError, MastodonNotFoundError

from live_server import LiveServer, wait_for

PASSWORD = "correct horse battery"


@dataclass
class Client:
    api: Mastodon
    id: str


@pytest.fixture(scope="module")
def app_keys(server: LiveServer) -> tuple[str, str]:
    return Mastodon.create_app("agora polls and lists", api_base_url=server.url)


def _person(server: LiveServer, keys: tuple[str, str], name: str) -> Client:
    api = Mastodon(client_id=keys[0], client_secret=keys[1], api_base_url=server.url)
    api.create_account(name, PASSWORD, f"{name}@example.org", agreement=True)
    return Client(api, str(api.account_verify_credentials().id))


@pytest.fixture(scope="module")
def ana(server: LiveServer, app_keys: tuple[str, str]) -> Client:
    return _person(server, app_keys, "ana")


@pytest.fixture(scope="module")
def ben(server: LiveServer, app_keys: tuple[str, str]) -> Client:
    return _person(server, app_keys, "ben")


def test_poll_post_vote_and_refusals(ana: Client, ben: Client) -> None:
    limits = ana.api.instance().configuration.polls
    assert limits.max_options == 4 and limits.max_characters_per_option == 50
    poll = ana.api.make_poll(["tea", "coffee", "water"], expires_in=600, multiple=True)
    status = ana.api.status_post("What do you drink?", poll=poll)
    assert [o.title for o in status.poll.options] == ["tea", "coffee", "water"]
    assert status.poll.multiple and not status.poll.expired
    voted = ben.api.poll_vote(status.poll.id, [0, 2])
    assert voted.voted and voted.own_votes == [0, 2]
    assert voted.votes_count == 2 and voted.voters_count == 1
    with pytest.raises(MastodonAPIError) as refused:
        ben.api.poll_vote(status.poll.id, [0])
    assert refused.value.args[1] == 422
    with pytest.raises(MastodonAPIError):
        ana.api.poll_vote(status.poll.id, [1])  # one's own poll
    assert [o.votes_count for o in ana.api.poll(status.poll.id).options] == [1, 0, 1]
    assert ben.api.status(status.id).poll.own_votes == [0, 2]
    single = ana.api.status_post("yes or no?", poll=ana.api.make_poll(["yes", "no"], 300))
    assert ben.api.poll_vote(single.poll.id, 1).own_votes == [1]
    with pytest.raises(MastodonAPIError):
        ben.api.poll_vote(single.poll.id, 0)
    for bad in (["only one"], ["a", "b", "c", "d", "e"], ["same", "same"]):
        with pytest.raises(MastodonAPIError) as refused:
            ana.api.status_post("bad poll", poll=ana.api.make_poll(bad, 600))
        assert refused.value.args[1] == 422
    edited = ana.api.status_update(single.id, "yes or no, edited?")
    assert edited.poll.id == single.poll.id and edited.poll.votes_count == 1


def test_lists_and_list_timeline(ana: Client, ben: Client) -> None:
    ana.api.account_follow(ben.id)
    made = ana.api.list_create("Friends", replies_policy="followed", exclusive=True)
    assert made.title == "Friends" and made.replies_policy == "followed" and made.exclusive
    ana.api.list_accounts_add(made.id, [ben.id])
    assert [a.id for a in ana.api.list_accounts(made.id)] == [ben.id]
    assert [x.id for x in ana.api.account_lists(ben.id)] == [made.id]
    posted = [ben.api.status_post(f"list post {i}").id for i in range(25)]
    page = ana.api.timeline_list(made.id, limit=20)
    assert [s.id for s in page] == posted[::-1][:20]
    rest = ana.api.fetch_next(page)
    assert [s.id for s in rest] == posted[::-1][20:]
    ana_post = ana.api.status_post("ana's own post").id
    wait_for(
        lambda: ana_post in [s.id for s in ana.api.timeline_home(limit=40)],
        what="ana's post in her home timeline",
    )
    home = [s.id for s in ana.api.timeline_home(limit=40)]
    assert not set(posted) & set(home)  # the list is exclusive
    updated = ana.api.list_update(made.id, "Pals", replies_policy="none", exclusive=False)
    assert updated.title == "Pals" and updated.replies_policy == "none" and not updated.exclusive
    assert set(posted[-5:]) <= {s.id for s in ana.api.timeline_home(limit=40)}
    assert [x.title for x in ana.api.lists()] == ["For You", "Pals"]  # the ranked feed first
    ranked = ana.api.timeline_list("for_you", limit=3)  # the For You list is the ranked feed
    assert len(ranked) == 3 and all(s["agora"]["ranking"]["reasons"] for s in ranked)
    more = ana.api.fetch_next(ranked)  # paged by its Link header, as any list
    assert more and not {s.id for s in more} & {s.id for s in ranked}
    direct = ana.api.timeline(timeline="agora/for_you", limit=3)
    assert [s.id for s in direct] == [s.id for s in ranked]
    with pytest.raises(MastodonAPIError):
        ana.api.list_update("for_you", "Mine")
    with pytest.raises(MastodonNotFoundError):
        ben.api.list(made.id)  # someone else's list
    with pytest.raises(MastodonNotFoundError):
        ben.api.timeline_list(made.id)
    ana.api.list_accounts_delete(made.id, [ben.id])
    assert ana.api.list_accounts(made.id) == []
    ana.api.list_delete(made.id)
    with pytest.raises(MastodonNotFoundError):
        ana.api.list(made.id)
