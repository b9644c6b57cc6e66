"""Every limit and every uniqueness check holds under concurrency (issue #12, item 6).

Each test sends its requests at once (`asyncio.gather` over the ASGI app), each request in its
own database session, so on PostgreSQL they truly run side by side; `Racer` counts the
requests in flight and every test asserts they overlapped. The limit must hold exactly and
every loser must get a 422 with `{"error": ...}`, never a 500.

The registry test at the end fails when a limit is added to `social.limits.LIMITS` without a
race test here, and when a service counts rows and refuses outside `social/rules/limits.py`.
"""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from agora.config import get_settings
from agora.db.models import (
    Account,
    AccountEndorsement,
    FeaturedTag,
    Marker,
    MediaAttachment,
    Mute,
    Pin,
    Post,
    ScheduledPost,
    User,
    UserList,
)
from agora.social.rules import limits
from helpers import csrf_of
from test_media_api import png_bytes, uploaded

RACERS = 20
# Functions that count and refuse without being a limit on what an account owns.
NOT_LIMITS = {
    # the range of a vote's choices: a poll's options change only by an edit replacing the
    # poll, and a vote racing that edit fails on the foreign key (poll_votes.vote: NotFound)
    "social/posts/poll_votes.py:_checked_choices",
}
OOB = "urn:ietf:wg:oauth:2.0:oob"


class Racer:
    """An ASGI wrapper counting the requests in flight, to prove that they overlapped."""

    def __init__(self, app: Any) -> None:
        self.app, self.in_flight, self.most = app, 0, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


@pytest.fixture
async def racer(app: Any) -> Racer:
    return Racer(app)


async def race(
    racer: Racer, n: int, request: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]
) -> list[httpx.Response]:
    """`n` requests sent at once; asserts that they overlapped in the app."""
    transport = httpx.ASGITransport(app=racer, raise_app_exceptions=False)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        page = await client.get("/auth/sign_up")  # a CSRF cookie for the web door's forms
        client.headers["x-test-csrf"] = csrf_of(page.text)
        racer.most = 0
        responses = await asyncio.gather(*(request(client, i) for i in range(n)))
    assert racer.most > n // 2, f"only {racer.most} of {n} requests overlapped"
    return list(responses)


def split(responses: list[httpx.Response], ok: int) -> tuple[list[Any], list[Any]]:
    """(winners, losers); asserts no 5xx, and that every loser is a 422 with an error."""
    assert all(r.status_code < 500 for r in responses), [r.text for r in responses]
    won = [r for r in responses if r.status_code == ok]
    lost = [r for r in responses if r.status_code != ok]
    assert all(r.status_code == 422 for r in lost), [(r.status_code, r.text) for r in lost]
    return won, lost


def errors(lost: list[httpx.Response]) -> set[str]:
    return {r.json()["error"] for r in lost}


async def count(db: Any, query: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(query) or 0)


# --- limits -------------------------------------------------------------------------------


async def test_parallel_pins_pin_exactly_the_limit(db, client, make_person, racer):
    alice = await make_person("alice")
    ids = []
    for i in range(RACERS):
        r = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": f"{i}"})
        ids.append(r.json()["id"])

    async def pin(c: httpx.AsyncClient, i: int) -> httpx.Response:
        return await c.post(f"/api/v1/statuses/{ids[i]}/pin", headers=alice.headers)

    won, lost = split(await race(racer, RACERS, pin), 200)
    cap = limits.PINS.cap()
    assert len(won) == cap and len(lost) == RACERS - cap
    assert errors(lost) == {f"Validation failed: You can pin at most {cap} posts"}
    pinned = select(func.count()).select_from(Pin).where(Pin.account_id == alice.id)
    assert await count(db, pinned) == cap


async def test_parallel_list_creations_make_exactly_the_limit(db, make_person, racer):
    alice = await make_person("alice")
    cap = limits.LISTS.cap()
    assert cap == get_settings().max_lists == 50

    async def create(c: httpx.AsyncClient, i: int) -> httpx.Response:
        return await c.post("/api/v1/lists", headers=alice.headers, data={"title": f"list {i}"})

    won, lost = split(await race(racer, cap + 10, create), 200)
    assert len(won) == cap and len(lost) == 10
    assert errors(lost) == {f"Validation failed: You cannot create more than {cap} lists"}
    owned = select(func.count()).select_from(UserList).where(UserList.account_id == alice.id)
    assert await count(db, owned) == cap


