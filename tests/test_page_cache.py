"""Whole home pages cached per viewer (api/page_cache.py): after every kind of change, with
the cache warm from before it, the page served is the page built fresh (bytes, Link header,
AI-use headers); an unchanged page is served again after one statement; every table the home
timeline's reads look at has a stamp the triggers keep (migration 0042). On PostgreSQL with
the page change notices live (a page proved once is answered from memory until a change is
heard: tests/test_page_change_notices.py)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from sqlalchemy import event, text

from agora.api import page_cache
from agora.api.page_cache import CachedPage, PageCache, get_page_cache
from agora.api.status_cache import get_render_cache
from agora.config import get_settings
from agora.db.models import Base
from agora.metrics import REQUESTS
from agora.social.posts.hydrate import _refs_statement
from agora.social.reading.timelines import _home_statement
from helpers import boost, follow, make_admin, post_status, post_status_id, upload_image

HOME = "/api/v1/timelines/home?limit=40"
SIGNALS = ("content-usage", "x-robots-tag", "tdm-reservation", "link")


@pytest.fixture(autouse=True)
def empty_caches() -> None:
    get_page_cache().clear()
    get_render_cache().clear()


@pytest.fixture(autouse=True)
async def change_notices_live(db: Any) -> Any:
    """On PostgreSQL every test here runs with the page change notices live
    (db/change_notices.py): a page proved once is answered from memory until a change is
    heard, so each comparison below also proves that every kind of change is heard."""
    notices = db.listen_for_changes()
    if notices is None:  # SQLite: every page answered again costs its statement
        yield None
        return
    assert await notices.wait_live()
    yield notices
    await notices.stop()
    db.notices = None


async def _home(client: Any, person: Any, url: str = HOME) -> tuple[bytes, dict[str, str | None]]:
    r = await client.get(url, headers=person.headers if person is not None else {})
    assert r.status_code == 200, r.text
    return r.content, {h: r.headers.get(h) for h in SIGNALS}


async def _fresh(client: Any, person: Any, monkeypatch: pytest.MonkeyPatch, url: str = HOME) -> Any:
    """The page built now, with no page cache in the process (neither the page door nor
    `served` can answer a kept page, and nothing is kept)."""
    with monkeypatch.context() as m:
        m.setattr(page_cache, "_cache", PageCache(max_bytes=0, seconds=0))
        return await _home(client, person, url)


async def _same_pages(
    client: Any, monkeypatch: pytest.MonkeyPatch, viewers: Any, urls: Any = (HOME,)
) -> None:
    """Each page through the cache (warm from before the change) is the page built fresh;
    asked again unchanged, it is served from the cache."""
    cache = get_page_cache()
    for url in urls:
        for viewer in viewers:
            served = await _home(client, viewer, url)
            assert served == await _fresh(client, viewer, monkeypatch, url), (url, viewer)
            hits = cache.hits
            assert await _home(client, viewer, url) == served
            assert cache.hits == hits + 1, f"{url} {viewer}: an unchanged page was rebuilt"


async def test_cached_home_pages_match_fresh_ones_after_every_change(
    db, client, make_person, run_jobs, monkeypatch
):
    alice, bob, carol, dave = [await make_person(n) for n in ("alice", "bob", "carol", "dave")]
    admin = await make_admin(db, make_person)
    people = [alice, bob, carol, dave]
    for target in (alice, carol, dave):
        await follow(client, bob, target)
    await follow(client, carol, alice)
    first = await post_status_id(client, alice, "hello @bob #agora")
    private = await post_status_id(client, alice, "friends only", visibility="private")
    poll = await post_status(
        client,
        carol,
        "which?",
        **{"poll[options][]": ["this", "that"], "poll[expires_in]": "3600"},
    )
    await post_status_id(client, carol, "quoting", quoted_status_id=first)
    await boost(client, carol, first)
    await run_jobs()
    await _same_pages(client, monkeypatch, people)

    async def changed(method: str, path: str, person: Any, **kwargs: Any) -> None:
        response = await client.request(method, path, headers=person.headers, **kwargs)
        assert response.status_code in (200, 202), response.text
        await run_jobs()
        await _same_pages(client, monkeypatch, people)

    statuses, accounts = "/api/v1/statuses", "/api/v1/accounts"
    # new posts reach the feed; edits, likes, boosts, bookmarks and votes show
    await changed("POST", statuses, dave, data={"status": "new"})
    edit = {"status": "hello again @carol", "spoiler_text": "cw"}
    await changed("PUT", f"{statuses}/{first}", alice, data=edit)
    for action, person in (("favourite", carol), ("reblog", bob), ("bookmark", bob), ("mute", bob)):
        await changed("POST", f"{statuses}/{first}/{action}", person)
    vote = f"/api/v1/polls/{poll['poll']['id']}/votes"
    await changed("POST", vote, bob, data={"choices[]": ["1"]})
    await changed("PATCH", f"{accounts}/update_credentials", alice, data={"display_name": "A."})
    reuse = {"syntheticContentGeneration": True, "bulkDataset": True}
    await changed("PATCH", "/api/v1/agora/data_reuse", alice, json=reuse)
    # what someone sees: relationships in both directions, lists
    await changed("POST", f"{accounts}/{dave.id}/mute", bob)
    await changed("POST", f"{accounts}/{dave.id}/unmute", bob)
    await changed("POST", f"{accounts}/{bob.id}/block", carol)
    await changed("POST", f"{accounts}/{bob.id}/unblock", carol)
    await changed("POST", f"{accounts}/{alice.id}/unfollow", carol)
    listed = await client.post(
        "/api/v1/lists", headers=bob.headers, data={"title": "quiet", "exclusive": "true"}
    )
    members = {"account_ids[]": [str(dave.id)]}
    await changed("POST", f"/api/v1/lists/{listed.json()['id']}/accounts", bob, data=members)
    # moderation and deletion
    admin_actions = "/api/v1/admin/accounts/{}/action"
    await changed("POST", admin_actions.format(alice.id), admin, data={"type": "silence"})
    await changed("DELETE", f"{statuses}/{private}", alice)
    await changed("DELETE", f"{statuses}/{first}", alice)
    people.remove(carol)  # suspended: her token is refused
    await changed("POST", admin_actions.format(carol.id), admin, data={"type": "suspend"})
    shown = {s["id"] for s in (await client.get(HOME, headers=bob.headers)).json()}
    assert first not in shown and poll["id"] not in shown


async def test_a_followed_high_reach_account_s_new_post_shows_at_once(
    client, make_person, run_jobs, monkeypatch
):
    """Posts of followed accounts above the fan-out threshold reach the home timeline with no
    feed entry (`home_rule`): the followees' stamps invalidate the page."""
    monkeypatch.setattr(get_settings(), "fanout_follower_threshold", 0)
    star, fan = await make_person("star"), await make_person("fan")
    await follow(client, fan, star)
    await post_status_id(client, star, "before")
    await run_jobs()
    before, _ = await _home(client, fan)
    new = await post_status_id(client, star, "after")
    await run_jobs()
    after, _ = await _home(client, fan)
    assert new.encode() in after and after != before
    assert (after, _) == await _fresh(client, fan, monkeypatch)


