"""A home timeline page is loaded in a constant number of SQL queries whatever it holds."""

from __future__ import annotations

import io
import os
from typing import Any

import orjson
from PIL import Image
from sqlalchemy import event, update

from agora.api import serialise
from agora.db.models import Account, Post, PreviewCard, utcnow
from agora.social.media.custom_emojis import add_emoji
from agora.social.reading.timelines import home_timeline
from agora.social.rules.paging import Page
from helpers import post_status_id

# SQLite's BEGIN is a statement of its own (db/engine.py); asyncpg's is not seen as one
BEGIN = 0 if os.environ.get("AGORA_TEST_DATABASE", "sqlite") == "postgresql" else 1


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (8, 8), "red").save(out, format="PNG")
    return out.getvalue()


async def _page_queries(
    db: Any, viewer_id: int, limit: int, *, cached: bool = False
) -> tuple[int, list[dict[str, Any]]]:
    """Queries sent for one home page through the service layer, hydration included (or,
    `cached`, through the render cache as the API's routes answer)."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.session() as session:
            found = await home_timeline(session, viewer_id, Page(limit=limit))
            if cached:
                shown = await serialise.shown_statuses(session, viewer_id, found.items)
                items = [orjson.loads(orjson.dumps(item)) for item in shown]
            else:
                items = await serialise.statuses(session, viewer_id, found.items)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    return len(statements), items


async def test_home_page_query_count_is_constant(db, client, make_person, run_jobs) -> None:
    names = ("alice", "bob", "carol", "dave", "erin")
    alice, bob, carol, dave, erin = [await make_person(n) for n in names]
    for follower, target in ((bob, alice), (bob, carol), (dave, alice), (carol, alice)):
        r = await client.post(f"/api/v1/accounts/{target.id}/follow", headers=follower.headers)
        assert r.status_code == 200, r.text
    async with db.session(write=True) as session:  # custom emoji cost no statement: kept
        await add_emoji(session, "blobcat", _png())  # on the rows (custom_emojis.py)
    r = await client.patch(
        "/api/v1/accounts/update_credentials", headers=alice.headers, data={"note": ":blobcat:"}
    )
    assert r.status_code == 200, r.text
    first = await post_status_id(client, alice, "hello @bob and @carol #agora #python")
    await run_jobs()
    one_count, one_page = await _page_queries(db, dave.id, 40)
    assert len(one_page) == 1

    parents = [first]
    for i in range(12):
        parents.append(
            await post_status_id(client, alice, f"thread {i} #t{i}", in_reply_to_id=parents[-1])
        )
        await post_status_id(client, carol, f"@alice reply {i} #agora", in_reply_to_id=parents[-1])
        quote = await post_status_id(
            client, carol, f"quoting {i} @bob", quoted_status_id=parents[-1]
        )
        await post_status_id(client, alice, f"quoting a quote {i}", quoted_status_id=quote)
        await post_status_id(client, alice, f"for followers {i}", visibility="private")
    for i in range(8):  # carol boosts posts of someone bob does not follow; bob likes them
        post_id = await post_status_id(client, erin, f"from erin {i} @alice #boosted :blobcat:")
        r = await client.post(f"/api/v1/statuses/{post_id}/reblog", headers=carol.headers)
        assert r.status_code == 200, r.text
        r = await client.post(f"/api/v1/statuses/{post_id}/favourite", headers=bob.headers)
        assert r.status_code == 200, r.text
        r = await client.post(f"/api/v1/statuses/{post_id}/bookmark", headers=bob.headers)
        assert r.status_code == 200, r.text
        async with db.session() as session, session.begin():  # a preview card of its own
            card = PreviewCard(
                url=f"https://example.com/{i}", title=f"page {i}", fetched_at=utcnow()
            )
            session.add(card)
            await session.flush()
            await session.execute(
                update(Post).where(Post.id == int(post_id)).values(preview_card_id=card.id)
            )
    await run_jobs()

    full_count, full_page = await _page_queries(db, bob.id, 40)
    assert len(full_page) == 40
    assert any(s["reblog"] for s in full_page)
    quoted = [s["quote"]["quoted_status"] for s in full_page if s["quote"]]
    assert any(q and q["quote"] and q["quote"]["quoted_status"] for q in quoted)
    assert any(s["in_reply_to_id"] for s in full_page)
    assert any(s["mentions"] and s["tags"] for s in full_page)
    assert any(s["reblog"] and s["reblog"]["favourited"] for s in full_page)
    assert any(s["reblog"] and s["reblog"]["bookmarked"] for s in full_page)
    assert any(s["reblog"] and s["reblog"]["emojis"] for s in full_page)
    assert any(s["account"]["emojis"] for s in full_page)
    assert any(s["reblog"] and s["reblog"]["card"] for s in full_page)  # the cards: no query
    assert full_count == one_count
    assert full_count <= 4  # BEGIN, the feed page, the posts with everything around them

    for moved in (carol, erin):  # authors who moved: `account.moved`, one query for them all
        async with db.session(write=True) as session:
            await session.execute(
                update(Account).where(Account.id == moved.id).values(moved_to_account_id=dave.id)
            )
            await session.commit()
    moved_count, moved_page = await _page_queries(db, bob.id, 40)
    assert moved_count == full_count + 1
    boosted = [s["reblog"]["account"] for s in moved_page if s["reblog"]]
    assert boosted and all(a["moved"]["id"] == str(dave.id) for a in boosted)
    assert all("moved" not in s["account"] for s in moved_page if s["account"]["id"] == alice.id)


async def test_cached_home_page_is_three_statements(db, client, make_person, run_jobs) -> None:
    """Through the render cache, once the page's renderings are held: BEGIN, the feed, and
    one narrow read (`load_refs`, which also tells whether the viewer has an active filter;
    was four with a separate filters query). A viewer with a filter pays one statement for
    it (the filters), and is served from the cache too."""
    alice, bob = await make_person("alice"), await make_person("bob")
    r = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    assert r.status_code == 200, r.text
    for i in range(5):
        await post_status_id(client, alice, f"post {i} #agora @bob")
    await run_jobs()
    _, warm = await _page_queries(db, bob.id, 40, cached=True)
    count, page = await _page_queries(db, bob.id, 40, cached=True)
    assert len(page) == 5 and page == warm
    assert count == BEGIN + 2

    body = {
        "title": "Spoilers",
        "context": ["home"],
        "filter_action": "warn",
        "keywords_attributes": [{"keyword": "post 3"}],
    }
    r = await client.post("/api/v2/filters", headers=bob.headers, json=body)
    assert r.status_code == 200, r.text
    count, page = await _page_queries(db, bob.id, 40, cached=True)
    assert count == BEGIN + 3  # feed, narrow read, the filters (the renderings are held)
    assert [bool(s["filtered"]) for s in page] == [False, True, False, False, False]


async def test_a_like_is_seven_statements_and_shows_its_count(app, db, client, make_person) -> None:
    """A like through the API: the caller, the post, the like, its notification job, whether
    the author is remote (federation), the counter, and the status shown (`load_refs`; the
    renderings are held); the post is not read again after its counter moved (it was, for
    nothing: every door shows it through hydration). Liked again, it counts once."""
    alice, bob = await make_person("alice"), await make_person("bob")
    post_id = await post_status_id(client, alice, "like me")
    assert (await client.get(f"/api/v1/statuses/{post_id}", headers=bob.headers)).is_success
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(app.state.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        liked = await client.post(f"/api/v1/statuses/{post_id}/favourite", headers=bob.headers)
    finally:
        event.remove(app.state.db.engine.sync_engine, "before_cursor_execute", count)
    assert liked.status_code == 200, liked.text
    assert liked.json()["favourited"] is True and liked.json()["favourites_count"] == 1
    # SQLite: the write session's BEGIN again for the status shown after the commit
    assert len(statements) == 2 * BEGIN + 7, "\n".join(s[:60] for s in statements)
    again = await client.post(f"/api/v1/statuses/{post_id}/favourite", headers=bob.headers)
    assert again.json()["favourites_count"] == 1
    undone = await client.post(f"/api/v1/statuses/{post_id}/unfavourite", headers=bob.headers)
    assert undone.json()["favourited"] is False and undone.json()["favourites_count"] == 0
