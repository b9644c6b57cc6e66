"""Rate limits: small limits set through Settings on an app of their own (the rest of the
suite runs with generous ones, see conftest.py)."""

from __future__ import annotations

import asyncio
import secrets
import time
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
import pytest
from sqlalchemy import func, select

from agora.config import Settings
from agora.db.models import Post

ME = "/api/v1/accounts/verify_credentials"
PING = "/api/v1/agora/ping"
REDIS = "redis://127.0.0.1:6379/0"


@asynccontextmanager
async def limited(db, **settings):
    """A fresh app with these rate-limit settings; yields a function making a client for an
    IP address (each app counts on its own, in memory unless redis_url is given)."""
    from agora.app import create_app

    app = create_app(Settings(**settings), migrate=False)
    app.state.db = db
    clients: list[httpx.AsyncClient] = []

    def client(ip: str = "10.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(ip, 4242))
        made = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(made)
        return made

    try:
        yield client
    finally:
        for made in clients:
            await made.aclose()


def _reset(response: httpx.Response) -> float:
    return datetime.fromisoformat(response.headers["x-ratelimit-reset"]).timestamp()


async def test_reads_per_token_with_mastodon_headers(db, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    async with limited(db, ratelimit_reads="3/minute") as client:
        c = client()
        seen = []
        for _ in range(3):
            r = await c.get(ME, headers=alice.headers)
            assert r.status_code == 200
            seen.append(int(r.headers["x-ratelimit-remaining"]))
            assert r.headers["x-ratelimit-limit"] == "3"
        assert seen == [2, 1, 0]
        assert r.headers["x-ratelimit-reset"].endswith("Z")
        assert time.time() < _reset(r) <= time.time() + 61
        r = await c.get(ME, headers=alice.headers)
        assert r.status_code == 429 and r.json() == {"error": "Too many requests"}
        assert (
            r.headers["x-ratelimit-remaining"] == "0" and 1 <= int(r.headers["retry-after"]) <= 60
        )
        # the same token in the query string is the same bucket
        r = await c.get(ME, params={"access_token": alice.token})
        assert r.status_code == 429
        # others are not affected: another token, no token (counted per IP), another IP
        assert (await c.get(ME, headers=bob.headers)).headers["x-ratelimit-remaining"] == "2"
        assert (await c.get(PING)).status_code == 200
        assert (await client("10.0.0.2").get(PING)).status_code == 200


async def test_writes_counted_apart_from_reads_and_refused_writes_change_nothing(db, make_person):
    alice = await make_person("alice")
    async with limited(db, ratelimit_writes="2/minute", ratelimit_reads="50/minute") as client:
        c = client()
        for i in range(2):
            r = await c.post("/api/v1/statuses", headers=alice.headers, data={"status": f"{i}"})
            assert r.status_code == 200 and r.headers["x-ratelimit-limit"] == "2"
        r = await c.post("/api/v1/statuses", headers=alice.headers, data={"status": "third"})
        assert r.status_code == 429
        r = await c.get(ME, headers=alice.headers)
        assert r.status_code == 200 and r.headers["x-ratelimit-limit"] == "50"
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Post)) == 2


async def test_per_ip_limit_across_tokens_and_oauth(db, make_person):
    people = [await make_person(f"p{i}") for i in range(4)]
    async with limited(db, ratelimit_per_ip="4/minute") as client:
        c = client()
        for person in people:
            assert (await c.get(ME, headers=person.headers)).status_code == 200
        fresh = await make_person("fresh")
        assert (await c.get(ME, headers=fresh.headers)).status_code == 429
        r = await c.post("/oauth/token", data={"grant_type": "client_credentials"})
        assert r.status_code == 429  # OAuth requests count per IP too
        assert (await client("10.9.9.9").get(ME, headers=fresh.headers)).status_code == 200
        assert (await c.get("/robots.txt")).status_code == 200  # pages are not limited
        health = await c.get("/api/v1/streaming/health")  # nor health checks
        assert health.status_code != 429 and "x-ratelimit-limit" not in health.headers


