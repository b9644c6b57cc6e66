"""The web app's post cards (web/card_html.py, web/post_cards.py): a page joined from cards
cached per post version is the page rendered fresh from hydrated posts, for every viewer,
after every kind of change, with the cache warm from before the change; no viewer is ever
shown another's marks, CSRF token or signed media URLs; each footer shape kept with holes is
the footer rendered with the values."""

from __future__ import annotations

import itertools
import re
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import update

from agora.data.signals import CURRENT, Disclosure, disclose_views
from agora.db.models import Account, utcnow
from agora.http.render_cache import CARD, get_render_cache
from agora.social.posts.hydrate import load_posts
from agora.web import card_html, formatting
from agora.web.card_footers import FooterShape, FooterText, footer_html
from agora.web.card_html import Card, card_of, joined, shown_of_view
from agora.web.jinja_env import template_module
from agora.web.post_cards import cards_html, shown_cards
from helpers import HX, boost, follow, post_status, post_status_id, web_sign_in
from test_status_cache import (  # noqa: F401
    _filter,
    _upload,
    _words,
    change_world,
    empty_cache,
    every_change,
    media_dir,
)

SIGNED = re.compile(r"viewer=(\d+)&amp;sig=")
NOW = utcnow()


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative times from one instant, so that fresh and cached cards cannot straddle a
    minute."""
    monkeypatch.setattr(card_html, "ago", lambda when: formatting.ago(when, NOW))


async def _rendered(
    db: Any, viewer: int | None, ids: list[int], cached: bool, context: str | None = None
) -> tuple[str, dict[str, str]]:
    """The cards of `ids` for `viewer` (shown in `context`) joined from the cache or rendered
    fresh from `load_posts`, and the AI-use headers they disclose."""
    disclosure = Disclosure()
    token = CURRENT.set(disclosure)
    csrf = f"csrf-of-{viewer}"
    try:
        async with db.session() as session:
            if cached:
                html = str(
                    cards_html(
                        await shown_cards(session, viewer, ids, context=context), viewer, csrf
                    )
                )
            else:
                views = await load_posts(session, viewer, ids, context=context)
                shown = [views[i] for i in ids if i in views]
                disclose_views(shown)
                html = "".join(joined(shown_of_view(v, viewer), viewer, csrf) for v in shown)
    finally:
        CURRENT.reset(token)
    return html, disclosure.close().headers


def _assert_own(html: str, viewer: int | None) -> None:
    """Nothing in a viewer's page belongs to another viewer: CSRF tokens, signed URLs."""
    assert set(re.findall(r"csrf-of-(\w+)", html)) <= {str(viewer)}
    assert set(SIGNED.findall(html)) <= ({str(viewer)} if viewer is not None else set())


async def _same_pages(
    db: Any, viewers: list[int | None], ids: list[int], context: str | None = None
) -> dict[int | None, str]:
    """Cached and fresh pages agree for each viewer: twice, the second time from the cache.
    Returns the pages, by viewer."""
    pages = {}
    for viewer in viewers:
        fresh, fresh_signals = await _rendered(db, viewer, ids, False, context)
        _assert_own(fresh, viewer)
        for _ in range(2):
            cached, cached_signals = await _rendered(db, viewer, ids, True, context)
            assert cached == fresh, f"viewer {viewer} in {context}"
            assert cached_signals == fresh_signals, f"viewer {viewer} in {context}"
        pages[viewer] = fresh
    return pages


def _cards_of(html: str) -> list[str]:
    return re.findall(r'<article class="post card" id="post-(\d+)"', html)


