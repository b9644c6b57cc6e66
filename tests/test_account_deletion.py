"""Deleting an account: from the settings with the password (and the 2FA code), suspended at
once, erased by the job. The test lists the tables (`account_deletion.FATE`), so a new table
nobody thought about fails it; after the job no row of a "deleted" table refers to the
account or its posts, its media files are gone, others' counters are right, its username
stays taken, and the next dataset export withdraws its posts."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select, text, update

from agora.auth import oauth, two_factor
from agora.auth.password_reset import admin_reset_link
from agora.config import get_settings
from agora.data import consent
from agora.data.consent import Category
from agora.data.export import export_dataset
from agora.db.models import (
    Account,
    AccountArchive,
    AiUsage,
    AssistantConversation,
    AssistantMessage,
    AssistantReply,
    Base,
    CommunityNote,
    CommunityNoteRating,
    CommunityNoteStatusChange,
    MediaAttachment,
    NotificationPermission,
    NotificationRequest,
    OAuthApp,
    Post,
    User,
    utcnow,
)
from agora.social.people.account_deletion import DELETED, FATE
from agora.social.reading.for_you_precompute import precompute
from helpers import ADMIN_SCOPES, PASSWORD, boost, csrf_of, follow, post_status, web_sign_in
from push_receiver import PushReceiver
from test_media_api import png_bytes
from test_two_factor import code_at

ACCOUNT_COLUMNS = ("account_id", "target_account_id", "from_account_id", "author_id")
POST_COLUMNS = ("post_id", "reblog_of_id", "mention_post_id", "reply_post_id")


def test_every_table_has_a_fate():
    """A new table must say what account deletion does with it (FATE)."""
    assert set(FATE) == set(Base.metadata.tables)


async def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def _world(
    client: httpx.AsyncClient, browser: httpx.AsyncClient, db: Any, make_person: Any
) -> dict[str, Any]:
    """`leaver` with data in every table deletion empties (signed in on `browser` too), and
    others around them."""
    leaver, stayer = await make_person("leaver"), await make_person("stayer")
    locked = await make_person("locked", locked=True)
    admin = await make_person("moder", scopes=ADMIN_SCOPES)
    async with db.transaction() as session:
        await session.execute(update(User).where(User.account_id == admin.id).values(is_admin=True))
    h = leaver.headers
    media = await _ok(
        await client.post(
            "/api/v1/media", headers=h, files={"file": ("a.png", png_bytes(), "image/png")}
        )
    )
    own = await post_status(client, leaver, "goodbye #farewell", **{"media_ids[]": media["id"]})
    poll = await post_status(
        client, leaver, "which?", **{"poll[options][]": ["a", "b"], "poll[expires_in]": "3600"}
    )
    edited = await client.put(
        f"/api/v1/statuses/{own['id']}", headers=h, data={"status": "goodbye again #farewell"}
    )
    await _ok(edited)
    await _ok(
        await client.post("/api/v1/domain_blocks", headers=h, data={"domain": "spam.example"})
    )
    device = PushReceiver()  # its keys only: nothing is pushed in this test
    subscription = {
        "subscription[endpoint]": "https://push.example.net/device-1",
        "subscription[keys][p256dh]": device.p256dh,
        "subscription[keys][auth]": device.auth_secret,
    }
    await _ok(await client.post("/api/v1/push/subscription", headers=h, data=subscription))
    spoilers = {"title": "Spoilers", "context": ["home"], "keywords_attributes": [{"keyword": "x"}]}
    await _ok(await client.post("/api/v2/filters", headers=h, json=spoilers))
    policy = {"for_not_following": "filter"}
    await _ok(await client.patch("/api/v2/notifications/policy", headers=h, data=policy))
    later = {"status": "see you next week", "scheduled_at": "2099-01-01T00:00:00+00:00"}
    await _ok(await client.post("/api/v1/statuses", headers=h, data=later))  # a scheduled post
    await web_sign_in(browser, "leaver")
    # discovery: a featured hashtag, an endorsement, a note and a dismissed suggestion
    await _ok(await client.post("/api/v1/featured_tags", headers=h, data={"name": "farewell"}))
    await _ok(await client.post(f"/api/v1/accounts/{stayer.id}/follow", headers=h))
    await _ok(await client.post(f"/api/v1/accounts/{stayer.id}/pin", headers=h))
    await _ok(
        await client.post(f"/api/v1/accounts/{stayer.id}/note", headers=h, data={"comment": "x"})
    )
    await _ok(await client.delete(f"/api/v1/suggestions/{stayer.id}", headers=h))
    reply = await post_status(client, stayer, "a reply to you", in_reply_to_id=own["id"])
    quote = await post_status(client, stayer, "quoting you", quoted_status_id=own["id"])
    theirs = await post_status(client, stayer, "hello @leaver")
    await post_status(client, stayer, "@leaver psst", visibility="direct")  # a conversation
    others = await _ok(await client.post("/api/v2/filters", headers=stayer.headers, json=spoilers))
    await _ok(  # another person's filter naming the leaver's post goes with the post
        await client.post(
            f"/api/v2/filters/{others['id']}/statuses",
            headers=stayer.headers,
            data={"status_id": own["id"]},
        )
    )
    await _ok(  # the leaver's For You weights and feedback, and another's about its post
        await client.patch(
            "/api/v1/agora/for_you/weights", headers=h, json={"weights": {"likes": 2}}
        )
    )
    await _ok(
        await client.post(
            "/api/v1/agora/for_you/feedback",
            headers=stayer.headers,
            data={"status_id": own["id"], "type": "more"},
        )
    )
    their_poll = await post_status(
        client, stayer, "vote", **{"poll[options][]": ["x", "y"], "poll[expires_in]": "3600"}
    )
    await _ok(
        await client.post(
            "/api/v1/statuses",
            headers={**h, "Idempotency-Key": "k1"},
            data={"status": "a reply", "in_reply_to_id": theirs["id"]},
        )
    )
    await boost(client, leaver, theirs["id"])
    await boost(client, stayer, own["id"])
    await follow(client, leaver, stayer)
    await follow(client, stayer, leaver)
    await follow(client, leaver, locked)  # a request
    for action in ("favourite", "bookmark"):
        await _ok(await client.post(f"/api/v1/statuses/{theirs['id']}/{action}", headers=h))
        await _ok(
            await client.post(f"/api/v1/statuses/{own['id']}/{action}", headers=stayer.headers)
        )
    await _ok(await client.post(f"/api/v1/statuses/{own['id']}/pin", headers=h))
    await _ok(
        await client.post(
            f"/api/v1/polls/{their_poll['poll']['id']}/votes", headers=h, data={"choices[]": "0"}
        )
    )
    await _ok(await client.post(f"/api/v1/accounts/{admin.id}/block", headers=h))
    await _ok(await client.post(f"/api/v1/accounts/{locked.id}/mute", headers=h))
    await _ok(await client.post("/api/v1/tags/farewell/follow", headers=h))
    await _ok(
        await client.post("/api/v1/markers", headers=h, data={"home[last_read_id]": theirs["id"]})
    )
    news = await _ok(
        await client.post("/api/v1/admin/announcements", headers=admin.headers, data={"text": "hi"})
    )
    await _ok(await client.post(f"/api/v1/announcements/{news['id']}/dismiss", headers=h))
    await _ok(await client.post(f"/api/v1/statuses/{theirs['id']}/mute", headers=h))
    await _ok(await client.put(f"/api/v1/announcements/{news['id']}/reactions/👋", headers=h))
    mine = await _ok(await client.post("/api/v1/lists", headers=h, data={"title": "mine"}))
    await _ok(
        await client.post(
            f"/api/v1/lists/{mine['id']}/accounts", headers=h, data={"account_ids[]": stayer.id}
        )
    )
    their_list = await _ok(
        await client.post("/api/v1/lists", headers=stayer.headers, data={"title": "theirs"})
    )
    await _ok(
        await client.post(
            f"/api/v1/lists/{their_list['id']}/accounts",
            headers=stayer.headers,
            data={"account_ids[]": leaver.id},
        )
    )
    await _ok(
        await client.post(
            "/api/v1/reports", headers=h, data={"account_id": stayer.id, "comment": "meh"}
        )
    )
    await _ok(
        await client.post("/api/v1/reports", headers=stayer.headers, data={"account_id": leaver.id})
    )
    archive = await client.post("/api/v1/agora/archive", headers=h)
    imported = await client.post(
        "/api/v1/agora/imports",
        headers=h,
        data={"type": "blocking"},
        files={"data": ("blocked_accounts.csv", b"nobody@testserver\n", "text/csv")},
    )
    assert archive.status_code == imported.status_code == 202
    actor = await client.get("/users/leaver", headers={"Accept": "application/activity+json"})
    assert actor.status_code == 200  # makes the account's key
    async with db.session(write=True) as session:
        account = await session.get(Account, leaver.id)
        await consent.set_intents(session, account, {Category.GENAI_TEXT: True})
        await admin_reset_link(session, "leaver")  # an email token
        setup = await two_factor.begin_setup(session, account)
        await two_factor.enable(session, account, code_at(setup.secret))
        app = (await session.scalars(select(OAuthApp).limit(1))).one()
        await oauth.create_code(session, app, account, ["read"], oauth.OOB, None, None)
        session.add_all(  # accepted notifications from one person, filtered from another
            [
                NotificationPermission(
                    account_id=leaver.id, from_account_id=locked.id, created_at=utcnow()
                ),
                NotificationRequest(
                    account_id=leaver.id, from_account_id=admin.id, updated_at=utcnow()
                ),
            ]
        )
        conversation = AssistantConversation(
            account_id=leaver.id, title="chat", created_at=utcnow(), updated_at=utcnow()
        )
        session.add(conversation)
        await session.flush()
        session.add(
            AssistantMessage(
                conversation_id=conversation.id,
                role="user",
                content="hi",
                created_at=utcnow(),
            )
        )
        usage = AiUsage(
            account_id=leaver.id, action="chat", provider="local", model="m", created_at=utcnow()
        )
        session.add(usage)
        session.add(
            AssistantReply(mention_post_id=int(own["id"]), outcome="skipped", created_at=utcnow())
        )
        # Community Notes: the leaver's note on a post of the stayer's, the stayer's note on
        # the leaver's post (with its status history), and the leaver's rating of it
        theirs_note = CommunityNote(
            post_id=int(theirs["id"]),
            account_id=leaver.id,
            classification="missing_context",
            text="see https://example.org",
            created_at=utcnow(),
        )
        on_own = CommunityNote(
            post_id=int(own["id"]),
            account_id=stayer.id,
            classification="misleading",
            text="see https://example.org",
            created_at=utcnow(),
        )
        session.add_all([theirs_note, on_own])
        await session.flush()
        session.add(
            CommunityNoteStatusChange(
                note_id=on_own.id, post_id=int(own["id"]), status="helpful", created_at=utcnow()
            )
        )
        session.add(
            CommunityNoteRating(
                note_id=on_own.id, account_id=leaver.id, helpfulness="helpful", created_at=utcnow()
            )
        )
        await session.commit()
    return {
        "leaver": leaver,
        "stayer": stayer,
        "own": own,
        "theirs": theirs,
        "reply": reply,
        "quote": quote,
        "their_poll": their_poll,
        "poll": poll,
        "media": media,
        "secret": setup.secret,
    }


async def _referring_rows(db: Any, account_id: int, post_ids: set[int]) -> dict[str, int]:
    """For each table deletion empties: rows that still name the account or one of its
    posts (any account or post column)."""
    found: dict[str, int] = {}
    async with db.session() as session:
        for name, table in Base.metadata.tables.items():
            if FATE[name] != DELETED and name != "posts":
                continue
            conditions = [f"{c} = {account_id}" for c in ACCOUNT_COLUMNS if c in table.c]
            if post_ids:
                listed = ", ".join(str(p) for p in post_ids)
                conditions += [f"{c} IN ({listed})" for c in POST_COLUMNS if c in table.c]
                if name == "posts":
                    conditions.append(f"id IN ({listed})")
            if not conditions:
                continue
            count = await session.scalar(
                text(f"SELECT count(*) FROM {name} WHERE {' OR '.join(conditions)}")
            )
            if count:
                found[name] = int(count)
    return found


async def test_deleting_an_account_erases_it_everywhere(
    app, client, db, make_person, run_jobs, tmp_path
):
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    world = await _world(client, browser, db, make_person)
    leaver, stayer = world["leaver"], world["stayer"]
    await run_jobs()
    await precompute(db, [leaver.id, stayer.id])  # their For You sets (the job's rows)
    first = await export_dataset(db, "genai-text", tmp_path / "before", fmt="jsonl")
    assert first["counts"]["posts"] >= 1
    async with db.session() as session:
        post_ids = set(
            (await session.scalars(select(Post.id).where(Post.account_id == leaver.id))).all()
        )
        boosts_of_theirs = set(
            (await session.scalars(select(Post.id).where(Post.reblog_of_id.in_(post_ids)))).all()
        )
    assert len(post_ids) == 4 and boosts_of_theirs  # own post, poll, reply, boost
    before = await _referring_rows(db, leaver.id, post_ids | boosts_of_theirs)
    assert set(before) == {n for n, f in FATE.items() if f == DELETED} - {
        "assistant_messages",  # refers to its conversation
        "poll_options",  # refers to its poll
        "filter_keywords",  # refers to its filter
        "csv_import_rows",  # refers to its import
    }, "the world should reach every table deletion empties"
    async with db.session() as session:
        names = await session.scalars(
            select(AccountArchive.file_name).where(AccountArchive.account_id == leaver.id)
        )
        archives = [get_settings().archive_dir / name for name in names if name]
    assert archives and all(p.exists() for p in archives)  # the job made it; kept till deletion
    media_root = get_settings().media_dir
    async with db.session() as session:
        media_key = await session.scalar(
            select(MediaAttachment.key).where(MediaAttachment.account_id == leaver.id)
        )
    assert media_key and any(media_key in p.name for p in media_root.rglob("*"))

    form_page = await browser.get("/settings/delete")
    assert form_page.status_code == 200 and 'name="code"' in form_page.text
    csrf = csrf_of(form_page.text)
    wrong = await browser.post(
        "/settings/delete", data={"csrf": csrf, "password": "wrong", "code": ""}
    )
    assert wrong.status_code == 422
    no_code = await browser.post(
        "/settings/delete", data={"csrf": csrf, "password": PASSWORD, "code": "000000"}
    )
    assert no_code.status_code == 422 and two_factor.WRONG_CODE in no_code.text
    assert (
        await client.get("/api/v1/accounts/verify_credentials", headers=leaver.headers)
    ).status_code == 200
    done = await browser.post(
        "/settings/delete",
        data={"csrf": csrf, "password": PASSWORD, "code": code_at(world["secret"], 1)},
    )
    assert done.status_code == 200 and "Account deleted" in done.text
    # at once: no door lets it act, nothing of it shows
    assert (await browser.get("/home")).status_code in (303, 307)
    await browser.aclose()
    token_now = await client.get("/api/v1/accounts/verify_credentials", headers=leaver.headers)
    assert token_now.status_code in (401, 403)
    assert (await client.get(f"/api/v1/accounts/{leaver.id}")).status_code == 404
    assert (
        await client.get(f"/api/v1/statuses/{world['own']['id']}", headers=stayer.headers)
    ).status_code == 404
    assert (await client.get("/@leaver")).status_code == 404

    await run_jobs()
    assert await _referring_rows(db, leaver.id, post_ids | boosts_of_theirs) == {}
    assert not any(path.exists() for path in archives)
    async with db.session() as session:
        tombstone = await session.get(Account, leaver.id)
        assert tombstone is not None and tombstone.deleted_at is not None
        assert tombstone.suspended_at is not None and tombstone.display_name == ""
        stayed = await session.get(Account, stayer.id)
        assert stayed.followers_count == 0 and stayed.following_count == 0
        theirs = await session.get(Post, int(world["theirs"]["id"]))
        assert theirs.favourites_count == 0 and theirs.reblogs_count == 0
        assert theirs.replies_count == 0
    poll = await client.get(
        f"/api/v1/polls/{world['their_poll']['poll']['id']}", headers=stayer.headers
    )
    assert poll.json()["votes_count"] == 0 and poll.json()["options"][0]["votes_count"] == 0
    # the media files are gone from the store
    assert not any(media_key in p.name for p in media_root.rglob("*"))
    # what others wrote in answer to it still shows, without it
    for post in (world["reply"], world["quote"]):
        shown = await client.get(f"/api/v1/statuses/{post['id']}", headers=stayer.headers)
        assert shown.status_code == 200 and "leaver" not in json.dumps(shown.json()["quote"])
        context = await client.get(f"/api/v1/statuses/{post['id']}/context")
        assert context.status_code == 200 and context.json()["ancestors"] == []
        assert (await client.get(f"/@stayer/{post['id']}")).status_code == 200
    # the username stays taken
    app_info = await _ok(
        await client.post("/api/v1/apps", data={"client_name": "x", "scopes": "read write"})
    )
    grant = {
        "grant_type": "client_credentials",
        "scope": "read write",
        "client_id": app_info["client_id"],
        "client_secret": app_info["client_secret"],
    }
    app_token = (await client.post("/oauth/token", data=grant)).json()["access_token"]
    again = await client.post(
        "/api/v1/accounts",
        headers={"Authorization": f"Bearer {app_token}"},
        data={
            "username": "leaver",
            "email": "new@example.org",
            "password": "long enough pw",
            "agreement": "true",
        },
    )
    assert again.status_code == 422 and "taken" in again.json()["error"]
    # the next export leaves it out and withdraws what the last one had of it
    second = await export_dataset(db, "genai-text", tmp_path / "after", fmt="jsonl")
    withdrawn = json.loads((tmp_path / "after" / "withdrawals.json").read_text())
    assert second["counts"]["withdrawn"] == first["counts"]["posts"] - second["counts"]["posts"]
    assert len(withdrawn["ids"]) >= 1