async def test_window_resets(db, make_person):
    async with limited(db, ratelimit_reads="2/2seconds") as client:
        for who in range(5):  # a loaded machine may let a window end mid-attempt: try again
            c = client(f"10.0.1.{who}")
            headers = (await make_person(f"alice{who}")).headers
            first = await c.get(ME, headers=headers)
            assert first.status_code == 200
            assert (await c.get(ME, headers=headers)).status_code == 200
            refused = await c.get(ME, headers=headers)
            if time.time() < _reset(first):  # all three fell in one window
                break
        assert refused.status_code == 429
        await asyncio.sleep(max(0.0, _reset(refused) - time.time()) + 0.05)
        r = await c.get(ME, headers=headers)
        assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "1"


async def _token_app(c: httpx.AsyncClient) -> dict[str, str]:
    app = (await c.post("/api/v1/apps", data={"client_name": "x", "scopes": "read"})).json()
    return {"client_id": app["client_id"], "client_secret": app["client_secret"]}


async def test_sign_in_brute_force_is_slowed_per_login_and_per_ip(db, make_person):
    await make_person("alice")
    await make_person("bob")
    limits = {"ratelimit_sign_in_account": "3/minute", "ratelimit_sign_in_ip": "5/minute"}
    async with limited(db, **limits) as client:
        c = client()
        keys = await _token_app(c)

        async def sign_in(
            who: str, password: str = "wrong password", via: httpx.AsyncClient = c
        ) -> int:
            data = {"grant_type": "password", "username": who, "password": password, **keys}
            return (await via.post("/oauth/token", data=data)).status_code

        assert [await sign_in("alice@example.org") for _ in range(3)] == [400, 400, 400]
        # past the account's limit even the right password waits, from any address where
        # alice never signed in
        assert await sign_in("ALICE@example.org ", "correct horse battery") == 429
        other = client("10.0.0.7")
        assert await sign_in("alice@example.org", "correct horse battery", other) == 429
        # bob signs in from the same address, until the address itself is limited
        assert await sign_in("bob@example.org", "correct horse battery") == 200
        assert await sign_in("bob@example.org", "correct horse battery") == 429  # the 6th from here
        assert await sign_in("bob@example.org", "correct horse battery", other) == 200
        # exchanging client credentials is not a sign-in attempt
        r = await c.post("/oauth/token", data={"grant_type": "client_credentials", **keys})
        assert r.status_code == 200
        # the sign-in form is limited the same way (alice's account is spent)
        form = {"client_id": keys["client_id"], "response_type": "code", "password": "x"}
        r = await other.post("/oauth/authorize", data={**form, "username": "bob"})
        assert r.status_code == 401
        r = await client("10.0.0.8").post("/oauth/authorize", data={**form, "username": "alice"})
        assert r.status_code == 429 and "Too many sign-in attempts" in r.text  # a page
        assert r.headers["content-type"].startswith("text/html") and r.headers["retry-after"]


async def _password_grant(
    via: httpx.AsyncClient, keys: dict[str, str], login: str, password: str
) -> int:
    data = {"grant_type": "password", "username": login, "password": password, **keys}
    return (await via.post("/oauth/token", data=data)).status_code


RIGHT = "correct horse battery"  # make_person's


async def test_sign_in_limit_counts_every_spelling_of_a_login_as_one_account(db, make_person):
    await make_person("alice")
    limits = {"ratelimit_sign_in_account": "3/hour", "ratelimit_sign_in_ip": "1000/minute"}
    async with limited(db, **limits) as client:
        keys = await _token_app(client())
        spellings = [
            "alice",
            "@alice",
            "@@alice",
            "ALICE",
            "  alice  ",
            "@@@Alice ",
            "alice@example.org",
            " ALICE@Example.ORG ",
        ]
        codes = [
            await _password_grant(client(f"10.1.0.{i}"), keys, login, "wrong password")
            for i, login in enumerate(spellings)
        ]
        assert codes == [400, 400, 400] + [429] * 5
        # the right password from an address alice never signed in from waits too
        assert await _password_grant(client("10.1.1.1"), keys, "@alice", RIGHT) == 429
        # an unknown login is limited exactly like a known one (no account enumeration)
        ghost = [
            await _password_grant(client(f"10.2.0.{i}"), keys, login, "wrong password")
            for i, login in enumerate(["ghost", "@ghost", "GHOST", " @@ghost "])
        ]
        assert ghost == [400, 400, 400, 429]