async def test_parallel_schedulings_keep_exactly_the_limit(db, make_person, racer):
    alice = await make_person("alice")
    settings = get_settings()
    previous, settings.max_scheduled_posts = settings.max_scheduled_posts, 5
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    async def schedule(c: httpx.AsyncClient, i: int) -> httpx.Response:
        data = {"status": f"later {i}", "scheduled_at": later}
        return await c.post("/api/v1/statuses", headers=alice.headers, data=data)

    try:
        won, lost = split(await race(racer, RACERS, schedule), 200)
    finally:
        settings.max_scheduled_posts = previous
    assert len(won) == 5 and len(lost) == RACERS - 5
    assert errors(lost) == {"Validation failed: You have exceeded the limit of 5 scheduled posts"}
    kept = (
        select(func.count()).select_from(ScheduledPost).where(ScheduledPost.account_id == alice.id)
    )
    assert await count(db, kept) == 5


async def test_parallel_featured_tags_feature_exactly_the_limit(db, make_person, racer):
    alice = await make_person("alice")
    cap = limits.FEATURED_TAGS.cap()
    assert cap == 10  # Mastodon's

    async def feature(c: httpx.AsyncClient, i: int) -> httpx.Response:
        return await c.post("/api/v1/featured_tags", headers=alice.headers, data={"name": f"t{i}"})

    won, lost = split(await race(racer, RACERS, feature), 200)
    assert len(won) == cap and len(lost) == RACERS - cap
    assert errors(lost) == {f"Validation failed: You cannot feature more than {cap} hashtags"}
    kept = select(func.count()).select_from(FeaturedTag).where(FeaturedTag.account_id == alice.id)
    assert await count(db, kept) == cap


async def test_parallel_endorsements_endorse_exactly_the_limit(db, client, make_person, racer):
    alice = await make_person("alice")
    previous, limits.MAX_ENDORSEMENTS = limits.MAX_ENDORSEMENTS, 5
    people = [await make_person(f"p{i}") for i in range(RACERS)]
    for person in people:
        r = await client.post(f"/api/v1/accounts/{person.id}/follow", headers=alice.headers)
        assert r.status_code == 200

    async def endorse(c: httpx.AsyncClient, i: int) -> httpx.Response:
        return await c.post(f"/api/v1/accounts/{people[i].id}/pin", headers=alice.headers)

    try:
        won, lost = split(await race(racer, RACERS, endorse), 200)
    finally:
        limits.MAX_ENDORSEMENTS = previous
    assert len(won) == 5 and len(lost) == RACERS - 5
    assert errors(lost) == {"Validation failed: You cannot feature more than 5 accounts"}
    kept = select(func.count()).where(AccountEndorsement.account_id == alice.id)
    assert await count(db, kept) == 5


async def test_parallel_edits_never_attach_more_than_the_media_limit(
    db, client, make_person, racer
):
    alice = await make_person("alice")
    cap = get_settings().media_max_attachments
    editors = 6
    media = [(await uploaded(client, alice, png_bytes()))["id"] for _ in range(cap * editors)]
    r = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": "album"})
    post_id = r.json()["id"]

    async def edit(c: httpx.AsyncClient, i: int) -> httpx.Response:
        mine = media[i * cap : (i + 1) * cap]
        body = {"status": f"album {i}", "media_ids[]": mine}
        return await c.put(f"/api/v1/statuses/{post_id}", headers=alice.headers, data=body)

    responses = await race(racer, editors, edit)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    attached = select(func.count()).where(MediaAttachment.post_id == int(post_id))
    assert await count(db, attached) == cap
    shown = (await client.get(f"/api/v1/statuses/{post_id}", headers=alice.headers)).json()
    assert len(shown["media_attachments"]) == cap


