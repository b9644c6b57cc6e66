"""Link preview cards (social/posts/preview_cards.py, federation/card_fetch.py), both
databases: a real HTTP server on loopback serves the linked pages; the `fetch_preview_card`
job fetches them through federation's guarded client. The card appears on the Status (and
through the render cache, the same as fresh), in the web app and in trending links, and a
`status.update` is streamed; the first-link rule, refused pages (private address, not HTML,
too large), pages without metadata, edits and the once-a-day refetch."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, update

from agora.config import get_settings
from agora.db.models import Post, PreviewCard, Trend, utcnow
from agora.social.posts.preview_cards import _first_parsed_link, _only_skipped_anchors, first_link
from agora.social.posts.text import MentionTarget, render_html
from federation_peers import FileServer, make_peer
from helpers import post_status
from test_status_cache import _same_pages, empty_cache, jpeg, media_dir  # noqa: F401
from test_streaming import received

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
ARTICLE = b"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Ignored title</title>
<meta property="og:title" content="The Article">
<meta property="og:description" content="What it says.">
<meta property="og:site_name" content="Example News">
<meta property="og:image" content="/img/cover.jpg">
<meta property="og:image:width" content="1200"><meta property="og:image:height" content="630">
<meta property="og:image:alt" content="A cover">
<meta name="author" content="Ada Writer">
<meta property="article:published_time" content="2026-12-01T10:00:00Z">
</head><body>text</body></html>"""
PAGES: dict[str, tuple[str, bytes]] = {
    "/article": ("text/html; charset=utf-8", ARTICLE),
    "/titled": ("text/html", b"<html><head><title> Only  a title </title></head></html>"),
    "/bare": ("text/html", b"<html><body>no metadata at all</body></html>"),
    "/second": ("text/html", b'<meta property="og:title" content="Second page">'),
    "/data.json": ("application/json", b'{"title": "not a page"}'),
    "/big": ("text/html", b"<title>Big</title>" + b" " * 20_000),
    "/img/cover.jpg": ("image/jpeg", jpeg()),
}


class Pages(FileServer):
    """The loopback web server of the linked pages (PAGES, read on each request)."""

    def __init__(self) -> None:
        super().__init__(PAGES)

    @property
    def hits(self) -> Counter[str]:
        """The GETs each path got since the test began."""
        return Counter(self.requests)

    def link(self, path: str) -> str:
        return f"{self.url}{path}"


@pytest.fixture(scope="module")
def site() -> Iterator[Pages]:
    pages = Pages()
    yield pages
    pages.stop()


@pytest.fixture
def pages(site: Pages, monkeypatch: pytest.MonkeyPatch) -> Pages:
    monkeypatch.setattr(get_settings(), "federation_allow_private_addresses", True)
    monkeypatch.setattr(get_settings(), "preview_card_max_bytes", 10_000)
    site.requests.clear()
    return site


async def _card(client: Any, person: Any, status_id: str) -> Any:
    r = await client.get(f"/api/v1/statuses/{status_id}", headers=person.headers)
    assert r.status_code == 200, r.text
    return r.json()["card"]


async def test_a_card_appears_after_the_job(db, client, make_person, run_jobs, pages, harness):
    alice, bob = await make_person("alice"), await make_person("bob")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    posted = await post_status(client, alice, f"read @bob #news {pages.link('/article')} now")
    assert posted["card"] is None
    await run_jobs()  # distributes it (and fetches the card)
    card = await _card(client, bob, posted["id"])
    image, blurhash = card.pop("image"), card.pop("blurhash")
    assert image.startswith(f"{get_settings().base_url}/media/cards/") and blurhash
    served = await client.get(image.removeprefix(get_settings().base_url))
    assert served.status_code == 200 and served.headers["content-type"].startswith("image/")
    fake = image.rsplit("/", 1)[0] + "/" + "0" * 32 + ".webp"
    assert (await client.get(fake.removeprefix(get_settings().base_url))).status_code == 404
    assert card == {
        "url": pages.link("/article"),
        "title": "The Article",
        "description": "What it says.",
        "language": "en",
        "type": "link",
        "author_name": "Ada Writer",
        "author_url": "",
        "provider_name": "Example News",
        "provider_url": pages.link(""),
        "html": "",
        "width": 64,  # the size of the image served (jpeg()), not the page's claim
        "height": 48,
        "image_description": "A cover",
        "embed_url": "",
        "published_at": "2026-12-01T10:00:00.000Z",
        "authors": [{"name": "Ada Writer", "url": "", "account": None}],
    }
    # the web app shows it under the post
    page = await client.get(f"/@alice/{posted['id']}")
    assert 'class="preview-card"' in page.text and 'rel="noopener nofollow ugc"' in page.text
    assert "The Article" in page.text and "Example News" in page.text
    assert f'src="{image}"' in page.text and 'loading="lazy"' in page.text
    # a second post of the same link within a day reuses the card without a fetch
    listener = await harness.listen(bob)
    again = await post_status(client, alice, pages.link("/article"))
    await run_jobs()
    await harness.pump()
    assert (await _card(client, bob, again["id"]))["title"] == "The Article"
    assert pages.hits["/article"] == 1
    assert ("status.update", again["id"]) in [(k, s["id"]) for k, s in await received(listener)]
    # a day later it is fetched again, and a changed page updates every post showing it
    async with db.session() as session, session.begin():
        await session.execute(update(PreviewCard).values(fetched_at=utcnow().replace(year=2025)))
    PAGES["/article"] = ("text/html", ARTICLE.replace(b"The Article", b"The New Article"))
    try:
        third = await post_status(client, alice, pages.link("/article"))
        await run_jobs()
    finally:
        PAGES["/article"] = ("text/html; charset=utf-8", ARTICLE)
    assert pages.hits["/article"] == 2
    for status_id in (posted["id"], third["id"]):
        assert (await _card(client, bob, status_id))["title"] == "The New Article"
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(PreviewCard)) == 1


