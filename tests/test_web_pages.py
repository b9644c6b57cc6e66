"""The web app over HTTP (in-process): every page renders for a signed-in person, the
unhappy paths answer HTML with the right status, and the web shows what the API shows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from agora.db.models import Favourite, Post, WebSession, utcnow
from helpers import csrf_of, post_ids, post_status_id, web_sign_in

HX = {"HX-Request": "true"}
PAGES = [
    "/home",
    "/local",
    "/tags/web",
    "/@bob",
    "/@bob?tab=replies",
    "/@bob?tab=media",
    "/notifications",
    "/bookmarks",
    "/favourites",
    "/follow_requests",
    "/settings/profile",
    "/settings/password",
    "/settings/apps",
    "/settings/data",
    "/settings/blocks",
    "/search",
    "/search?q=hello",
    "/lists",
]


@pytest.fixture
async def world(client, make_person, run_jobs):  # type: ignore[no-untyped-def]
    alice = await make_person("alice")
    bob = await make_person("bob")
    await client.post(f"/api/v1/accounts/{bob.id}/follow", headers=alice.headers)
    post_id = await post_status_id(client, bob, "hello #web", spoiler_text="spoilers")
    await run_jobs()
    return alice, bob, post_id


async def test_every_page_renders_signed_in(client, world) -> None:  # type: ignore[no-untyped-def]
    _, _, post_id = world
    await web_sign_in(client, "alice")
    for path in [*PAGES, f"/@bob/{post_id}"]:
        page = await client.get(path)
        assert page.status_code == 200, path
        assert "text/html" in page.headers["content-type"]
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "private, no-store"
        assert 'hx-headers=\'{"X-CSRF-Token": "' in page.text
        assert "<script>" not in page.text  # no inline scripts


async def test_signed_out_pages_redirect_or_render(client, world) -> None:  # type: ignore[no-untyped-def]
    _, _, post_id = world
    for path in ["/home", "/notifications", "/settings/profile", "/bookmarks"]:
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/auth/sign_in?next=")
    for path in ["/", "/local", "/@bob", f"/@bob/{post_id}", "/auth/sign_in", "/auth/sign_up"]:
        assert (await client.get(path)).status_code == 200, path
    htmx = await client.post(f"/web/statuses/{post_id}/favourite", headers=HX)
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/auth/sign_in"


async def test_signals_stay_on_profile_and_post(client, world) -> None:  # type: ignore[no-untyped-def]
    _, _, post_id = world
    await web_sign_in(client, "alice")
    for path in ["/@bob", f"/@bob/{post_id}"]:
        page = await client.get(path)
        assert "tdm-reservation" in page.headers
        assert '<meta name="robots"' in page.text or '<meta name="tdm-reservation"' in page.text


async def test_sign_up_then_post_and_see_it_at_home(client, run_jobs) -> None:  # type: ignore[no-untyped-def]
    page = await client.get("/auth/sign_up")
    form = {
        "csrf": csrf_of(page.text),
        "username": "carol",
        "email": "carol@example.org",
        "password": "long enough password",
        "confirm": "long enough password",
        "agreement": "on",
    }
    response = await client.post("/auth/sign_up", data=form)
    assert response.status_code == 303 and response.headers["location"] == "/home"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    home = await client.get("/home")
    csrf = csrf_of(home.text)
    made = await client.post(
        "/web/statuses",
        data={"csrf": csrf, "status": "first post", "spoiler_text": "", "visibility": "public"},
        headers=HX,
    )
    assert made.status_code == 200 and "first post" in made.text
    await run_jobs()
    assert "first post" in (await client.get("/home")).text


async def test_pending_account_session_cannot_act(client, make_person, db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from agora.config import get_settings
    from agora.db.models import User

    monkeypatch.setattr(get_settings(), "registrations", "approval")
    page = await client.get("/auth/sign_up")
    form = {
        "csrf": csrf_of(page.text),
        "username": "carol",
        "email": "carol@example.org",
        "password": "long enough password",
        "confirm": "long enough password",
        "agreement": "on",
    }
    response = await client.post("/auth/sign_up", data=form)
    assert response.status_code == 200 and "agora_session" not in response.headers.get(
        "set-cookie", ""
    )
    page = await client.get("/auth/sign_in")
    refused = await client.post(
        "/auth/sign_in",
        data={"csrf": csrf_of(page.text), "username": "carol", "password": form["password"]},
    )
    assert refused.status_code == 403 and "pending approval" in refused.text
    # a session that exists while its account waits for approval (e.g. approval withdrawn)
    await make_person("alice")
    csrf = await web_sign_in(client, "alice")
    async with db.transaction() as session:
        await session.execute(update(User).values(approved=False))
    assert (await client.get("/home")).status_code == 303  # signed out
    made = await client.post(
        "/web/statuses",
        data={"csrf": csrf, "status": "while pending", "visibility": "public"},
        headers=HX,
    )
    assert made.status_code == 401 and made.headers["hx-redirect"] == "/auth/sign_in"
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Post)) == 0


async def test_sign_up_rejects_bad_input(client) -> None:  # type: ignore[no-untyped-def]
    page = await client.get("/auth/sign_up")
    base = {"csrf": csrf_of(page.text), "email": "x@example.org", "agreement": "on"}
    bad = [
        {"username": "no spaces", "password": "long enough", "confirm": "long enough"},
        {"username": "dave", "password": "short", "confirm": "short"},
        {"username": "dave", "password": "long enough", "confirm": "different!"},
    ]
    for fields in bad:
        response = await client.post("/auth/sign_up", data={**base, **fields})
        assert response.status_code == 422
        assert 'class="error"' in response.text
    assert (await client.get("/home")).status_code == 303  # not signed in


async def test_wrong_password_and_rate_limit(client, make_person, app) -> None:  # type: ignore[no-untyped-def]
    await make_person("alice")
    page = await client.get("/auth/sign_in")
    csrf = csrf_of(page.text)
    wrong = await client.post(
        "/auth/sign_in", data={"csrf": csrf, "username": "alice", "password": "nope nope"}
    )
    assert wrong.status_code == 401 and "Invalid email or password" in wrong.text
    from limits import parse_many

    app.state.ratelimits.sign_in_account = parse_many("2/minute")
    codes = []
    for _ in range(3):
        response = await client.post(
            "/auth/sign_in", data={"csrf": csrf, "username": "limited", "password": "x" * 8}
        )
        codes.append(response.status_code)
    assert codes == [401, 401, 429]


async def test_csrf_failure_changes_nothing(client, world, db) -> None:  # type: ignore[no-untyped-def]
    _, _, post_id = world
    csrf = await web_sign_in(client, "alice")
    for headers in ({}, {"X-CSRF-Token": "0" * 64}):
        response = await client.post(
            f"/web/statuses/{post_id}/favourite", headers={**HX, **headers}
        )
        assert response.status_code == 403
    page = await client.get("/auth/sign_in")  # signed out forms need it too
    assert page.status_code == 303  # (alice is signed in: sent on)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Favourite)) == 0
    ok = await client.post(
        f"/web/statuses/{post_id}/favourite", headers={**HX, "X-CSRF-Token": csrf}
    )
    assert ok.status_code == 200 and 'aria-pressed="true"' in ok.text


async def test_sign_in_form_without_csrf_is_refused(client, make_person) -> None:  # type: ignore[no-untyped-def]
    await make_person("alice")
    response = await client.post(
        "/auth/sign_in", data={"username": "alice", "password": "correct horse battery"}
    )
    assert response.status_code == 403
    assert (await client.get("/home")).status_code == 303


async def test_expired_session_signs_out(client, world, db) -> None:  # type: ignore[no-untyped-def]
    await web_sign_in(client, "alice")
    async with db.session(write=True) as session:
        await session.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    response = await client.get("/home")
    assert response.status_code == 303 and response.headers["location"].startswith("/auth/sign_in")


async def test_sign_out_ends_the_session(client, world, db) -> None:  # type: ignore[no-untyped-def]
    csrf = await web_sign_in(client, "alice")
    stolen = client.cookies.get("agora_session")
    response = await client.post("/auth/sign_out", data={"csrf": csrf})
    assert response.status_code == 303
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(WebSession)) == 0
    client.cookies.set("agora_session", stolen)  # a copied cookie is worth nothing now
    assert (await client.get("/home")).status_code == 303


async def test_session_token_is_stored_hashed(client, world, db) -> None:  # type: ignore[no-untyped-def]
    await web_sign_in(client, "alice")
    token = client.cookies.get("agora_session")
    async with db.session() as session:
        stored = await session.scalar(select(WebSession.token_hash))
    assert stored and token and stored != token and len(stored) == 64


async def test_post_you_may_not_see_is_404(client, make_person, run_jobs) -> None:  # type: ignore[no-untyped-def]
    await make_person("alice")
    bob = await make_person("bob")
    secret = await post_status_id(client, bob, "followers only", visibility="private")
    await web_sign_in(client, "alice")
    for path in [f"/@bob/{secret}", f"/web/statuses/{secret}", "/@bob/123", "/@bob/x", "/@nobody"]:
        response = await client.get(path)
        assert response.status_code == 404, path
    assert "followers only" not in (await client.get("/@bob")).text
    liked = await client.post(
        f"/web/statuses/{secret}/favourite",
        headers={**HX, "X-CSRF-Token": csrf_of((await client.get("/home")).text)},
    )
    assert liked.status_code == 404


async def test_web_home_shows_the_same_ids_as_the_api(client, make_person, run_jobs) -> None:  # type: ignore[no-untyped-def]
    alice = await make_person("alice")
    bob = await make_person("bob")
    carol = await make_person("carol")
    for target in (bob, carol):
        await client.post(f"/api/v1/accounts/{target.id}/follow", headers=alice.headers)
    first = await post_status_id(client, bob, "public one")
    await post_status_id(client, bob, "followers one", visibility="private")
    await post_status_id(client, carol, "to alice @alice", visibility="direct")
    await client.post(f"/api/v1/statuses/{first}/reblog", headers=carol.headers)
    await client.post(f"/api/v1/accounts/{carol.id}/mute", headers=alice.headers)
    await post_status_id(client, bob, "after the mute")
    await run_jobs()
    api = await client.get("/api/v1/timelines/home?limit=40", headers=alice.headers)
    await web_sign_in(client, "alice")
    web = await client.get("/home")
    assert post_ids(web.text) == [int(s["id"]) for s in api.json()]
    assert len(post_ids(web.text)) >= 3


async def test_like_boost_bookmark_swap_only_the_post(client, world, db) -> None:  # type: ignore[no-untyped-def]
    _, _, post_id = world
    csrf = await web_sign_in(client, "alice")
    headers = {**HX, "X-CSRF-Token": csrf}
    for action, mark in [
        ("favourite", "Like (1)"),
        ("reblog", "Boost (1)"),
        ("bookmark", 'aria-label="Bookmark"'),
        ("unfavourite", "Like (0)"),
    ]:
        response = await client.post(f"/web/statuses/{post_id}/{action}", headers=headers)
        assert response.status_code == 200, action
        assert response.text.lstrip().startswith("<article") and mark in response.text
        assert "<html" not in response.text
    assert post_id in (await client.get("/bookmarks")).text
    unknown = await client.post(f"/web/statuses/{post_id}/explode", headers=headers)
    assert unknown.status_code == 404


async def test_mute_conversation_on_the_thread_page(client, world, run_jobs) -> None:  # type: ignore[no-untyped-def]
    """ "Mute conversation" on a thread page: the API's conversation mute (the Status says
    `muted`, a reply in the thread notifies nobody), "Unmute" undoes it; only the thread
    page offers it; a post one may not see: 404."""
    alice, bob, post_id = world
    reply = await post_status_id(client, alice, "@bob a reply", in_reply_to_id=post_id)
    csrf = await web_sign_in(client, "bob")
    page = await client.get(f"/@bob/{post_id}")
    assert (
        "Mute conversation" in page.text
        and "Mute conversation" not in (await client.get("/@bob")).text
    )
    muted = await client.post(
        f"/web/statuses/{post_id}/mute", headers={**HX, "X-CSRF-Token": csrf}, data={"focus": "1"}
    )
    assert muted.status_code == 200 and "Unmute conversation" in muted.text
    shown = await client.get(f"/api/v1/statuses/{reply}", headers=bob.headers)
    assert shown.json()["muted"] is True  # the whole thread, as the API mutes it
    await post_status_id(client, alice, "@bob again", in_reply_to_id=reply)
    await run_jobs()
    notes = (await client.get("/api/v1/notifications", headers=bob.headers)).json()
    assert [n for n in notes if n["type"] == "mention"] == []
    assert "Unmute conversation" in (await client.get(f"/@bob/{post_id}")).text
    back = await client.post(  # without HTMX: back to the page
        f"/web/statuses/{post_id}/unmute",
        data={"csrf": csrf, "focus": "1"},
        headers={"Referer": f"http://testserver/@bob/{post_id}"},
    )
    assert back.status_code == 303 and back.headers["location"] == f"/@bob/{post_id}"
    shown = await client.get(f"/api/v1/statuses/{post_id}", headers=bob.headers)
    assert shown.json()["muted"] is False
    secret = await post_status_id(client, alice, "mine alone", visibility="direct")
    hidden = await client.post(f"/web/statuses/{secret}/mute", headers={**HX, "X-CSRF-Token": csrf})
    assert hidden.status_code == 404


async def test_reply_edit_delete(client, world, db, run_jobs) -> None:  # type: ignore[no-untyped-def]
    _, _, post_id = world
    csrf = await web_sign_in(client, "alice")
    headers = {**HX, "X-CSRF-Token": csrf}
    reply = await client.post(
        "/web/statuses",
        data={"status": "@bob nice", "in_reply_to_id": post_id, "visibility": "public"},
        headers=headers,
    )
    assert reply.status_code == 200
    reply_id = post_ids(reply.text)[0]
    thread = await client.get(f"/@bob/{post_id}")
    assert str(reply_id) in thread.text and 'id="reply"' in thread.text
    form = await client.get(f"/web/statuses/{reply_id}/edit", headers=headers)
    assert form.status_code == 200 and "<textarea" in form.text
    edited = await client.post(
        f"/web/statuses/{reply_id}/edit", data={"status": "@bob very nice"}, headers=headers
    )
    assert "very nice" in edited.text and "edited" in edited.text
    other = await client.get(f"/web/statuses/{post_id}/edit", headers=headers)
    assert other.status_code == 404  # not hers
    gone = await client.post(f"/web/statuses/{reply_id}/delete", headers=headers)
    assert gone.status_code == 200 and gone.text == ""
    async with db.session() as session:
        assert (await session.get(Post, reply_id)).deleted_at is not None
    empty = await client.post(
        "/web/statuses", data={"status": "   ", "visibility": "public"}, headers=headers
    )
    assert empty.status_code == 422 and "blank" in empty.text


async def test_follow_request_flow_and_blocks(client, make_person, run_jobs) -> None:  # type: ignore[no-untyped-def]
    alice = await make_person("alice", locked=True)
    bob = await make_person("bob")
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    await run_jobs()
    csrf = await web_sign_in(client, "alice")
    headers = {**HX, "X-CSRF-Token": csrf}
    waiting = await client.get("/follow_requests")
    assert "@bob" in waiting.text
    accepted = await client.post(f"/web/follow_requests/{bob.id}/accept", headers=headers)
    assert accepted.status_code == 200 and accepted.text == ""
    assert "@bob" not in (await client.get("/follow_requests")).text
    rel = await client.post(f"/web/accounts/{bob.id}/block", headers=headers)
    assert rel.status_code == 200 and "Unblock" in rel.text
    assert "@bob" in (await client.get("/settings/blocks")).text
    rel = await client.post(f"/web/accounts/{bob.id}/unblock", headers=headers)
    assert "Follow" in rel.text
    me = await client.post("/web/accounts/999/follow", headers=headers)
    assert me.status_code == 404


async def test_notifications_page_lists_a_like(client, world, run_jobs) -> None:  # type: ignore[no-untyped-def]
    alice, _, post_id = world
    await client.post(f"/api/v1/statuses/{post_id}/favourite", headers=alice.headers)
    await run_jobs()
    await web_sign_in(client, "bob")
    page = await client.get("/notifications")
    assert "liked your post" in page.text and "@alice" not in page.text.split("liked")[0][-5:]


async def test_settings_forms(client, world, db) -> None:  # type: ignore[no-untyped-def]
    csrf = await web_sign_in(client, "alice")
    saved = await client.post(
        "/settings/profile",
        data={"csrf": csrf, "display_name": "Alice A.", "note": "hi #there", "locked": "on"},
    )
    assert saved.status_code == 303
    assert "Alice A." in (await client.get("/@alice")).text
    too_long = await client.post(
        "/settings/profile", data={"csrf": csrf, "display_name": "x" * 31, "note": ""}
    )
    assert too_long.status_code == 422
    data = await client.post(
        "/settings/data",
        data={"csrf": csrf, "syntheticContentGeneration": "allow", "bulkDataset": "deny"},
    )
    assert data.status_code == 303
    api = await client.get("/api/v1/agora/data_reuse", headers=world[0].headers)
    assert api.json()["intents"]["syntheticContentGeneration"]["allow"] is True
    assert api.json()["intents"]["bulkDataset"]["allow"] is False
    bad = await client.post("/settings/data", data={"csrf": csrf, "bulkDataset": "maybe"})
    assert bad.status_code == 422
    apps = await client.get("/settings/apps")
    assert "tests" in apps.text
    app_id = apps.text.split("/settings/apps/")[1].split("/")[0]
    await client.post(f"/settings/apps/{app_id}/revoke", data={"csrf": csrf})
    revoked = await client.get("/api/v1/accounts/verify_credentials", headers=world[0].headers)
    assert revoked.status_code == 401
    wrong = await client.post(
        "/settings/password",
        data={
            "csrf": csrf,
            "current": "bad",
            "new_password": "new password!",
            "confirm": "new password!",
        },
    )
    assert wrong.status_code == 422
    right = await client.post(
        "/settings/password",
        data={
            "csrf": csrf,
            "current": "correct horse battery",
            "new_password": "new password!",
            "confirm": "new password!",
        },
    )
    assert right.status_code == 303


async def test_infinite_scroll_fragment(client, make_person, run_jobs) -> None:  # type: ignore[no-untyped-def]
    bob = await make_person("bob")
    for i in range(45):
        await post_status_id(client, bob, f"post {i}")
    await web_sign_in(client, "bob")
    page = await client.get("/@bob?tab=replies")
    assert len(post_ids(page.text)) == 40 and 'hx-trigger="revealed"' in page.text
    next_url = page.text.split('hx-get="')[-1].split('"')[0].replace("&amp;", "&")
    chunk = await client.get(next_url, headers=HX)
    assert "<html" not in chunk.text and len(post_ids(chunk.text)) == 5
    assert 'hx-trigger="revealed"' not in chunk.text
