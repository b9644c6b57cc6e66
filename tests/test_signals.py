"""Public AI-use signals: each header, meta tag and site-wide file for allow / deny / unset."""

from __future__ import annotations

import re

import pytest

from agora.config import get_settings

URL = "/api/v1/agora/data_reuse"
EVERYTHING = {
    "syntheticContentGeneration": True,
    "syntheticImageGeneration": True,
    "bulkDataset": True,
}


def _meta(html: str, name: str) -> str | None:
    found = re.search(rf'<meta name="{name}" content="([^"]*)">', html)
    return found.group(1) if found else None


async def _person_with(client, make_person, name: str, choices: dict | None):
    person = await make_person(name)
    if choices is not None:
        r = await client.patch(URL, json=choices, headers=person.headers)
        assert r.status_code == 200
    status = await client.post("/api/v1/statuses", json={"status": "hi"}, headers=person.headers)
    return person, status.json()["id"]


CASES = [
    # choices, Content-Usage, X-Robots-Tag, tdm-reservation
    (None, None, "noai, noimageai", "1"),
    (EVERYTHING, "train-ai=y", None, None),
    ({k: False for k in EVERYTHING}, "train-ai=n", "noai, noimageai", "1"),
    ({**EVERYTHING, "syntheticImageGeneration": False}, "train-ai=y", "noimageai", None),
]


@pytest.mark.parametrize(("choices", "usage", "robots", "tdm"), CASES)
async def test_profile_and_post_signals(client, make_person, choices, usage, robots, tdm):
    person, post_id = await _person_with(client, make_person, "sig", choices)
    responses = [
        await client.get(f"/api/v1/accounts/{person.id}"),
        await client.get(f"/api/v1/accounts/{person.id}/statuses"),
        await client.get(f"/api/v1/statuses/{post_id}"),
        await client.get("/@sig"),
        await client.get(f"/@sig/{post_id}"),
    ]
    for r in responses:
        assert r.status_code == 200, r.url
        assert r.headers.get("content-usage") == usage, r.url
        assert r.headers.get("x-robots-tag") == robots, r.url
        assert r.headers.get("tdm-reservation") == tdm, r.url
    for page in responses[3:]:
        assert _meta(page.text, "robots") == robots
        assert _meta(page.text, "tdm-reservation") == tdm


async def test_post_override_wins_over_allow(client, make_person):
    person, _ = await _person_with(client, make_person, "sig", EVERYTHING)
    r = await client.post(
        "/api/v1/statuses",
        json={"status": "not this one", "no_ai_reuse": True},
        headers=person.headers,
    )
    post_id = r.json()["id"]
    for url in (f"/api/v1/statuses/{post_id}", f"/@sig/{post_id}"):
        got = await client.get(url)
        assert got.headers["content-usage"] == "train-ai=n"
        assert got.headers["x-robots-tag"] == "noai, noimageai"
        assert got.headers["tdm-reservation"] == "1"
    # the profile lists the opted-out post, so it says what the post asks (#8)
    assert (await client.get("/@sig")).headers["content-usage"] == "train-ai=n"


async def test_pages_hide_what_a_visitor_may_not_see(client, make_person):
    person = await make_person("sig")
    r = await client.post(
        "/api/v1/statuses",
        json={"status": "friends only", "visibility": "private"},
        headers=person.headers,
    )
    hidden = await client.get(f"/@sig/{r.json()['id']}")
    assert hidden.status_code == 404 and "Not found" in hidden.text
    assert "friends only" not in (await client.get("/@sig")).text
    assert (await client.get("/@nobody")).status_code == 404
    assert (await client.get("/@sig/notanumber")).status_code == 404


async def test_site_wide_files(client, monkeypatch):
    robots = (await client.get("/robots.txt")).text
    assert "User-agent: GPTBot" in robots and "User-agent: ClaudeBot" in robots
    assert "Content-Usage: train-ai=n" in robots
    assert "Content-Signal: search=yes, ai-train=no" in robots
    assert "@" not in robots  # never a list of people
    assert (await client.get("/.well-known/tdmrep.json")).json() == [
        {"location": "/", "tdm-reservation": 1}
    ]
    monkeypatch.setenv("AGORA_AI_TRAINING_DEFAULT", "true")
    monkeypatch.setenv("AGORA_TDM_POLICY_URL", "https://example.org/policy.json")
    get_settings.cache_clear()
    try:
        robots = (await client.get("/robots.txt")).text
        assert "GPTBot" not in robots and "Content-Usage: train-ai=y" in robots
        tdm = (await client.get("/.well-known/tdmrep.json")).json()
        assert tdm == [
            {"location": "/", "tdm-reservation": 1, "tdm-policy": "https://example.org/policy.json"}
        ]
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


# --- one response, many posts and accounts: the most restrictive signal of everything in it ---

DENIED = {"usage": "train-ai=n", "robots": "noai, noimageai", "tdm": "1"}
ALLOWED = {"usage": "train-ai=y", "robots": None, "tdm": None}


def _signals_of(r) -> dict:
    return {
        "usage": r.headers.get("content-usage"),
        "robots": r.headers.get("x-robots-tag"),
        "tdm": r.headers.get("tdm-reservation"),
    }


async def _opted_out_world(client, make_person):
    """`sig` allows everything and wrote `open` and `shut` (opted out with no_ai_reuse)."""
    person, open_id = await _person_with(client, make_person, "sig", EVERYTHING)
    r = await client.post(
        "/api/v1/statuses",
        json={"status": "not this one #shared", "no_ai_reuse": True},
        headers=person.headers,
    )
    return person, open_id, r.json()["id"]