async def test_parallel_edits_never_give_a_post_both_a_poll_and_media(
    db, client, make_person, racer
):
    alice = await make_person("alice")
    editors = 10
    media = [(await uploaded(client, alice, png_bytes()))["id"] for _ in range(editors // 2)]
    r = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": "either"})
    post_id = r.json()["id"]

    async def edit(c: httpx.AsyncClient, i: int) -> httpx.Response:
        body: dict[str, Any] = {"status": f"edit {i}"}
        if i % 2:
            body["media_ids[]"] = [media[i // 2]]
        else:
            body.update({"poll[options][]": ["yes", f"no {i}"], "poll[expires_in]": "3600"})
        return await c.put(f"/api/v1/statuses/{post_id}", headers=alice.headers, data=body)

    won, lost = split(await race(racer, editors, edit), 200)
    assert won and errors(lost) <= {
        "Validation failed: A post cannot have both a poll and media attachments"
    }
    shown = (await client.get(f"/api/v1/statuses/{post_id}", headers=alice.headers)).json()
    assert not (shown["poll"] and shown["media_attachments"]), shown


async def test_every_limit_has_a_race_test_and_no_service_counts_on_its_own() -> None:
    """A new limit must be a `social.limits.Limit` (so it locks its owner before counting)
    with a race test above; a function anywhere else that counts rows and then refuses is the
    race this file exists to prevent."""
    tested = {"pins": test_parallel_pins_pin_exactly_the_limit}
    tested["lists"] = test_parallel_list_creations_make_exactly_the_limit
    tested["scheduled_posts"] = test_parallel_schedulings_keep_exactly_the_limit
    tested["featured_tags"] = test_parallel_featured_tags_feature_exactly_the_limit
    tested["endorsements"] = test_parallel_endorsements_endorse_exactly_the_limit
    assert {limit.name for limit in limits.LIMITS} == set(tested)
    src = Path(limits.__file__).parents[2]  # all of agora/
    offenders = []
    for path in sorted(src.rglob("*.py")):
        if path.name == "limits.py":
            continue
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.AsyncFunctionDef | ast.FunctionDef):
                continue
            text = ast.unparse(fn)
            if "func.count()" in text and ("raise Invalid" in text or "raise Quota" in text):
                offenders.append(f"{path.relative_to(src)}:{fn.name}")
    assert offenders == sorted(NOT_LIMITS), "count-then-refuse outside social/rules/limits.py"


# --- uniqueness ---------------------------------------------------------------------------


async def _signup_app_headers(client: httpx.AsyncClient) -> dict[str, str]:
    app = await client.post(
        "/api/v1/apps",
        data={
            "client_name": "racers",
            "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
            "scopes": "read write",
        },
    )
    grant = {
        "grant_type": "client_credentials",
        "client_id": app.json()["client_id"],
        "client_secret": app.json()["client_secret"],
        "scope": "read write",
    }
    token = (await client.post("/oauth/token", data=grant)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("same", "message"),
    [("username", "Username has already been taken"), ("email", "Email has already been taken")],
)
async def test_parallel_api_sign_ups_with_one_name_make_one_account(
    db, client, racer, same, message
):
    headers = await _signup_app_headers(client)

    async def sign_up(c: httpx.AsyncClient, i: int) -> httpx.Response:
        form = {
            "username": "racer" if same == "username" else f"racer{i}",
            "email": "racer@example.org" if same == "email" else f"racer{i}@example.org",
            "password": "long enough password",
            "agreement": "true",
        }
        return await c.post("/api/v1/accounts", headers=headers, data=form)

    won, lost = split(await race(racer, RACERS, sign_up), 200)
    assert len(won) == 1 and errors(lost) == {message}
    assert await count(db, select(func.count()).select_from(User)) == 1
    assert await count(db, select(func.count()).select_from(Account)) == 1


async def test_parallel_web_sign_ups_with_one_name_make_one_account(db, racer):
    async def sign_up(c: httpx.AsyncClient, i: int) -> httpx.Response:
        form = {
            "csrf": c.headers["x-test-csrf"],
            "username": "racer",
            "email": f"racer{i}@example.org",
            "password": "long enough password",
            "confirm": "long enough password",
            "agreement": "on",
        }
        return await c.post("/auth/sign_up", data=form)

    responses = await race(racer, RACERS, sign_up)
    assert all(r.status_code < 500 for r in responses), [r.text for r in responses]
    won = [r for r in responses if r.status_code == 303]
    lost = [r for r in responses if r.status_code != 303]
    assert len(won) == 1 and all(r.status_code == 422 for r in lost)
    assert all("Username has already been taken" in r.text for r in lost)
    assert await count(db, select(func.count()).select_from(Account)) == 1


async def test_parallel_mutes_of_one_account_make_one_mute(db, make_person, racer):
    alice, bob = await make_person("alice"), await make_person("bob")

    async def mute(c: httpx.AsyncClient, i: int) -> httpx.Response:
        return await c.post(f"/api/v1/accounts/{bob.id}/mute", headers=alice.headers)

    responses = await race(racer, RACERS, mute)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert await count(db, select(func.count()).select_from(Mute)) == 1


async def test_parallel_markers_make_one_marker_per_timeline(db, make_person, racer):
    alice = await make_person("alice")

    async def mark(c: httpx.AsyncClient, i: int) -> httpx.Response:
        body = {"home": {"last_read_id": str(1000 + i)}}
        return await c.post("/api/v1/markers", headers=alice.headers, json=body)

    responses = await race(racer, RACERS, mark)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert await count(db, select(func.count()).select_from(Marker)) == 1
    async with db.session() as session:
        marker = await session.get(Marker, (alice.id, "home"))
    assert marker is not None and marker.version == RACERS


async def test_parallel_consent_changes_of_different_categories_all_stay(db, make_person, racer):
    """Each request turns one category on: none of the read-modify-writes of the account's
    choices may lose another's, and the stored state equals the log's replay."""
    from agora.data import consent

    alice = await make_person("alice")
    categories = list(consent.Category)

    async def allow(c: httpx.AsyncClient, i: int) -> httpx.Response:
        body = {categories[i % len(categories)].value: True}
        return await c.patch("/api/v1/agora/data_reuse", headers=alice.headers, json=body)

    responses = await race(racer, RACERS, allow)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    async with db.session() as session:
        account = await session.get(Account, alice.id)
        assert account is not None
        log = await consent.account_log(session, alice.id)
    assert set(account.data_reuse) == {c.value for c in categories}
    assert len(log) == len(categories)  # each category changed once; repeats log nothing
    replayed = consent.replay(log, max(e.id for e in log)).intents[alice.id]
    assert {c: v["allow"] for c, v in account.data_reuse.items()} == replayed


async def test_parallel_posts_with_one_idempotency_key_make_one_post(db, make_person, racer):
    alice = await make_person("alice")
    headers = {**alice.headers, "Idempotency-Key": "once"}

    async def publish(c: httpx.AsyncClient, i: int) -> httpx.Response:
        return await c.post("/api/v1/statuses", headers=headers, data={"status": "hello"})

    responses = await race(racer, RACERS, publish)
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(db, select(func.count()).select_from(Post)) == 1


async def test_unique_or_invalid_names_the_taken_key_and_lets_other_errors_through(db):
    """The violation itself (not the friendly check before it) becomes the 422, on both
    backends; the caller's transaction stays usable; a foreign-key error is not a 'taken'."""
    from sqlalchemy.exc import IntegrityError

    from agora.db.models import utcnow
    from agora.social.people.accounts import TAKEN, create_account
    from agora.social.rules.errors import Invalid

    async with db.session(write=True) as session:
        first = await create_account(session, username="Taken", email="t@example.org")
        first_id = first.id
        with pytest.raises(Invalid, match="Username has already been taken"):
            async with limits.unique_or_invalid(session, TAKEN):
                session.add(
                    Account(
                        username="TAKEN", username_lower="taken", created_at=utcnow(), fields=[]
                    )
                )
        with pytest.raises(IntegrityError):
            async with limits.unique_or_invalid(session, TAKEN):
                session.add(Pin(id=1, account_id=first_id, post_id=123456789))  # no such post
        await session.commit()
    assert await count(db, select(func.count()).select_from(Account)) == 1
