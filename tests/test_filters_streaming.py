"""Filters on the streams: each listener's own filters, in the stream's context (home for
`user` and `list`, public for public and hashtag streams); a hidden post is not sent, a
warned one carries `filtered`, and other listeners of the same post are unaffected. The
notification of a hidden post is not streamed either."""

from __future__ import annotations

from typing import Any

from helpers import follow, post_status
from test_streaming import ids, received


async def _filter(client: Any, person: Any, action: str, contexts: list[str], word: str) -> str:
    body = {
        "title": word,
        "context": contexts,
        "filter_action": action,
        "keywords_attributes": [{"keyword": word}],
    }
    response = await client.post("/api/v2/filters", headers=person.headers, json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def test_each_listener_gets_its_own_filters_in_the_streams_context(
    client: Any, make_person: Any, run_jobs: Any, harness: Any
) -> None:
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    await follow(client, alice, bob)
    await follow(client, carol, bob)
    warn = await _filter(client, alice, "warn", ["home"], "dune")
    await _filter(client, alice, "hide", ["home", "notifications"], "soup")
    streams = {
        "alice": await harness.listen(alice),
        "alice public": await harness.listen(alice, "public"),
        "alice notes": await harness.listen(alice, "user:notification"),
        "carol": await harness.listen(carol),
    }
    dune = await post_status(client, bob, "Dune, again")
    soup = await post_status(client, bob, "@alice soup of the day")
    await run_jobs()
    await harness.pump()
    got = {name: await received(listener) for name, listener in streams.items()}
    assert ids(got["alice"]) == [dune["id"]]  # the soup is hidden in home
    assert ids(got["carol"]) == [dune["id"], soup["id"]]  # carol has no filters
    assert ids(got["alice public"]) == [dune["id"], soup["id"]]  # no public filter
    [(_, alice_dune)] = [e for e in got["alice"] if e[0] == "update"]
    assert [f["filter"]["id"] for f in alice_dune["filtered"]] == [warn]
    assert alice_dune["filtered"][0]["keyword_matches"] == ["Dune"]
    carol_dune = next(p for k, p in got["carol"] if k == "update" and p["id"] == dune["id"])
    assert carol_dune["filtered"] == []
    public_dune = next(p for k, p in got["alice public"] if p["id"] == dune["id"])
    assert public_dune["filtered"] == []  # the warn filter is for home only
    assert [k for k, _ in got["alice notes"]] == []  # the mention's post is hidden there
