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
    assert (await client.get("/@sig")).headers["content-usage"] == "train-ai=y"


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