async def test_failures_elsewhere_do_not_lock_a_person_out_of_a_known_address(db, make_person):
    await make_person("alice")
    await make_person("bob")
    limits = {"ratelimit_sign_in_account": "3/hour", "ratelimit_sign_in_ip": "1000/minute"}
    async with limited(db, **limits) as client:
        keys = await _token_app(client())
        home = client("10.0.0.1")
        assert await _password_grant(home, keys, "alice", RIGHT) == 200  # a known address
        # someone guesses from many addresses until the account is limited
        attacker = [
            await _password_grant(client(f"10.66.0.{i}"), keys, "alice", "guess") for i in range(5)
        ]
        assert attacker == [400, 400, 400, 429, 429]
        assert await _password_grant(client("10.66.0.9"), keys, "alice", RIGHT) == 429
        # alice, from where she signed in before, still gets in, under any spelling
        assert await _password_grant(home, keys, "alice", RIGHT) == 200
        assert await _password_grant(home, keys, "@ALICE", RIGHT) == 200
        # a known address has a budget of its own: guesses from it are limited too
        from_home = [await _password_grant(home, keys, "alice", "typo") for _ in range(4)]
        assert from_home == [400, 400, 400, 429]
        # other accounts are not affected by any of it
        assert await _password_grant(client("10.66.0.1"), keys, "bob", RIGHT) == 200


async def test_web_forms_count_against_the_write_limit_per_account(db, make_person):
    from sqlalchemy import func, select

    from agora.db.models import Favourite, Follow
    from helpers import HX, web_sign_in

    alice, bob = await make_person("alice"), await make_person("bob")
    async with limited(db, ratelimit_writes="3/minute") as client:
        browser = client()
        csrf = await web_sign_in(browser, "alice")  # signing in is not a write
        hx = {**HX, "X-CSRF-Token": csrf}
        posted = await browser.post(
            "/web/statuses", data={"status": "one", "visibility": "public"}, headers=hx
        )
        assert posted.status_code == 200
        post_id = posted.text.split('data-id="')[1].split('"')[0]
        assert (
            await browser.post(f"/web/statuses/{post_id}/favourite", headers=hx)
        ).status_code == 200
        assert (await browser.post(f"/web/accounts/{bob.id}/follow", headers=hx)).status_code == 200
        # the 4th write: an HTMX fragment (app.js shows it), with the limit's headers
        refused = await browser.post(
            "/web/statuses", data={"status": "two", "visibility": "public"}, headers=hx
        )
        assert refused.status_code == 429 and refused.headers["content-type"].startswith(
            "text/html"
        )
        assert "Too many" in refused.text and "<html" not in refused.text.lower()
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["x-ratelimit-remaining"] == "0"
        # a plain form (no HTMX) gets a page; nothing it asked for happened
        page = await browser.post(f"/web/accounts/{bob.id}/unfollow", data={"csrf": csrf})
        assert page.status_code == 429 and "<html" in page.text.lower()
        # the same account in another browser shares the limit; others do not
        other = client("10.0.0.2")
        again = await web_sign_in(other, "alice")
        r = await other.post(
            f"/web/statuses/{post_id}/unfavourite", headers={**HX, "X-CSRF-Token": again}
        )
        assert r.status_code == 429
        bobs = client("10.0.0.3")
        bob_csrf = await web_sign_in(bobs, "bob")
        r = await bobs.post(
            f"/web/statuses/{post_id}/favourite", headers={**HX, "X-CSRF-Token": bob_csrf}
        )
        assert r.status_code == 200
        # signing out is always possible
        out = await browser.post("/auth/sign_out", data={"csrf": csrf})
        assert out.status_code == 303
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Post)) == 1
        assert await session.scalar(select(func.count()).select_from(Favourite)) == 2
        assert (
            await session.scalar(
                select(func.count()).select_from(Follow).where(Follow.account_id == alice.id)
            )
            == 1
        )


async def test_signed_out_web_forms_count_per_address_with_the_api(db):
    from helpers import csrf_of

    async with limited(db, ratelimit_writes="2/minute") as client:
        browser = client()
        csrf = csrf_of((await browser.get("/auth/sign_up")).text)
        form = {
            "csrf": csrf,
            "password": "long enough pw",
            "confirm": "long enough pw",
            "agreement": "on",
        }
        first = await browser.post(
            "/auth/sign_up", data={**form, "username": "one", "email": "1@example.org"}
        )
        assert first.status_code == 303
        browser.cookies.clear()
        # an API write without a token from the same address is the same bucket
        assert (await browser.post("/api/v1/apps", data={"client_name": "x"})).status_code == 200
        csrf = csrf_of((await browser.get("/auth/sign_up")).text)
        third = await browser.post(
            "/auth/sign_up",
            data={**form, "csrf": csrf, "username": "two", "email": "2@example.org"},
        )
        assert third.status_code == 429