async def test_cached_cards_match_fresh_ones_after_every_change(db, client, make_person, run_jobs):
    """The world and the changes of the API's render-cache test (test_status_cache), cards
    compared for four people and a signed-out visitor after each."""
    w = await change_world(db, client, make_person, run_jobs)
    ids, poll = w.ids, w.poll
    page = [int(i) for i in reversed(ids)]
    viewers: list[int | None] = [w.alice.id, w.bob.id, w.carol.id, w.dave.id, None]
    first = await _same_pages(db, viewers, page)
    assert any(k[0] == CARD for k in get_render_cache()._lru)
    assert SIGNED.search(first[w.bob.id]) and ids[3] in _cards_of(first[w.bob.id])
    assert ids[3] not in _cards_of(first[w.dave.id]) and ids[1] not in _cards_of(first[None])
    assert 'name="choices"' in first[w.bob.id] and 'name="choices"' not in first[w.carol.id]
    for name, change in every_change(client, w):
        response = await change()
        assert response.status_code == 200, (name, response.text)
        await run_jobs()
        after = await _same_pages(db, viewers, page)
        if name == "edit":
            assert "hello again" in after[w.dave.id] and "hello @bob" not in after[w.dave.id]
        elif name == "vote":
            assert "your vote" in after[w.bob.id] and "your vote" not in after[w.alice.id]
        elif name == "profile":
            assert "Alice A." in after[None] and "/media/profile/" in after[None]
        elif name == "revoke quote":
            assert "The quoted post was removed by its author." in after[w.carol.id]
        elif name == "block":
            assert poll["id"] not in _cards_of(after[w.bob.id])
            assert poll["id"] in _cards_of(after[w.dave.id])
        elif name == "delete":
            for gone in (ids[0], ids[7], ids[8]):  # the post and its boosts
                assert gone not in _cards_of(after[w.dave.id])
        elif name == "suspend":
            assert poll["id"] not in _cards_of(after[w.dave.id])
            assert ids[10] in _cards_of(after[w.dave.id])


async def test_cached_cards_match_fresh_ones_for_a_viewer_with_filters(
    db, client, make_person, run_jobs
):
    """Warn filters wrap the same cards, hide filters remove the same ones, in every
    context, boosts and polls included."""
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    for target in (bob, carol):
        await follow(client, alice, target)
    every = ["home", "notifications", "public", "thread", "account"]
    await _filter(client, alice, "warn", every, **_words({"cat": True}))
    await _filter(client, alice, "hide", ["home"], **_words({"dog": False}))
    ids = {
        "cat": await post_status_id(client, bob, "my Cat sleeps"),
        "hotdog": await post_status_id(client, bob, "hotdog stand"),
        "plain": await post_status_id(client, bob, "nothing to see"),
    }
    poll = await post_status(
        client, bob, "pets?", **{"poll[options][]": ["a dog", "a cat"], "poll[expires_in]": "3600"}
    )
    ids["poll"] = poll["id"]
    for name in ("cat", "hotdog", "poll"):
        ids[f"boost of {name}"] = (await boost(client, carol, ids[name]))["id"]
    await run_jobs()
    page = [int(i) for i in reversed(ids.values())]
    for context in (None, *every):
        await _same_pages(db, [alice.id, bob.id], page, context)
    home = (await _same_pages(db, [alice.id], page, "home"))[alice.id]
    assert set(_cards_of(home)) == {ids["cat"], ids["boost of cat"], ids["plain"]}
    assert home.count("Filtered: warn") == 2


async def test_a_card_signed_for_one_viewer_is_never_shown_to_another(
    db, client, make_person, run_jobs
):
    """Through the web pages: bob's home (warming the cache) holds alice's private photo
    signed for bob; carol, another follower, gets it signed for her; dave and signed-out
    visitors of alice's profile do not get it at all, and nobody gets bob's marks."""
    alice, bob, carol, dave = [await make_person(n) for n in ("alice", "bob", "carol", "dave")]
    for who in (bob, carol):
        await follow(client, who, alice)
    secret = await _upload(client, alice, "private")
    hidden_id = await post_status_id(
        client, alice, "for followers", visibility="private", **{"media_ids[]": [secret]}
    )
    shared = await post_status_id(client, alice, "for all")
    await run_jobs()
    await client.post(f"/api/v1/statuses/{shared}/favourite", headers=bob.headers)
    pages = {}
    for person in (bob, carol, dave):
        client.cookies.clear()
        await web_sign_in(client, person.username)
        pages[person.id] = (await client.get(f"/@{alice.username}")).text
        if person is bob:
            home = (await client.get("/home")).text
            assert set(SIGNED.findall(home)) == {str(bob.id)}
            assert 'aria-pressed="true" aria-label="Like (1)"' in home
    client.cookies.clear()
    anonymous = (await client.get(f"/@{alice.username}")).text
    assert set(SIGNED.findall(pages[bob.id])) == {str(bob.id)}
    assert set(SIGNED.findall(pages[carol.id])) == {str(carol.id)}
    for page in (pages[dave.id], anonymous):
        assert hidden_id not in _cards_of(page) and not SIGNED.search(page)
        assert shared in _cards_of(page)
    for page in (pages[carol.id], pages[dave.id], anonymous):
        assert 'aria-pressed="true"' not in page  # bob's like is bob's
    assert "Like (1)" in pages[carol.id]


