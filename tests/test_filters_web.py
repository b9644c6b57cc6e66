"""Filters in the web app over HTTP: the settings page creates and deletes through the API's
service; a hidden post is not on the page (and stays away after a reload); a `warn` post is
behind a "Filtered: …" disclosure; someone else's filter is a 404; bad values a 422 page."""

from __future__ import annotations

from typing import Any

from httpx import ASGITransport, AsyncClient
from sqlalchemy import func, select

from agora.db.models import Filter
from helpers import follow, post_ids, post_status, web_sign_in


async def _count(db: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Filter)) or 0)


async def test_filters_page_hides_and_warns(
    client: Any, db: Any, make_person: Any, run_jobs: Any
) -> None:
    alice = await make_person("alice")
    bob = await make_person("bob")
    await follow(client, alice, bob)
    soup = await post_status(client, bob, "tomato soup tonight")
    dune = await post_status(client, bob, "Dune part three")
    plain = await post_status(client, bob, "a plain post")
    await run_jobs()
    csrf = await web_sign_in(client, "alice")
    page = await client.get("/settings/filters")
    assert page.status_code == 200 and "No filters yet." in page.text
    for title, words, action in (("Food", "soup, stew", "hide"), ("Films", "dune", "warn")):
        made = await client.post(
            "/settings/filters",
            data={
                "csrf": csrf,
                "title": title,
                "keywords": words,
                "whole_word": "1",
                "context": ["home", "thread"],
                "filter_action": action,
                "expires_in": "",
            },
        )
        assert made.status_code == 303, made.text
    listed = (await client.get("/settings/filters")).text
    assert "Food" in listed and "stew" in listed and "Hide completely" in listed
    for _ in range(2):  # a reload shows the same
        home = (await client.get("/home")).text
        shown = {str(i) for i in post_ids(home)}
        assert soup["id"] not in shown
        assert {dune["id"], plain["id"]} <= shown
        assert home.count("Filtered: Films") == 1
    api = (await client.get("/api/v2/filters", headers=alice.headers)).json()
    assert [f["title"] for f in api] == ["Food", "Films"]

    bob_csrf = None

    async with AsyncClient(
        transport=ASGITransport(app=client._transport.app), base_url="http://testserver"
    ) as other:
        bob_csrf = await web_sign_in(other, "bob")
        refused = await other.post(
            f"/settings/filters/{api[0]['id']}/delete", data={"csrf": bob_csrf}
        )
        assert refused.status_code == 404
    assert await _count(db) == 2
    deleted = await client.post(f"/settings/filters/{api[0]['id']}/delete", data={"csrf": csrf})
    assert deleted.status_code == 303 and await _count(db) == 1
    assert soup["id"] in {str(i) for i in post_ids((await client.get("/home")).text)}


async def test_bad_values_are_a_422_page(client: Any, db: Any, make_person: Any) -> None:
    await make_person("alice")
    csrf = await web_sign_in(client, "alice")
    for form in (
        {"title": "", "keywords": "x", "context": "home"},
        {"title": "t", "keywords": "x"},  # no context
        {"title": "t", "keywords": "x", "context": "home", "filter_action": "explode"},
    ):
        answer = await client.post("/settings/filters", data={"csrf": csrf, **form})
        assert answer.status_code == 422, form
        assert 'role="alert"' in answer.text
    assert await _count(db) == 0
    assert (await client.post("/settings/filters", data={"title": "t"})).status_code == 403