async def test_media_uploads_have_their_own_limit(db, make_person):
    alice = await make_person("alice")
    async with limited(db, ratelimit_media="2/minute") as client:
        c = client()
        for path in ("/api/v1/media", "/api/v2/media"):
            r = await c.post(path, headers=alice.headers)
            assert r.status_code != 429 and r.headers["x-ratelimit-limit"] == "2"
        for path in ("/api/v1/media", "/api/v2/media"):
            assert (await c.post(path, headers=alice.headers)).status_code == 429
        r = await c.post("/api/v1/statuses", headers=alice.headers, data={"status": "text only"})
        assert r.status_code == 200


async def test_limits_can_be_turned_off(db, make_person):
    alice = await make_person("alice")
    async with limited(db, ratelimit_enabled=False, ratelimit_reads="1/minute") as client:
        c = client()
        for _ in range(3):
            r = await c.get(ME, headers=alice.headers)
            assert r.status_code == 200 and "x-ratelimit-limit" not in r.headers


async def test_refusals_keep_cors_headers_for_web_clients(db, make_person):
    async with limited(db, ratelimit_reads="1/minute") as client:
        c = client()
        origin = {"Origin": "https://elk.example"}
        assert (await c.get(PING, headers=origin)).status_code == 200
        r = await c.get(PING, headers=origin)
        assert r.status_code == 429 and r.headers["access-control-allow-origin"] == "*"
        exposed = r.headers["access-control-expose-headers"].lower()
        assert "x-ratelimit-reset" in exposed


def _redis_up() -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="Redis is not running on 127.0.0.1:6379")
async def test_redis_shares_counts_between_server_processes(db):
    """Two apps (as two server processes) share a token's window through Redis: a request
    made longer than `SYNC` after the other process's counts them all."""
    from agora.http.ratelimit import RedisWindows

    token = {"Authorization": f"Bearer {secrets.token_urlsafe(16)}"}  # its own bucket
    settings = {"redis_url": REDIS, "ratelimit_reads": "3/minute"}
    async with limited(db, **settings) as one, limited(db, **settings) as two:
        first, second = one(), two()
        answers = []
        for client in (first, second, first, second):
            answers.append(await client.get(PING, headers=token))
            await asyncio.sleep(RedisWindows.SYNC * 1.5)
        assert [r.headers.get("x-ratelimit-remaining") for r in answers[:3]] == ["2", "1", "0"]
        assert answers[3].status_code == 429


@pytest.mark.skipif(not _redis_up(), reason="Redis is not running on 127.0.0.1:6379")
async def test_redis_windows_count_a_busy_token_in_memory_and_send_it_within_sync() -> None:
    """Requests in a burst after the first are counted without Redis while the token is
    under a quarter of its limit; what they counted reaches Redis `SYNC` seconds later
    without another request, and another process then counts from it; past the quarter,
    every request is counted in Redis, and the limit holds exactly in one process."""
    import redis.asyncio as redis
    from limits import parse

    from agora.http.ratelimit import RedisWindows

    prefix = f"agora:test-ratelimit:{secrets.token_hex(4)}"
    failures: list[Exception] = []
    one, two = RedisWindows(REDIS, prefix, failures.append), RedisWindows(REDIS, prefix, print)
    reads = parse("100/minute")
    checks = [(parse("10000/minute"), "ip", "a"), (reads, "read", "t")]
    key = f"{prefix}:{reads.key_for('read', 't')}"
    client = redis.from_url(REDIS)
    try:
        verdicts = [await one.request(checks) for _ in range(12)]
        assert [v.remaining for v in verdicts] == list(range(99, 87, -1))
        assert int(await client.get(key)) == 1  # the burst is still in memory
        await asyncio.sleep(RedisWindows.SYNC * 2)
        assert int(await client.get(key)) == 12 and not failures  # sent without a request
        assert (await two.request(checks)).remaining == 87  # another process sees them
        for _ in range(13, 25):  # to a quarter of the limit: in memory
            await one.request(checks)
        assert int(await client.get(key)) == 13
        past = [await one.request(checks) for _ in range(25, 103)]  # past it: in Redis
        assert int(await client.get(key)) == 13 + 12 + 78 and not failures
        assert [v.allowed for v in past] == [True] * 75 + [False] * 3  # 100 in all, then refused
    finally:
        await client.delete(*await client.keys(f"{prefix}:*"))
        await client.aclose()