async def test_fanned_out_posts_reach_cached_home_pages(client, make_person, run_jobs, monkeypatch):
    """Fan-out's feed rows grow their owners' view stamps (0042's trigger). A first post of
    an author nowhere on the cached page (so no author or post stamp of the page changes),
    fanned out, and a post brought in by the backfill after a new follow, both show at
    once."""
    alice, bob, carol, dave = [await make_person(n) for n in ("alice", "bob", "carol", "dave")]
    await follow(client, bob, carol)
    await follow(client, bob, alice)
    await post_status_id(client, carol, "carol's post")
    await run_jobs()
    before, _ = await _home(client, bob)
    new = await post_status_id(client, alice, "alice's first post")
    await run_jobs()
    after, _ = await _home(client, bob)
    assert new.encode() in after and after != before
    assert (after, _) == await _fresh(client, bob, monkeypatch)
    older = await post_status_id(client, dave, "dave's post")
    await run_jobs()
    assert older.encode() not in (await _home(client, bob))[0]
    await follow(client, bob, dave)
    assert older.encode() not in (await _home(client, bob))[0]  # cached before the merge
    await run_jobs()  # merge_into_feed: dave's recent posts enter bob's feed
    merged, _ = await _home(client, bob)
    assert older.encode() in merged
    assert (merged, _) == await _fresh(client, bob, monkeypatch)