async def test_the_home_page_answers_from_the_cache(db, client, make_person, run_jobs):
    """A home page asked again renders no card: every card and footer is a hit, and the page
    is the page rendered with an empty cache."""
    alice, bob = [await make_person(n) for n in ("alice", "bob")]
    await follow(client, bob, alice)
    for i in range(5):
        await post_status_id(client, alice, f"post {i}")
    await run_jobs()
    await web_sign_in(client, bob.username)
    cache = get_render_cache()
    first = (await client.get("/home")).text
    hits, misses = cache.hits, cache.misses
    second = (await client.get("/home")).text
    assert (cache.hits - hits, cache.misses - misses) == (5, 0)
    cache.clear()
    third = (await client.get("/home")).text
    idempotency = re.compile(r'name="idempotency" value="\d+"')
    assert idempotency.sub("", first) == idempotency.sub("", second) == idempotency.sub("", third)
    assert len(_cards_of(second)) == 5


async def test_a_like_answers_the_card_as_the_page_shows_it(db, client, make_person, run_jobs):
    """The HTMX fragment of a like (from the cache) is the card the page then shows."""
    alice, bob = [await make_person(n) for n in ("alice", "bob")]
    await follow(client, bob, alice)
    pid = await post_status_id(client, alice, "like me")
    await run_jobs()
    csrf = await web_sign_in(client, bob.username)
    liked = await client.post(
        f"/web/statuses/{pid}/favourite", headers={**HX, "X-CSRF-Token": csrf}
    )
    assert liked.status_code == 200 and 'aria-label="Like (1)"' in liked.text
    page = (await client.get("/home")).text
    assert liked.text.strip() in page


def test_every_footer_shape_kept_with_holes_is_the_footer_rendered_with_values() -> None:
    text = FooterText("11", "22", 'o"<&name', "3", "4", "5", "66", "tok&en")
    escaped = FooterText("11", "22", "o&#34;&lt;&amp;name", "3", "4", "5", "66", "tok&amp;en")
    macros = template_module("_post_viewer.html")
    for flags in itertools.product((False, True), repeat=len(FooterShape._fields)):
        shape = FooterShape(*flags)
        assert footer_html(shape, escaped) == str(macros.footer(shape, text)), shape


async def test_cards_survive_the_trip_through_redis(db, client, make_person) -> None:
    alice = await make_person("alice")
    pid = await post_status_id(client, alice, "to Redis", spoiler_text="cw")
    async with db.session() as session:
        views = await load_posts(session, None, [int(pid)])
    card = card_of(views[int(pid)], None)
    assert Card.load(card.dump()) == card
    assert isinstance(card.created_at, datetime) and len(card.parts) > 10


async def test_nothing_rendered_from_an_uncommitted_write_is_kept(db, client, make_person):
    alice = await make_person("alice")
    pid = int(await post_status_id(client, alice, "committed"))
    get_render_cache().clear()
    async with db.session(write=True) as session:
        await session.execute(
            update(Account).where(Account.id == alice.id).values(display_name="rolled back")
        )
        found = await shown_cards(session, None, [pid], context=None)
        assert "rolled back" in str(cards_html(found, None, ""))
        await session.rollback()
    assert len(get_render_cache()) == 0