@pytest.mark.skipif(not _redis_up(), reason="Redis is not running on 127.0.0.1:6379")
async def test_two_processes_racing_one_token_pass_its_limit_by_at_most_a_quarter() -> None:
    """The bound `RedisWindows` gives: two processes taking turns on one token as fast as
    they can answer at least the limit and at most a quarter more before both refuse."""
    from limits import parse

    from agora.http.ratelimit import RedisWindows

    prefix = f"agora:test-ratelimit:{secrets.token_hex(4)}"
    one, two = RedisWindows(REDIS, prefix, print), RedisWindows(REDIS, prefix, print)
    checks = [(parse("100000/minute"), "ip", "a"), (parse("100/minute"), "read", "t")]
    try:
        turns = [await (one, two)[n % 2].request(checks) for n in range(200)]
        allowed = sum(v.allowed for v in turns)
        assert 100 <= allowed <= 125, allowed
        assert not any(v.allowed for v in turns[-20:])  # both refuse at the end
    finally:
        await one.flush()
        await two.flush()
        import redis.asyncio as redis

        client = redis.from_url(REDIS)
        await client.delete(*await client.keys(f"{prefix}:*"))
        await client.aclose()


@pytest.mark.skipif(not _redis_up(), reason="Redis is not running on 127.0.0.1:6379")
async def test_overlapping_syncs_send_every_hit_to_redis_once() -> None:
    """Two processes, each answering many requests at once while their windows go stale
    (so that many syncs are in flight together): Redis ends with exactly the number of
    requests made, and no request is refused under a limit they cannot reach. (Stop 23's
    syncs each sent the same unsent hits and subtracted them again on return: the count
    grew geometrically and a 1e9/minute limit refused about a quarter of the requests.)"""
    import redis.asyncio as redis
    from limits import parse

    from agora.http.ratelimit import RedisWindows

    prefix = f"agora:test-ratelimit:{secrets.token_hex(4)}"
    processes = [RedisWindows(REDIS, prefix, print) for _ in range(2)]
    for windows in processes:  # stale within a few rounds, synced often
        windows.FRESH, windows.SYNC = 0.02, 0.005
    per_ip, reads = parse("1000000000/minute"), parse("1000000000/minute")
    tokens = [f"t{n}" for n in range(30)]

    async def one(windows: RedisWindows, n: int) -> bool:
        verdict = await windows.request([(per_ip, "ip", "a"), (reads, "read", tokens[n % 30])])
        return verdict.allowed

    client = redis.from_url(REDIS)
    try:
        made = 0
        for round_ in range(40):
            verdicts = await asyncio.gather(
                *(one(processes[n % 2], n) for n in range(64)), asyncio.sleep(0.004)
            )
            made += 64
            assert all(verdicts[:64]), f"refused in round {round_}"
        for windows in processes:
            await windows.flush()
        counted = await client.get(f"{prefix}:{per_ip.key_for('ip', 'a')}")
        assert int(counted) == made
        per_token = [await client.get(f"{prefix}:{reads.key_for('read', t)}") for t in tokens]
        assert sum(int(c) for c in per_token) == made
    finally:
        await client.delete(*await client.keys(f"{prefix}:*"))
        await client.aclose()


async def test_storage_failure_lets_requests_through(db):
    async with limited(db, redis_url="redis://127.0.0.1:1/0") as client:
        r = await client().get(PING)
        assert r.status_code == 200 and "x-ratelimit-limit" not in r.headers