async def test_a_page_with_media_signed_for_its_viewer_is_kept_for_them_alone(
    client, make_person, run_jobs, monkeypatch
):
    """A followers-only post's media URLs are signed per viewer: each follower's page is
    kept with their own signatures, served again unchanged, and equal to a fresh one."""
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    for person in (bob, carol):
        await follow(client, person, alice)
    media = {"media_ids[]": [await upload_image(client, alice, (20, 90, 200))]}
    await post_status_id(client, alice, "for followers", visibility="private", **media)
    await run_jobs()
    await _same_pages(client, monkeypatch, [bob, carol])
    pages = {p.id: (await _home(client, p))[0] for p in (bob, carol)}
    assert f"viewer={bob.id}&".encode() in pages[bob.id]
    assert f"viewer={carol.id}&".encode() in pages[carol.id]
    assert f"viewer={bob.id}&".encode() not in pages[carol.id]


async def test_a_filtered_page_is_never_kept(client, make_person, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    await follow(client, bob, alice)
    await post_status_id(client, alice, "spoilers ahead")
    await run_jobs()
    r = await client.post(
        "/api/v2/filters",
        headers=bob.headers,
        json={
            "title": "no spoilers",
            "context": ["home"],
            "filter_action": "warn",
            "keywords_attributes": [{"keyword": "spoilers"}],
        },
    )
    assert r.status_code == 200, r.text
    for _ in range(2):
        page = (await client.get(HOME, headers=bob.headers)).json()
        assert page[0]["filtered"][0]["filter"]["title"] == "no spoilers"
    assert len(get_page_cache()) == 0


async def test_an_unchanged_page_is_served_after_one_statement(
    app, db, client, make_person, run_jobs, monkeypatch
):
    """Asked again unchanged, a page is answered by the page door (api/page_door.py) before
    routing: one statement on the database's row reader (`Database.first_row`), no session
    opened, the same bytes and headers as the routed answer, and the route's metrics label."""
    alice, bob = await make_person("alice"), await make_person("bob")
    await follow(client, bob, alice)
    for n in range(5):
        await post_status_id(client, alice, f"post {n}")
    await run_jobs()
    routed = await client.get(HOME, headers=bob.headers)
    assert routed.status_code == 200
    statements: list[str] = []
    sessions: list[bool] = []
    served_by = app.state.db
    first_row, session = served_by.first_row, served_by.session

    async def counted_first_row(sql: str, params: dict[str, Any]) -> Any:
        row = await first_row(sql, params)
        if row is not None:
            statements.append(sql)
        return row

    def counted_session(**kwargs: Any) -> Any:
        sessions.append(True)
        return session(**kwargs)

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    monkeypatch.setattr(served_by, "first_row", counted_first_row)
    monkeypatch.setattr(served_by, "session", counted_session)
    answered = REQUESTS.labels("GET", "/api/v1/timelines/home", 200)
    counted_before = answered._value.get()
    event.listen(served_by.engine.sync_engine, "before_cursor_execute", count)
    try:
        again = await client.get(HOME, headers=bob.headers)
    finally:
        event.remove(served_by.engine.sync_engine, "before_cursor_execute", count)
    assert again.content == routed.content
    assert _headers(again) == _headers(routed)
    assert len(statements) == 1 and "view_stamps" in statements[0]  # no BEGIN, nothing else
    assert sessions == []
    assert answered._value.get() == counted_before + 1


def _headers(response: Any) -> dict[str, str]:
    """A response's headers but those that differ per request."""
    varying = ("x-request-id", "date", "x-ratelimit-remaining", "x-ratelimit-reset")
    return {k: v for k, v in response.headers.items() if k not in varying}


async def test_the_page_door_answers_only_a_token_the_route_would_answer(
    db, client, make_person, run_jobs
):
    """A page kept for an account is not answered to another token of the account that
    lacks the route's scope (403, as routed), nor to a revoked token (401)."""
    from agora.auth import oauth

    alice, bob = await make_person("alice"), await make_person("bob")
    await follow(client, bob, alice)
    await post_status_id(client, alice, "hello")
    await run_jobs()
    assert (await client.get(HOME, headers=bob.headers)).status_code == 200
    async with db.session(write=True) as session:
        other = await oauth.register_app(
            session, name="other", redirect_uris=oauth.OOB, scopes="read write", website=None
        )
        await session.commit()
        writer = (await oauth.issue_token(session, other, bob.id, ["write"])).token
        reader = (await oauth.issue_token(session, other, bob.id, ["read"])).token
    writes, reads = ({"Authorization": f"Bearer {t}"} for t in (writer, reader))
    posted = await client.post("/api/v1/statuses", headers=writes, data={"status": "w"})
    assert posted.status_code == 200  # the token is now known to the token cache
    for _ in range(2):  # routed, then answered by the door
        assert (await client.get(HOME, headers=reads)).status_code == 200
    refused = await client.get(HOME, headers=writes)
    assert refused.status_code == 403, refused.text
    async with db.session(write=True) as session:
        await oauth.revoke(session, other, reader)
    assert (await client.get(HOME, headers=reads)).status_code == 401


async def test_pages_are_bounded_by_bytes(client, make_person, run_jobs, monkeypatch):
    people = [await make_person(f"p{n}") for n in range(4)]
    for person in people:
        await post_status_id(client, person, "x" * 400)
    await run_jobs()
    cache = get_page_cache()
    cache.clear()
    await _home(client, people[0])
    size = cache.bytes  # one page as kept: its body and its gzipped body (asked gzipped)
    assert len(cache) == 1 and size > len((await _fresh(client, people[0], monkeypatch))[0])
    cache.clear()
    bound = size * 5 // 2  # two pages of this size fit, not three
    monkeypatch.setattr(cache, "max_bytes", bound)
    for person in people:
        await _home(client, person)
    assert len(cache) == 2 and cache.bytes <= bound
    hits = cache.hits
    await _home(client, people[-1])  # the most recent is kept...
    assert cache.hits == hits + 1
    await _home(client, people[0])  # ...the least recently used was forgotten
    assert cache.hits == hits + 1


def _kept(body: bytes) -> CachedPage:
    return CachedPage(body, [], None, (), text("SELECT 1"), {}, "", (), None, time.time() + 60)


def test_the_cache_knows_which_paths_hold_pages_through_evictions_and_drops() -> None:
    """`holds(path)`, the page door's first look-up (a request for a path with no page kept
    goes the routed way before its token is looked up), follows every way a page leaves:
    replaced, evicted by the byte bound, dropped, cleared."""
    cache = PageCache(max_bytes=250, seconds=60)
    home, public = "/api/v1/timelines/home", "/api/v1/timelines/public"
    cache.put((home, b"", 1), _kept(b"a" * 100))
    cache.put((home, b"", 1), _kept(b"b" * 100))  # the same page again: still one
    cache.put((home, b"limit=40", 2), _kept(b"c" * 100))
    assert cache.holds(home) and not cache.holds(public)
    cache.drop((home, b"", 1))
    assert cache.holds(home)  # the other viewer's page is still kept
    cache.put((public, b"", 0), _kept(b"d" * 100))
    cache.put((public, b"", 3), _kept(b"e" * 100))  # over 250 bytes: home's page evicted
    assert len(cache) == 2 and not cache.holds(home) and cache.holds(public)
    cache.drop((public, b"", 0))
    cache.drop((public, b"", 0))  # a page dropped twice is forgotten once
    assert cache.holds(public)
    cache.clear()
    assert not cache.holds(public) and len(cache) == 0


def _tables(sql: str) -> set[str]:
    return set(re.findall(r"(?:FROM|JOIN)\s+([a-z_]+)", sql))


async def test_every_table_the_home_reads_look_at_has_a_stamp(db):
    """The home timeline's ids and `load_refs`' rows read these tables: each is either
    stamped per row (posts, accounts) or has the triggers that grow a view stamp, so no
    change a page shows can leave its stamps as they were."""
    dialect = db.engine.dialect
    read = set()
    for statement in (
        _home_statement((False, False, False)),
        _refs_statement(True),
    ):
        read |= _tables(str(statement.compile(dialect=dialect)))
    read &= set(Base.metadata.tables)
    async with db.session() as session:
        stamped = await _tables_with_triggers(session, dialect.name, "page_stamp")
        # a post's parts bump its render version (migration 0025), an update of the post
        parts = await _tables_with_triggers(session, dialect.name, "_render_")
    assert {"posts", "accounts", "home_feed", "follows", "blocks", "mutes", "mentions"} <= read
    assert read - stamped - (parts - {"accounts"}) == set()


async def _tables_with_triggers(session: Any, dialect: str, suffix: str) -> set[str]:
    if dialect == "sqlite":
        sql = "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE :like"
    else:
        sql = (
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname LIKE :like"
        )
    return {row[0] for row in await session.execute(text(sql), {"like": f"%{suffix}%"})}


async def test_cached_profile_pages_match_fresh_ones_after_every_change(
    client, make_person, run_jobs, monkeypatch
):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    await follow(client, bob, alice)
    base = f"/api/v1/accounts/{alice.id}/statuses"
    urls = [base, f"{base}?tagged=cats", f"{base}?exclude_reblogs=true", f"{base}?pinned=true"]
    viewers = [alice, bob, carol, None]

    async def same() -> None:
        await run_jobs()
        await _same_pages(client, monkeypatch, viewers, urls)

    first = await post_status_id(client, alice, "hello")
    await same()
    await post_status_id(client, alice, "followers", visibility="private")
    await same()
    carols = await post_status_id(client, carol, "carol's")
    await boost(client, alice, carols)
    await same()
    r = await client.put(
        f"/api/v1/statuses/{first}", headers=alice.headers, data={"status": "#cats"}
    )
    assert r.status_code == 200
    await same()
    assert (await client.post(f"/api/v1/statuses/{first}/pin", headers=alice.headers)).is_success
    await same()
    assert (
        await client.post(f"/api/v1/accounts/{carol.id}/block", headers=alice.headers)
    ).is_success
    await same()
    assert (await client.delete(f"/api/v1/statuses/{first}", headers=alice.headers)).is_success
    await same()


async def test_a_missing_profile_is_a_404_and_not_kept(client, make_person):
    bob = await make_person("bob")
    for _ in range(2):
        r = await client.get("/api/v1/accounts/12345/statuses", headers=bob.headers)
        assert r.status_code == 404
    assert len(get_page_cache()) == 0


async def test_cached_notification_pages_match_fresh_ones_after_every_change(
    db, client, make_person, run_jobs, monkeypatch
):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    admin = await make_admin(db, make_person)
    urls = [
        "/api/v1/notifications?limit=40",
        "/api/v1/notifications?types[]=mention",
        "/api/v2/notifications?limit=40",
        "/api/v2/notifications?expand_accounts=partial_avatars",
    ]

    async def same(*people: Any) -> None:
        await run_jobs()
        await _same_pages(client, monkeypatch, people, urls)

    await follow(client, bob, alice)
    first = await post_status_id(client, alice, "hello @bob")
    await same(alice, bob, admin)
    for action in ("favourite", "reblog"):
        r = await client.post(f"/api/v1/statuses/{first}/{action}", headers=carol.headers)
        assert r.is_success
        await same(alice)
    r = await client.patch(
        "/api/v1/accounts/update_credentials", headers=carol.headers, data={"display_name": "C"}
    )
    await same(alice)
    r = await client.post(
        "/api/v1/reports",
        headers=bob.headers,
        data={"account_id": str(alice.id), "status_ids[]": [first], "comment": "spam"},
    )
    assert r.is_success
    await same(admin)
    await client.post(f"/api/v1/admin/reports/{r.json()['id']}/resolve", headers=admin.headers)
    await same(admin)
    notes = (await client.get("/api/v1/notifications", headers=alice.headers)).json()
    r = await client.post(f"/api/v1/notifications/{notes[0]['id']}/dismiss", headers=alice.headers)
    assert r.is_success
    await same(alice)
    r = await client.patch(
        "/api/v2/notifications/policy", headers=alice.headers, data={"for_not_following": "drop"}
    )
    assert r.is_success
    await same(alice)
    assert (
        await client.post(f"/api/v1/accounts/{carol.id}/block", headers=alice.headers)
    ).is_success
    await same(alice)
    assert (await client.delete(f"/api/v1/statuses/{first}", headers=alice.headers)).is_success
    await same(alice, bob)


async def test_cached_public_and_hashtag_pages_match_fresh_ones_after_every_change(
    db, client, make_person, run_jobs, monkeypatch
):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    admin = await make_admin(db, make_person)
    urls = [
        "/api/v1/timelines/public?limit=40",
        "/api/v1/timelines/public?local=true",
        "/api/v1/timelines/public?only_media=true",
        "/api/v1/timelines/tag/cats",
        "/api/v1/timelines/tag/cats?any[]=dogs",
    ]
    viewers = [alice, bob, None]

    async def same() -> None:
        await run_jobs()
        await _same_pages(client, monkeypatch, viewers, urls)

    first = await post_status_id(client, alice, "hello #cats")
    await same()
    await post_status_id(client, carol, "woof #dogs")
    await same()
    await post_status_id(client, carol, "quiet", visibility="unlisted")
    await same()
    r = await client.put(
        f"/api/v1/statuses/{first}", headers=alice.headers, data={"status": "now #dogs only"}
    )
    assert r.is_success
    await same()
    assert (
        await client.post(f"/api/v1/statuses/{first}/favourite", headers=bob.headers)
    ).is_success
    await same()
    assert (await client.post(f"/api/v1/accounts/{carol.id}/mute", headers=bob.headers)).is_success
    await same()
    silence = {"type": "silence"}
    r = await client.post(
        f"/api/v1/admin/accounts/{alice.id}/action", headers=admin.headers, data=silence
    )
    assert r.is_success
    await same()
    assert (await client.delete(f"/api/v1/statuses/{first}", headers=alice.headers)).is_success
    await same()


async def test_pages_built_together_do_not_all_end_together(client, make_person, run_jobs):
    """A page is kept for between half and all of `page_cache_seconds`, drawn for each: pages
    built in the same moment (a warm-up, the first minute after a restart) are not all built
    again in the same one."""
    import time

    people = [await make_person(f"p{n}") for n in range(12)]
    cache = get_page_cache()
    built = time.time()
    for person in people:
        assert (await client.get(HOME, headers=person.headers)).status_code == 200
    building = time.time() - built
    ends = [page.until - built for page in cache._lru.values()]
    assert len(ends) == len(people)
    seconds = get_settings().page_cache_seconds
    assert all(seconds / 2 <= end <= seconds + building for end in ends)
    # built within `building` seconds, they end far more apart than that
    assert max(ends) - min(ends) > building + seconds / 20
