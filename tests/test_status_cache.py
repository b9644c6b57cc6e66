"""The render cache (api/status_cache.py): a page joined from cached renderings is the page
rendered fresh (`entities.status_json` of `hydrate.load_posts`), for every viewer, after every
kind of change, with the cache warm from before the change; the versions that key it are
bumped by the database for every column and part a rendering shows, and only those."""

from __future__ import annotations

import io
import os
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from PIL import Image
from sqlalchemy import select, text, update

from agora.api import serialise
from agora.api.page_cache import get_page_cache
from agora.api.status_cache import RenderCache, Rendered, get_render_cache
from agora.config import get_settings
from agora.data.signals import CURRENT, Disclosure, Stance
from agora.db.models import Account, Filter, Post, utcnow
from agora.social.rules.filtering import PostText
from helpers import boost, follow, make_admin, post_status, post_status_id
from test_streaming_redis import REDIS_URL, _redis_up

SQLITE = os.environ.get("AGORA_TEST_DATABASE", "sqlite") != "postgresql"

COUNTERS = {
    "posts": {
        "replies_count",
        "reblogs_count",
        "favourites_count",
        "render_version",
        "change_stamp",
    },
    "accounts": {
        "followers_count",
        "following_count",
        "statuses_count",
        "last_status_at",
        "render_version",
        "change_stamp",
    },
}
MODELS = {"posts": Post, "accounts": Account}
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def media_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(get_settings(), "media_dir", tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    get_render_cache().clear()


def jpeg(colour: tuple[int, int, int] = (20, 120, 220)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


async def _upload(client: Any, person: Any, description: str) -> str:
    r = await client.post(
        "/api/v2/media",
        headers=person.headers,
        files={"file": ("p.jpg", jpeg(), "image/jpeg")},
        data={"description": description},
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


async def _rendered(
    db: Any, viewer: int | None, ids: list[int], cached: bool, context: str | None = None
) -> Any:
    """The page of `ids` for `viewer` (shown in `context`) through the cache or fresh, and its
    AI-use headers."""
    disclosure = Disclosure()
    token = CURRENT.set(disclosure)
    try:
        async with db.session() as session:
            if cached:
                found = await serialise.shown_statuses(session, viewer, ids, context=context)
                page = orjson.loads(orjson.dumps(found))
            else:
                page = await serialise.statuses(session, viewer, ids, context=context)
    finally:
        CURRENT.reset(token)
    return page, disclosure.close().headers


async def _same_pages(
    db: Any, viewers: list[int | None], ids: list[int], context: str | None = None
) -> list[Any]:
    """Cached and fresh pages agree for each viewer: twice, the second time from the cache.
    Returns the pages, by viewer."""
    pages = []
    for viewer in viewers:
        fresh, fresh_signals = await _rendered(db, viewer, ids, False, context)
        for _ in range(2):
            cached, cached_signals = await _rendered(db, viewer, ids, True, context)
            assert cached == fresh, f"viewer {viewer} in {context}"
            assert cached_signals == fresh_signals, f"viewer {viewer} in {context}"
        pages.append(fresh)
    return pages


@dataclass
class ChangeWorld:
    """What the cached-against-fresh tests change: four people (bob follows alice and carol,
    carol follows alice), an admin, and posts of every shape (`ids`, in posting order): 0 a
    mention and a hashtag, 1 followers-only, 2 a public photo, 3 a followers-only photo (its
    media signed per viewer), 4 carol's poll, 5 a quote of 0, 6 a reply to 0, 7-8 bob's and
    carol's boosts of 0, 9 alice's boost of the poll, 10 dave's post with a content warning,
    11 bob's quote of 2."""

    alice: Any
    bob: Any
    carol: Any
    dave: Any
    admin: Any
    poll: dict[str, Any]
    ids: list[str]


async def change_world(db: Any, client: Any, make_person: Any, run_jobs: Any) -> ChangeWorld:
    """The people and posts of `ChangeWorld`, their jobs run."""
    alice, bob, carol, dave = [await make_person(n) for n in ("alice", "bob", "carol", "dave")]
    admin = await make_admin(db, make_person)
    for target in (alice, carol):
        await follow(client, bob, target)
    await follow(client, carol, alice)
    ids: list[str] = []
    ids.append(await post_status_id(client, alice, "hello @bob #agora"))
    ids.append(await post_status_id(client, alice, "friends only", visibility="private"))
    photo = await _upload(client, alice, "a blue square")
    ids.append(await post_status_id(client, alice, "public photo", **{"media_ids[]": [photo]}))
    secret = await _upload(client, alice, "a private photo")
    ids.append(
        await post_status_id(
            client, alice, "private photo", visibility="private", **{"media_ids[]": [secret]}
        )
    )
    poll = await post_status(
        client,
        carol,
        "which?",
        **{"poll[options][]": ["this", "that"], "poll[expires_in]": "3600"},
    )
    ids.append(poll["id"])
    ids.append(await post_status_id(client, carol, "quoting", quoted_status_id=ids[0]))
    ids.append(await post_status_id(client, carol, "a reply", in_reply_to_id=ids[0]))
    ids += [(await boost(client, who, ids[0]))["id"] for who in (bob, carol)]
    ids.append((await boost(client, alice, poll["id"]))["id"])
    ids.append(await post_status_id(client, dave, "dave here", spoiler_text="a warning"))
    ids.append(await post_status_id(client, bob, "bob quotes", quoted_status_id=ids[2]))
    await run_jobs()
    return ChangeWorld(alice, bob, carol, dave, admin, poll, ids)


def every_change(client: Any, w: ChangeWorld) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
    """Every kind of change a cached rendering must follow, in order, each a named request
    made when called: an edit, new media, a poll vote, a name and avatar, a consent choice, a
    like, a bookmark, a pin, a conversation mute, a follow, a revoked quote, a block, a
    silence, a deletion (with its boosts), a suspension."""
    ids, alice, bob = w.ids, w.alice, w.bob
    edit = {"status": "hello again @carol #python", "spoiler_text": "cw"}

    async def new_media() -> Any:
        other = await _upload(client, alice, "a red square")
        form = {"status": "public photo", "media_ids[]": [other]}
        return await client.put(f"/api/v1/statuses/{ids[2]}", headers=alice.headers, data=form)

    def act(path: str, who: Any, **kw: Any) -> Callable[[], Awaitable[Any]]:
        return lambda: client.post(path, headers=who.headers, **kw)

    def moderate(target: Any, action: str) -> Callable[[], Awaitable[Any]]:
        path = f"/api/v1/admin/accounts/{target.id}/action"
        return act(path, w.admin, data={"type": action})

    profile = {"display_name": "Alice A."}
    avatar = {"avatar": ("me.jpg", jpeg((200, 30, 30)), "image/jpeg")}
    consent = {"syntheticContentGeneration": True, "bulkDataset": True}
    return [
        (
            "edit",
            lambda: client.put(f"/api/v1/statuses/{ids[0]}", headers=alice.headers, data=edit),
        ),
        ("media", new_media),
        (
            "vote",
            act(f"/api/v1/polls/{w.poll['poll']['id']}/votes", bob, data={"choices[]": ["1"]}),
        ),
        (
            "profile",
            lambda: client.patch(
                "/api/v1/accounts/update_credentials",
                headers=alice.headers,
                data=profile,
                files=avatar,
            ),
        ),
        (
            "consent",
            lambda: client.patch("/api/v1/agora/data_reuse", headers=alice.headers, json=consent),
        ),
        ("like", act(f"/api/v1/statuses/{ids[0]}/favourite", bob)),
        ("bookmark", act(f"/api/v1/statuses/{ids[10]}/bookmark", bob)),
        ("pin", act(f"/api/v1/statuses/{ids[2]}/pin", alice)),
        ("mute", act(f"/api/v1/statuses/{ids[0]}/mute", bob)),
        ("follow", act(f"/api/v1/accounts/{w.dave.id}/follow", alice)),
        ("revoke quote", act(f"/api/v1/statuses/{ids[2]}/quotes/{ids[11]}/revoke", alice)),
        ("block", act(f"/api/v1/accounts/{w.carol.id}/block", bob)),
        ("silence", moderate(alice, "silence")),
        ("delete", lambda: client.delete(f"/api/v1/statuses/{ids[0]}", headers=alice.headers)),
        ("suspend", moderate(w.carol, "suspend")),
    ]


async def test_cached_pages_match_fresh_ones_after_every_change(db, client, make_person, run_jobs):
    w = await change_world(db, client, make_person, run_jobs)
    page = [int(i) for i in reversed(w.ids)]
    viewers: list[int | None] = [w.alice.id, w.bob.id, w.carol.id, w.dave.id, None]
    await _same_pages(db, viewers, page)
    assert len(get_render_cache()) > 0
    for name, change in every_change(client, w):
        response = await change()
        assert response.status_code == 200, (name, response.text)
        await run_jobs()
        await _same_pages(db, viewers, page)
    # what is left: the deleted post's boosts and the suspended author's posts are gone
    shown, _ = await _rendered(db, w.bob.id, page, cached=True)
    shown_ids = {s["id"] for s in shown}
    ids = w.ids
    assert ids[0] not in shown_ids and ids[7] not in shown_ids and ids[8] not in shown_ids
    assert w.poll["id"] not in shown_ids and ids[10] in shown_ids


async def _filter(client: Any, person: Any, action: str, contexts: list[str], **form: Any) -> str:
    body = {"title": action, "context": contexts, "filter_action": action} | form
    response = await client.post("/api/v2/filters", headers=person.headers, json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def _words(keywords: dict[str, bool]) -> dict[str, Any]:
    return {"keywords_attributes": [{"keyword": k, "whole_word": w} for k, w in keywords.items()]}


async def test_cached_pages_match_fresh_ones_for_a_viewer_with_filters(
    db, client, make_person, run_jobs
):
    """Filters on the cached path: in every context, warn, hide and blur filters, whole-word
    keywords and not, a status filter and an expired filter mark (`filtered`) and hide the
    same posts, boosts and quotes of matched posts included, as the fresh rendering does."""
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    for target in (bob, carol):
        await follow(client, alice, target)
    every = ["home", "notifications", "public", "thread", "account"]
    await _filter(client, alice, "warn", every, **_words({"cat": True, "spice": False}))
    hide = await _filter(client, alice, "hide", ["home", "thread"], **_words({"dog": False}))
    await _filter(
        client, alice, "blur", ["public", "account", "notifications"], **_words({"dune": True})
    )
    marked = await _filter(client, alice, "warn", ["home", "thread"])
    expired = await _filter(
        client, alice, "hide", every, **_words({"zebra": True}), expires_in=3600
    )
    async with db.session(write=True) as session:
        await session.execute(
            update(Filter).where(Filter.id == int(expired)).values(expires_at=utcnow() - DAY)
        )
        await session.commit()
    ids = {
        "cat": await post_status_id(client, bob, "my Cat sleeps"),
        "category": await post_status_id(client, bob, "a category error, allspice"),
        "hotdog": await post_status_id(client, bob, "hotdog stand"),
        "spoiler": await post_status_id(client, bob, "the plot", spoiler_text="Dune spoilers"),
        "zebra": await post_status_id(client, bob, "a zebra"),
        "plain": await post_status_id(client, bob, "nothing to see"),
    }
    poll = await post_status(
        client, bob, "pets?", **{"poll[options][]": ["a dog", "a bird"], "poll[expires_in]": "3600"}
    )
    ids["poll"] = poll["id"]
    photo = await _upload(client, bob, "a dune at dusk")
    ids["photo"] = await post_status_id(client, bob, "look", **{"media_ids[]": [photo]})
    secret = await _upload(client, bob, "my cat, privately")  # rendered per viewer
    ids["secret"] = await post_status_id(
        client, bob, "for friends", visibility="private", **{"media_ids[]": [secret]}
    )
    r = await client.post(
        f"/api/v2/filters/{marked}/statuses",
        headers=alice.headers,
        data={"status_id": ids["plain"]},
    )
    assert r.status_code == 200, r.text
    for name in ("cat", "hotdog", "plain", "poll", "category"):
        ids[f"boost of {name}"] = (await boost(client, carol, ids[name]))["id"]
    ids["quote of hotdog"] = await post_status_id(
        client, carol, "ha", quoted_status_id=ids["hotdog"]
    )
    ids["quote of cat"] = await post_status_id(client, carol, "aw", quoted_status_id=ids["cat"])
    await run_jobs()
    page = [int(i) for i in reversed(ids.values())]
    shown: dict[str | None, dict[str, Any]] = {}
    for context in (None, *every):
        ours, _ = await _same_pages(db, [alice.id, bob.id], page, context)
        shown[context] = {s["id"]: s for s in ours}

    def filtered(context: str | None, name: str) -> list[tuple[str, Any, Any]]:
        return [
            (f["filter"]["title"], f["keyword_matches"], f["status_matches"])
            for f in shown[context][ids[name]]["filtered"]
        ]

    home = shown["home"]
    gone = {ids[n] for n in ("hotdog", "boost of hotdog", "poll", "boost of poll")}
    assert set(ids.values()) - set(home) == gone  # hide: "dog" inside words too
    assert filtered("home", "cat") == [("warn", ["Cat"], None)]
    assert filtered("home", "boost of cat") == [("warn", ["Cat"], None)]
    assert home[ids["boost of cat"]]["reblog"]["filtered"] == home[ids["cat"]]["filtered"]
    assert filtered("home", "category") == [("warn", ["spice"], None)]  # not whole-word: allspice
    assert filtered("home", "plain") == [("warn", None, [ids["plain"]])]
    assert filtered("home", "boost of plain") == [("warn", None, [ids["plain"]])]
    assert filtered("home", "secret") == [("warn", ["cat"], None)]  # its media description
    assert filtered("home", "zebra") == filtered("home", "spoiler") == []  # expired; blur: not here
    quoted = home[ids["quote of hotdog"]]["quote"]["quoted_status"]  # a quote is never removed
    assert [f["filter"]["id"] for f in quoted["filtered"]] == [hide]
    assert filtered("public", "spoiler") == [("blur", ["Dune"], None)]
    assert filtered("account", "photo") == [("blur", ["dune"], None)]
    assert ids["hotdog"] in shown["public"] and filtered("public", "hotdog") == []
    assert set(shown[None]) == set(ids.values())  # no context: every filter, nothing removed
    assert {t for t, _, _ in filtered(None, "hotdog")} == {"hide"}
    assert {t for t, _, _ in filtered(None, "poll")} == {"hide"}  # a poll option
    assert all(not s["filtered"] for s in (await _same_pages(db, [bob.id], page, "home"))[0])
    r = await client.get("/api/v1/timelines/home", headers=alice.headers)
    assert ids["hotdog"] not in {s["id"] for s in r.json()} and ids["cat"] in {
        s["id"] for s in r.json()
    }


async def test_a_moved_author_s_statuses_carry_moved(db, client, make_person):
    """`status.account.moved` (as Mastodon embeds it): the move bumps the author's render
    version (migration 0037's trigger), so a warm cache shows it at once."""
    alice, bob = await make_person("alice"), await make_person("bob")
    sid = await post_status_id(client, alice, "before moving")
    await _same_pages(db, [bob.id, None], [int(sid)])
    async with db.session(write=True) as session:
        await session.execute(
            update(Account).where(Account.id == alice.id).values(moved_to_account_id=bob.id)
        )
        await session.commit()
    await _same_pages(db, [bob.id, None], [int(sid)])
    shown = (await client.get(f"/api/v1/statuses/{sid}", headers=bob.headers)).json()
    assert shown["account"]["moved"]["id"] == str(bob.id)
    assert "moved" not in shown["account"]["moved"]
    history = (await client.get(f"/api/v1/statuses/{sid}/history", headers=bob.headers)).json()
    assert history[-1]["account"]["moved"]["id"] == str(bob.id)


async def test_a_rendering_cached_for_one_viewer_is_never_shown_to_another(
    db, client, make_person, run_jobs
):
    alice, bob, dave = [await make_person(n) for n in ("alice", "bob", "dave")]
    await follow(client, bob, alice)
    secret = await post_status_id(client, alice, "followers only", visibility="private")
    shared = await post_status_id(client, alice, "for all")
    await run_jobs()
    warm = await client.get("/api/v1/timelines/home", headers=bob.headers)
    assert [s["id"] for s in warm.json()] == [shared, secret]
    for who in (dave.headers, {}):
        r = await client.get(f"/api/v1/statuses/{secret}", headers=who)
        assert r.status_code == 404
        r = await client.get(f"/api/v1/accounts/{alice.id}/statuses", headers=who)
        assert [s["id"] for s in r.json()] == [shared]
    r = await client.get(f"/api/v1/statuses/{shared}", headers=dave.headers)
    assert r.status_code == 200 and r.json()["favourited"] is False


async def test_the_home_timeline_answers_from_the_cache(
    db, client, make_person, run_jobs, monkeypatch
):
    # the renderings, not the whole page (tests/test_page_cache.py)
    monkeypatch.setattr(get_page_cache(), "max_bytes", 0)
    alice, bob = [await make_person(n) for n in ("alice", "bob")]
    await follow(client, bob, alice)
    for i in range(5):
        await post_status_id(client, alice, f"post {i}")
    await run_jobs()
    cache = get_render_cache()
    first = await client.get("/api/v1/timelines/home", headers=bob.headers)
    hits, misses = cache.hits, cache.misses
    second = await client.get("/api/v1/timelines/home", headers=bob.headers)
    assert first.json() == second.json() and len(second.json()) == 5
    assert (cache.hits - hits, cache.misses - misses) == (6, 0)  # five posts, one author
    assert second.headers["content-type"] == "application/json"


async def _trigger_columns(db: Any, name: str) -> set[str]:
    async with db.session() as session:
        if session.bind.dialect.name == "sqlite":
            sql = await session.scalar(
                text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :n"),
                {"n": name},
            )
            assert sql, f"trigger {name} is missing"
            found = re.search(r"UPDATE OF (.*?) ON", sql)
            assert found
            return {c.strip() for c in found.group(1).split(",")}
        rows = await session.scalars(
            text(
                "SELECT a.attname FROM pg_trigger t JOIN pg_attribute a "
                "ON a.attrelid = t.tgrelid AND a.attnum = ANY(t.tgattr) WHERE t.tgname = :n"
            ),
            {"n": name},
        )
        return set(rows.all())


@pytest.mark.parametrize("table", ["posts", "accounts"])
async def test_every_rendered_column_bumps_the_render_version(db, table):
    """A column added to posts or accounts must be added to the migration's triggers (or,
    for a counter spliced in at read time, to `COUNTERS` here and in status_cache.py)."""
    columns = {c.name for c in MODELS[table].__table__.columns}
    assert await _trigger_columns(db, f"{table}_render_version") == columns - COUNTERS[table]


async def test_versions_move_with_content_and_not_with_counters(db, client, make_person):
    alice = await make_person("alice")
    pid = int(await post_status_id(client, alice, "hello"))

    async def versions() -> tuple[int, int]:
        async with db.session() as session:
            post = await session.scalar(select(Post.render_version).where(Post.id == pid))
            account = await session.scalar(
                select(Account.render_version).where(Account.id == alice.id)
            )
            return int(post or 0), int(account or 0)

    start = await versions()
    async with db.session(write=True) as session:
        await session.execute(
            update(Post).where(Post.id == pid).values(favourites_count=Post.favourites_count + 3)
        )
        await session.execute(
            update(Account)
            .where(Account.id == alice.id)
            .values(followers_count=Account.followers_count + 1, statuses_count=9)
        )
        await session.commit()
    assert await versions() == start
    async with db.session(write=True) as session:
        await session.execute(update(Post).where(Post.id == pid).values(sensitive=True))
        await session.commit()
    assert await versions() == (start[0] + 1, start[1])
    async with db.session(write=True) as session:
        await session.execute(update(Account).where(Account.id == alice.id).values(note="hi"))
        await session.commit()
    assert await versions() == (start[0] + 1, start[1] + 1)
    media = await _upload(client, alice, "first")
    after_upload = await versions()
    assert after_upload[0] == start[0] + 1  # not attached yet: the post is unchanged
    r = await client.put(
        f"/api/v1/statuses/{pid}",
        headers=alice.headers,
        data={"status": "hello", "media_ids[]": [media]},
    )
    assert r.status_code == 200, r.text
    assert (await versions())[0] > after_upload[0]


async def test_a_new_posts_own_parts_leave_its_version_and_later_ones_bump_it(
    db, client, make_person
):
    """Migration 0045: on PostgreSQL the mention and hashtag rows written with a new post,
    in its transaction, do not bump its `render_version` (nobody can have rendered it); on
    SQLite they still do. A mention changed by a later transaction (an edit) bumps it on
    both, and the cached Status follows the edit."""
    alice = await make_person("alice")
    await make_person("bob")
    pid = int(await post_status_id(client, alice, "hello @bob #cats"))
    async with db.session() as session:
        version = await session.scalar(select(Post.render_version).where(Post.id == pid))
    assert version == (2 if SQLITE else 0)
    await client.get(f"/api/v1/statuses/{pid}", headers=alice.headers)  # rendered, cached
    r = await client.put(
        f"/api/v1/statuses/{pid}", headers=alice.headers, data={"status": "hello #cats"}
    )
    assert r.status_code == 200, r.text
    async with db.session() as session:
        after = await session.scalar(select(Post.render_version).where(Post.id == pid))
    assert after is not None and after > version
    shown = (await client.get(f"/api/v1/statuses/{pid}", headers=alice.headers)).json()
    assert shown["mentions"] == [] and [t["name"] for t in shown["tags"]] == ["cats"]


async def test_the_cache_is_bounded_and_forgets_the_least_recently_used() -> None:
    cache = RenderCache(entries=2)
    entry = Rendered(b'{"a":1}', Stance((), False, False, False))
    await cache.put_many({(0, 1): entry, (0, 2): entry})
    assert (0, 1) in await cache.get_many([(0, 1)], Rendered.load)  # 1: the most recent
    await cache.put_many({(0, 3): entry})
    assert set(await cache.get_many([(0, 1), (0, 2), (0, 3)], Rendered.load)) == {(0, 1), (0, 3)}
    assert len(cache) == 2


async def test_renderings_survive_the_trip_through_redis() -> None:
    entry = Rendered(b'{"id":"1"}', Stance((("train-ai", False),), True, True, False))
    assert Rendered.load(entry.dump()) == entry
    post = Rendered(b'{"id":"2"}', entry.stance, PostText("cw", "a cat", ("alt", "text")))
    assert Rendered.load(post.dump()) == post


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
async def test_processes_share_renderings_through_redis() -> None:
    key = (0, secrets.randbits(60), 1, 2)
    entry = Rendered(b'{"id":"1"}', Stance((("train-ai", True),), False, False, True))
    one, other = (RenderCache(10, REDIS_URL, 60) for _ in range(2))
    try:
        await one.put_many({key: entry})
        assert await other.get_many([key], Rendered.load) == {key: entry}
        assert len(other) == 1  # now held in its own memory too
    finally:
        await one.close()
        await other.close()
    down = RenderCache(10, "redis://127.0.0.1:1/0", 60)  # nothing listens: a miss, no error
    await down.put_many({key: entry})
    down.clear()
    assert await down.get_many([key], Rendered.load) == {}


async def test_nothing_rendered_from_an_uncommitted_write_is_kept(db, client, make_person):
    alice = await make_person("alice")
    pid = int(await post_status_id(client, alice, "committed"))
    get_render_cache().clear()
    async with db.session(write=True) as session:
        await session.execute(update(Post).where(Post.id == pid).values(text="rolled back"))
        await session.execute(
            update(Post).where(Post.id == pid).values(content_html="<p>rolled back</p>")
        )
        shown = orjson.loads(orjson.dumps(await serialise.shown_statuses(session, None, [pid])))
        assert shown[0]["content"] == "<p>rolled back</p>"  # its own transaction sees it
        await session.rollback()
    assert len(get_render_cache()) == 0
    async with db.session(write=True) as session:  # a later real edit takes the same version
        await session.execute(
            update(Post).where(Post.id == pid).values(content_html="<p>edited</p>")
        )
        await session.commit()
    cached, _ = await _rendered(db, None, [pid], cached=True)
    assert cached[0]["content"] == "<p>edited</p>"
