"""The linkifier's mentions: which `@name` is a local account. A mention with any host (a
domain, an address, a port) is remote and never reaches a local account of the same name,
except this server's own domain; a direct message to `@bob@other:port` must not go to the
local @bob."""

from __future__ import annotations

import pytest

from agora.social.posts.text import extract_mentions, status_length


@pytest.mark.parametrize(
    ("text", "local"),
    [
        ("hi @bob", ["bob"]),
        ("hi @bob@testserver", ["bob"]),  # this server's own domain (AGORA_DOMAIN in the tests)
        ("hi @bob@example.org", []),
        ("hi @bob@127.0.0.1:3001 secret", []),
        ("hi @bob@localhost:3000", []),
        ("hi @bob@social.example:8443", []),
        ("mail bob@example.org", []),
        ("end of sentence @bob.", ["bob"]),
        ("@Alice and @bob@mastodon.social and @carol", ["alice", "carol"]),
    ],
)
def test_only_local_names_are_local_mentions(text: str, local: list[str]) -> None:
    assert extract_mentions(text) == local


def test_a_remote_mention_counts_only_its_local_part() -> None:
    assert status_length("@bob@127.0.0.1:3001") == len("@bob")


async def test_a_direct_message_to_a_remote_address_does_not_reach_the_local_namesake(
    client, make_person
) -> None:
    alice, bob = await make_person("alice"), await make_person("bob")
    r = await client.post(
        "/api/v1/statuses",
        headers=alice.headers,
        json={"status": "@bob@127.0.0.1:3001 a secret", "visibility": "direct"},
    )
    assert r.status_code == 200 and r.json()["mentions"] == []
    r = await client.get(f"/api/v1/statuses/{r.json()['id']}", headers=bob.headers)
    assert r.status_code == 404