async def test_every_door_carries_the_most_restrictive_signal(client, make_person, run_jobs):
    person, open_id, shut_id = await _opted_out_world(client, make_person)
    other, other_id = await _person_with(client, make_person, "fan", EVERYTHING)
    # other posts: a boost and a quote of the opted-out post, a reply to it, a plain post
    boost = await client.post(f"/api/v1/statuses/{shut_id}/reblog", headers=other.headers)
    quote = await client.post(
        "/api/v1/statuses",
        json={"status": "look", "quoted_status_id": shut_id},
        headers=other.headers,
    )
    reply = await client.post(
        "/api/v1/statuses",
        json={"status": "a reply #shared", "in_reply_to_id": open_id},
        headers=other.headers,
    )
    await run_jobs()
    assert (await client.get(f"/api/v1/statuses/{open_id}")).headers["content-usage"] == (
        "train-ai=y"
    )
    denied_doors = [
        "/@sig",
        f"/api/v1/accounts/{person.id}/statuses",
        f"/api/v1/statuses/{shut_id}",
        f"/api/v1/statuses/{boost.json()['id']}",  # a boost carries its original's signal
        f"/api/v1/statuses/{quote.json()['id']}",  # a quote carries the quoted post's
        "/api/v1/timelines/public",
        "/api/v1/timelines/tag/shared",
        f"/@fan/{quote.json()['id']}",
        "/local",
        "/tags/shared",
        f"/api/v2/search?q=http://testserver/@sig/{shut_id}",
    ]
    signed_in = ["/api/v1/timelines/home", "/api/v2/search?q=shared&type=statuses"]
    for url in denied_doors + signed_in:
        r = await client.get(url, headers=other.headers if url in signed_in else {})
        assert r.status_code == 200, url
        assert _signals_of(r) == DENIED, url
    for page in ("/@sig", "/local", f"/@fan/{quote.json()['id']}"):
        html = (await client.get(page)).text
        assert _meta(html, "robots") == "noai, noimageai" and _meta(html, "tdm-reservation") == "1"
    # a thread whose focus allows everything but whose reply opted out
    opted_reply = await client.post(
        "/api/v1/statuses",
        json={
            "status": "mine, not for AI",
            "in_reply_to_id": reply.json()["id"],
            "no_ai_reuse": True,
        },
        headers=person.headers,
    )
    assert opted_reply.status_code == 200
    for url in (f"/api/v1/statuses/{reply.json()['id']}/context", f"/@fan/{reply.json()['id']}"):
        assert _signals_of(await client.get(url)) == DENIED, url
    # what holds only allowed posts and accounts still says so
    for url in (f"/api/v1/statuses/{other_id}", f"/api/v1/accounts/{other.id}"):
        assert _signals_of(await client.get(url)) == ALLOWED, url


async def test_account_doors_carry_the_account_signal(client, make_person):
    allowing, _ = await _person_with(client, make_person, "yes", EVERYTHING)
    denying, _ = await _person_with(
        client, make_person, "nope", {"syntheticContentGeneration": False}
    )
    for name, expected in (("yes", ALLOWED), ("nope", DENIED)):
        for url in (
            f"/api/v1/accounts/lookup?acct={name}",
            f"/api/v2/search?q=http://testserver/@{name}",
            f"/api/v2/search?q={name}&type=accounts",
            f"/api/v1/accounts/search?q={name}",
        ):
            r = await client.get(url, headers=allowing.headers)
            assert r.status_code == 200, url
            assert _signals_of(r) == expected, url
    # account lists carry the signal of the accounts they hold
    await client.post(f"/api/v1/accounts/{denying.id}/follow", headers=allowing.headers)
    r = await client.get(f"/api/v1/accounts/{denying.id}/followers")
    assert [a["username"] for a in r.json()] == ["yes"] and _signals_of(r) == ALLOWED
    r = await client.get(f"/api/v1/accounts/{allowing.id}/following")
    assert _signals_of(r) == DENIED


async def test_empty_answers_and_errors_carry_no_signal(client, make_person):
    for url in (
        "/api/v1/timelines/public",
        "/api/v1/statuses/123",
        "/api/v1/accounts/lookup?acct=x",
    ):
        r = await client.get(url)
        assert _signals_of(r) == {"usage": None, "robots": None, "tdm": None}, url


def test_combination_rule():
    from agora.data.signals import most_restrictive
    from agora.db.models import Account, Post

    def account(**choices):
        return Account(
            username="a",
            data_reuse={k: {"allow": v, "updatedAt": "x"} for k, v in choices.items()},
        )

    yes = account(**EVERYTHING)
    unset = account()
    images_no = account(**{**EVERYTHING, "syntheticImageGeneration": False})
    opted = Post(no_ai_reuse=True)
    plain = Post(no_ai_reuse=False)

    def headers(*items):
        return most_restrictive(items, get_settings()).headers

    assert headers() == {}
    assert headers((yes, None), (yes, plain)) == {"Content-Usage": "train-ai=y"}
    # an unknown choice beside an allow: unknown (the key is left out), and the defaults deny
    assert headers((yes, None), (unset, None)) == {
        "X-Robots-Tag": "noai, noimageai",
        "tdm-reservation": "1",
    }
    assert headers((yes, None), (images_no, None)) == {
        "Content-Usage": "train-ai=y",
        "X-Robots-Tag": "noimageai",
    }
    assert headers((images_no, None), (yes, opted)) == {
        "Content-Usage": "train-ai=n",
        "X-Robots-Tag": "noai, noimageai",
        "tdm-reservation": "1",
    }
    # the order of what a response holds does not matter
    assert headers((yes, opted), (yes, None)) == headers((yes, None), (yes, opted))
