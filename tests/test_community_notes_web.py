"""Community Notes in the web app: the note under a post, a post's notes page (write, rate),
the "Rate notes" page, and the refusals shown with their reasons."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select, update

from agora.db.models import Account, CommunityNote, CommunityNoteRating, utcnow
from agora.social.community_notes.note_rescoring import rescore_now
from helpers import csrf_of, post_status, web_sign_in

LINK = "https://example.org/source"


async def _browser(app, name: str) -> httpx.AsyncClient:
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    await web_sign_in(browser, name)
    return browser


async def _age(db, *ids: int) -> None:
    async with db.session(write=True) as session:
        await session.execute(
            update(Account)
            .where(Account.id.in_(ids))
            .values(created_at=utcnow() - timedelta(days=30))
        )
        await session.commit()


async def test_write_rate_and_see_a_note_on_the_web(app, client, db, make_person):
    poster, writer, rater = (
        await make_person("poster"),
        await make_person("writer"),
        await make_person("rater"),
    )
    await _age(db, writer.id, rater.id)
    post = await post_status(client, poster, "Tides are caused by the wind.")
    writing = await _browser(app, "writer")
    page = await writing.get(f"/@poster/{post['id']}/notes")
    assert page.status_code == 200 and "Write a note" in page.text and "No notes yet" in page.text
    csrf = csrf_of(page.text)
    refused = await writing.post(
        f"/@poster/{post['id']}/notes",
        data={"csrf": csrf, "classification": "misleading", "text": "no source"},
    )
    assert refused.status_code == 422 and "at least one source link" in refused.text
    assert "no source" in refused.text  # the draft is kept in the form
    done = await writing.post(
        f"/@poster/{post['id']}/notes",
        data={"csrf": csrf, "classification": "misleading", "text": f"The moon: {LINK}"},
    )
    assert done.status_code == 303
    page = await writing.get(f"/@poster/{post['id']}/notes")
    assert (
        "The moon:" in page.text and "your note" in page.text and "Needs more ratings" in page.text
    )
    assert f'href="{LINK}"' in page.text

    rating = await _browser(app, "rater")
    queue = await rating.get("/notes/rate")
    assert queue.status_code == 200 and "The moon:" in queue.text
    note_id = await _note_id(db)
    rated = await rating.post(
        f"/web/notes/{note_id}/rate",
        data={
            "csrf": csrf_of(queue.text),
            "helpfulness": "helpful",
            "reasons": ["good_sources", "clear"],
            "back": "/notes/rate",
        },
    )
    assert rated.status_code == 303 and rated.headers["location"] == "/notes/rate"
    async with db.session() as session:
        row = await session.scalar(select(CommunityNoteRating))
    assert row.helpfulness == "helpful" and row.reasons == ["clear", "good_sources"]
    assert "The moon:" not in (await rating.get("/notes/rate")).text  # rated: off the queue
    # one's own note cannot be rated: the reason is shown
    own = await writing.post(
        f"/web/notes/{note_id}/rate",
        data={"csrf": csrf, "helpfulness": "helpful", "back": "//evil.example"},
    )
    assert own.status_code == 403 and "your own note" in own.text

    # once Helpful, the note is shown under the post, on the thread page and in timelines
    async with db.session(write=True) as session:
        await session.execute(
            update(CommunityNote).values(status="helpful", intercept=0.5, factor=0.0)
        )
        await session.commit()
    await rescore_now(db)  # a real rescoring: one rating is too few, so the status goes back
    thread = await client.get(f"/@poster/{post['id']}")
    assert "Readers added context" not in thread.text
    async with db.session(write=True) as session:
        note = await session.get(CommunityNote, note_id)
        note.status = "helpful"
        await session.commit()
    thread = await client.get(f"/@poster/{post['id']}")
    assert "Readers added context" in thread.text and "The moon:" in thread.text


async def _note_id(db) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(CommunityNote.id)))


async def test_a_new_account_sees_why_it_may_not_write(app, client, db, make_person):
    poster = await make_person("poster")
    await make_person("newcomer")
    post = await post_status(client, poster, "Anything.")
    browser = await _browser(app, "newcomer")
    page = await browser.get(f"/@poster/{post['id']}/notes")
    r = await browser.post(
        f"/@poster/{post['id']}/notes",
        data={"csrf": csrf_of(page.text), "classification": "misleading", "text": LINK},
    )
    assert r.status_code == 403 and "older than a week" in r.text
    # signed out: the notes are readable, no forms
    anonymous = await client.get(f"/@poster/{post['id']}/notes")
    assert anonymous.status_code == 200 and "Write a note" not in anonymous.text
    assert (await client.get(f"/@someoneelse/{post['id']}/notes")).status_code == 404