def test_a_request_advertises_its_api_limit_with_the_least_left_and_the_first_refusal() -> None:
    """`LocalWindows.request`: every check is counted, refused or not; the first refusal is
    the verdict, else the API limit (not the first, per-address one) with the least left."""
    from limits import parse

    from agora.http.ratelimit import LocalWindows

    windows = LocalWindows()
    per_ip, reads, media = parse("3/minute"), parse("10/minute"), parse("2/minute")
    checks = [(per_ip, "ip", "a"), (reads, "read", "t"), (media, "media", "t")]
    first = windows.request(checks)
    assert (first.allowed, first.limit, first.remaining) == (True, 2, 1)  # media has least
    assert windows.request(checks[:2]).remaining == 8  # per-address 1 left: not advertised
    last = windows.request(checks)  # per-address 3/3, media 2/2: the least left, none
    assert (last.allowed, last.limit, last.remaining) == (True, 2, 0)
    refused = windows.request(checks)  # per-address 4/3 and media 3/2: the first refusal
    assert (refused.allowed, refused.limit, refused.remaining) == (False, 3, 0)
    assert windows.stats(reads, "read", "t")[0] == 6  # counted, though refused
    assert windows.request([(per_ip, "ip", "b")]).limit == 0  # nothing to advertise


@pytest.mark.skipif(not _redis_up(), reason="Redis is not running on 127.0.0.1:6379")
async def test_redis_windows_give_the_same_verdicts_as_local_windows() -> None:
    """The twin of the test above: `RedisWindows` (one script call per request) and
    `LocalWindows` answer the same verdicts, step by step, for the same requests; every
    window counted in Redis has an expiry of its limit's period."""
    import redis.asyncio as redis
    from limits import parse

    from agora.http.ratelimit import LocalWindows, RedisWindows

    prefix = f"agora:test-ratelimit:{secrets.token_hex(4)}"
    shared, local = RedisWindows(REDIS, prefix, print), LocalWindows()
    per_ip, reads, media = parse("3/minute"), parse("10/minute"), parse("2/minute")
    checks = [(per_ip, "ip", "a"), (reads, "read", "t"), (media, "media", "t")]
    requests = [checks, checks[:2], checks, checks, [(per_ip, "ip", "b")], checks[1:2]]
    for asked in requests:
        there, here = await shared.request(asked), local.request(asked)
        assert (there.allowed, there.limit, there.remaining) == (
            here.allowed,
            here.limit,
            here.remaining,
        )
        assert abs(there.reset - here.reset) < 2
    await shared.flush()
    client = redis.from_url(REDIS)
    try:
        keys = await client.keys(f"{prefix}:*")
        assert len(keys) == 4  # ip a, ip b, read t, media t
        assert all(0 < ttl <= 60 for ttl in [await client.ttl(key) for key in keys])
        assert int(await client.get(f"{prefix}:{reads.key_for('read', 't')}")) == 5
    finally:
        await client.delete(*await client.keys(f"{prefix}:*"))
        await client.aclose()


@pytest.mark.skipif(not _redis_up(), reason="Redis is not running on 127.0.0.1:6379")
async def test_redis_windows_share_the_library_keys_and_repair_a_window_without_expiry() -> None:
    """A window counted by `RedisWindows` is the one the `limits` library reads (the web
    app's write limit and the API's share it), and a key left without an expiry gets one
    instead of limiting for ever."""
    import redis.asyncio as redis
    from limits import parse

    from agora.http.ratelimit import REDIS_PREFIX, RateLimits

    limits = RateLimits(Settings(redis_url=REDIS, ratelimit_writes="4/minute"))
    who = f"ip:{secrets.token_hex(6)}"  # a signed-out web form and the API: one key
    key = f"{REDIS_PREFIX}:{limits.writes.key_for('write', who)}"
    client = redis.from_url(REDIS)
    try:
        await limits.check_web_write(None, who[3:])  # through the library: 1 of 4
        assert await limits.shared.request([(limits.writes, "write", who)])  # 2 of 4
        stats = await limits.limiter.get_window_stats(limits.writes, "write", who)
        assert stats.remaining == 2
        await client.persist(key)  # as if a crash had come between the count and its expiry
        verdict = await limits.shared.request(
            [(parse("1/hour"), "x", "y"), (limits.writes, "write", who)]
        )
        assert (verdict.allowed, verdict.remaining) == (True, 1)
        assert 0 < await client.ttl(key) <= 60
    finally:
        await client.delete(key, f"{REDIS_PREFIX}:{parse('1/hour').key_for('x', 'y')}")
        await client.aclose()