async def test_cached_renderings_follow_the_card(db, client, make_person, run_jobs, pages):
    alice = await make_person("alice")
    posted = await post_status(client, alice, pages.link("/titled"))
    viewers: list[int | None] = [alice.id, None]
    await _same_pages(db, viewers, [int(posted["id"])])  # cached without a card
    await run_jobs()
    await _same_pages(db, viewers, [int(posted["id"])])
    card = await _card(client, alice, posted["id"])
    assert (card["title"], card["description"], card["image"]) == ("Only a title", "", None)


def test_the_first_link_that_is_not_a_mention_or_a_hashtag() -> None:
    html = (
        '<p><span class="h-card"><a href="https://a.example/@bob" class="u-url mention">@bob</a>'
        '</span> <a href="https://a.example/tags/x" class="mention hashtag" rel="tag">#x</a> '
        '<a href="mailto:x@example.com">mail</a> <a href="https://one.example/page">one</a> '
        '<a href="https://two.example/">two</a></p>'
    )
    assert first_link(html) == "https://one.example/page"
    assert first_link('<p class="quote-inline"><a href="https://q.example/">RE</a></p>') is None
    assert first_link("<p>no links</p>") is None


SKIPPED_OR_NOT = [
    '<p><span class="h-card"><a href="https://a.example/@bob" class="u-url mention">@bob</a>'
    "</span></p>",
    '<p><a href="https://a.example/tags/x" class="mention hashtag" rel="tag">#x</a></p>',
    '<p><a href="https://a.example/tags/x" rel="nofollow tag">#x</a></p>',
    '<p><a class="mention" href=https://a.example/@c>@c</a> <a name="x">anchor</a></p>',
    "<p><a href='https://one.example/'>one</a></p>",
    '<p><a title="class=mention" href="https://two.example/">two</a></p>',
    '<p><A HREF="https://three.example/" CLASS="other">three</A></p>',
    '<p><a\nhref="https://four.example/"\nclass="u-url">four</a></p>',
    '<p><abbr title="x">x</abbr> <a href="mailto:x@example.com">mail</a></p>',
    '<p class="quote-inline"><a href="https://q.example/">RE</a></p>',
    '<p><a href="https://a.example/@d" class="mention">@d</a> https://plain.example/</p>',
]


@pytest.mark.parametrize("html", SKIPPED_OR_NOT)
def test_the_quick_look_at_anchors_agrees_with_the_parser(html: str) -> None:
    """`first_link` skips parsing only where the parser would find nothing: every anchor it
    waves through (no href, a mention's or hashtag's class, rel=tag) the parser skips too."""
    if _only_skipped_anchors(html):
        assert _first_parsed_link(html) is None
    assert first_link(html) == _first_parsed_link(html)


def test_a_rendered_post_with_mentions_and_hashtags_is_not_parsed() -> None:
    targets = {"bob": MentionTarget(1, "bob", "https://a.example/@bob")}
    html = render_html("hi @bob about #agora", targets, "https://a.example")
    assert 'class="u-url mention"' in html and 'class="mention hashtag"' in html
    assert _only_skipped_anchors(html)
    linked = render_html("hi @bob see https://x.example/a", targets, "https://a.example")
    assert not _only_skipped_anchors(linked) and first_link(linked) == "https://x.example/a"


async def test_which_posts_get_a_card(db, client, make_person, run_jobs, pages):
    alice = await make_person("alice")
    first = await post_status(
        client, alice, f"{pages.link('/second')} and {pages.link('/article')}"
    )
    quoting = await post_status(
        client, alice, f"see {pages.link('/article')}", quoted_status_id=first["id"]
    )
    await run_jobs()
    assert (await _card(client, alice, first["id"]))["title"] == "Second page"
    assert await _card(client, alice, quoting["id"]) is None
    assert pages.hits["/article"] == 0  # the quote's link was never fetched


async def test_refused_pages_make_no_card_and_keep_the_post(
    db, client, make_person, run_jobs, pages, monkeypatch
):
    alice = await make_person("alice")
    paths = ("/data.json", "/big", "/bare", "/missing")
    posts = [await post_status(client, alice, f"look {pages.link(p)}") for p in paths]
    await run_jobs()
    for posted in posts:
        assert await _card(client, alice, posted["id"]) is None
    assert [pages.hits[p] for p in paths] == [1, 1, 1, 1]
    # a private address is refused outside the tests' loopback allowance: not even asked
    monkeypatch.setattr(get_settings(), "federation_allow_private_addresses", False)
    private = await post_status(client, alice, f"look {pages.link('/article')}")
    await run_jobs()
    assert await _card(client, alice, private["id"]) is None
    assert pages.hits["/article"] == 0
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(PreviewCard)) == 0
    # turned off, nothing is fetched at all
    monkeypatch.setattr(get_settings(), "federation_allow_private_addresses", True)
    monkeypatch.setattr(get_settings(), "preview_cards", False)
    off = await post_status(client, alice, f"look {pages.link('/article')}")
    await run_jobs()
    assert await _card(client, alice, off["id"]) is None and pages.hits["/article"] == 0


async def test_an_edit_replaces_or_removes_the_card(db, client, make_person, run_jobs, pages):
    alice, bob = await make_person("alice"), await make_person("bob")
    posted = await post_status(client, alice, pages.link("/article"))
    await run_jobs()
    assert (await _card(client, alice, posted["id"]))["title"] == "The Article"

    async def edited(text: str) -> Any:
        r = await client.put(
            f"/api/v1/statuses/{posted['id']}", headers=alice.headers, data={"status": text}
        )
        assert r.status_code == 200, r.text
        await run_jobs()
        return await _card(client, alice, posted["id"])

    assert (await edited(f"now {pages.link('/second')}"))["title"] == "Second page"
    assert await edited("no link any more") is None
    r = await client.put(
        f"/api/v1/statuses/{posted['id']}",
        headers=bob.headers,
        data={"status": pages.link("/article")},
    )
    assert r.status_code == 403  # someone else's post: nothing changed, nothing fetched
    await run_jobs()
    assert await _card(client, alice, posted["id"]) is None


async def test_trending_links_show_their_cards(db, client, make_person, run_jobs, pages):
    alice = await make_person("alice")
    await post_status(client, alice, pages.link("/article"))
    await run_jobs()
    async with db.session() as session, session.begin():
        for url in (pages.link("/article"), "https://no-card.example/x"):
            session.add(
                Trend(
                    kind="link",
                    item=url,
                    score=5.0 if "article" in url else 1.0,
                    review="approved",
                    updated_at=utcnow(),
                )
            )
    links = (await client.get("/api/v1/trends/links")).json()
    assert [(link["url"], link["title"]) for link in links] == [
        (pages.link("/article"), "The Article"),
        ("https://no-card.example/x", "no-card.example/x"),
    ]
    assert "/media/cards/" in links[0]["image"] and links[0]["history"] == []
    assert links[0]["description"] == "What it says."


async def test_the_feed_of_a_trending_link_shows_its_public_posts(
    db, client, make_person, run_jobs, pages
):
    """Mastodon 4.3's `GET /api/v1/timelines/link`: only while the link trends (approved),
    only posts the public timeline would show (public, not unlisted, not followers-only)."""
    alice, bob = await make_person("alice"), await make_person("bob")
    article, other = pages.link("/article"), pages.link("/second")
    shown = await post_status(client, alice, f"read {article}")
    await post_status(client, alice, f"quietly {article}", visibility="unlisted")
    await post_status(client, bob, f"friends only {article}", visibility="private")
    await post_status(client, bob, f"another page {other}")
    await run_jobs()
    feed = "/api/v1/timelines/link"
    assert (await client.get(feed, params={"url": article})).status_code == 404  # no trend
    async with db.session() as session, session.begin():
        session.add(
            Trend(kind="link", item=article, score=3.0, review="approved", updated_at=utcnow())
        )
        session.add(
            Trend(kind="link", item=other, score=3.0, review="pending", updated_at=utcnow())
        )
    for viewer in (None, bob, alice):
        headers = viewer.headers if viewer else {}
        r = await client.get(feed, params={"url": article}, headers=headers)
        assert r.status_code == 200, r.text
        assert [s["id"] for s in r.json()] == [shown["id"]]
        assert r.json()[0]["card"]["url"] == article
    assert (await client.get(feed, params={"url": other})).status_code == 404  # not approved
    assert (await client.get(feed)).status_code == 422
    assert (await client.get(feed, params={"url": article, "limit": "x"})).status_code == 422


async def test_a_received_post_gets_a_card(db, client, run_jobs, pages):
    rob = await make_peer(db, "rob")
    link = pages.link("/article")
    note = {
        "id": f"{rob.uri}/statuses/1",
        "type": "Note",
        "attributedTo": rob.uri,
        "to": [PUBLIC],
        "content": f'<p>new <a href="{link}" rel="nofollow">{link}</a></p>',
        "published": "2026-12-06T02:00:00Z",
    }
    await rob.deliver(client, rob.create(note))
    await run_jobs()
    async with db.session() as session:
        post_id = await session.scalar(select(Post.id).where(Post.uri == note["id"]))
    r = await client.get(f"/api/v1/statuses/{post_id}")
    assert r.status_code == 200 and r.json()["card"]["title"] == "The Article"
