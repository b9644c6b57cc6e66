"""Community Notes through the API: writing, rating, the hourly rescoring job, the note on the
Status (`agora.community_note`), the status history, the public dataset, and who may take
part (the eligibility rule and its SQL twin, non-public posts, one's own note)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from agora.data import consent
from agora.data.consent import Category
from agora.db.models import (
    Account,
    CommunityNote,
    CommunityNoteRating,
    CommunityNoteStatusChange,
    Job,
    ModerationAction,
    utcnow,
)
from agora.jobs.job_kinds import JobKind
from agora.social.rules.note_eligibility import may_take_part, refusal
from helpers import make_admin, post_status

LINK = "https://example.org/facts"


async def _age(db, *people, days: int = 30) -> None:
    """Make these accounts `days` old."""
    async with db.session(write=True) as session:
        await session.execute(
            update(Account)
            .where(Account.id.in_([p.id for p in people]))
            .values(created_at=utcnow() - timedelta(days=days))
        )
        await session.commit()


async def _note(client, person, status_id, text=f"Context: {LINK}", **extra):
    data = {"status_id": status_id, "text": text, "classification": "missing_context", **extra}
    return await client.post("/api/v1/agora/notes", headers=person.headers, data=data)


async def _rate(client, person, note_id, helpfulness, reasons=()):
    return await client.post(
        f"/api/v1/agora/notes/{note_id}/ratings",
        headers=person.headers,
        data={"helpfulness": helpfulness, "reasons[]": list(reasons)},
    )


async def _rescore_by_job(db, run_jobs) -> None:
    """Run the pending rescoring job now (it is due an hour after the first note)."""
    async with db.session(write=True) as session:
        await session.execute(
            update(Job).where(Job.kind == JobKind.RESCORE_NOTES).values(run_at=utcnow())
        )
        await session.commit()
    await run_jobs()


async def test_a_note_rated_helpful_across_camps_is_shown_on_the_status(
    client, db, make_person, run_jobs
):
    poster = await make_person("poster")
    writers = [await make_person(f"writer{i}") for i in range(4)]
    camp_a = [await make_person(f"left{i}") for i in range(5)]
    camp_b = [await make_person(f"right{i}") for i in range(5)]
    await _age(db, *writers, *camp_a, *camp_b)
    post = await post_status(client, poster, "The bridge closes every Sunday.")
    notes = []
    for i, writer in enumerate(writers):
        r = await _note(client, writer, post["id"], text=f"Note {i}: see {LINK}/{i}")
        assert r.status_code == 200, r.text
        notes.append(r.json())
    bridging, one_camp, poor, other_poor = (n["id"] for n in notes)
    assert notes[0]["status"] == "needs_more_ratings" and notes[0]["mine"] is True
    for person in camp_a + camp_b:
        assert (
            await _rate(client, person, bridging, "helpful", ["good_sources"])
        ).status_code == 200
        in_a = person in camp_a
        await _rate(client, person, one_camp, "helpful" if in_a else "not_helpful")
        await _rate(client, person, poor, "not_helpful", ["incorrect"])
        await _rate(client, person, other_poor, "not_helpful")
    # rescoring waits for the hourly job: nothing is shown before it runs
    before = (await client.get(f"/api/v1/statuses/{post['id']}")).json()
    assert "community_note" not in before["agora"]
    await run_jobs()
    async with db.session() as session:
        job = await session.scalar(select(Job).where(Job.kind == JobKind.RESCORE_NOTES))
    assert job is not None and job.run_at > utcnow() + timedelta(minutes=55)

    await _rescore_by_job(db, run_jobs)
    shown = (await client.get(f"/api/v1/statuses/{post['id']}")).json()["agora"]
    assert shown["community_note"]["id"] == bridging
    assert shown["community_note"]["text"].startswith("Note 0")
    assert shown["community_note"]["drafted_with_assistant"] is False
    # a signed-in viewer's rendering (cached per version) shows it too
    seen = await client.get(f"/api/v1/statuses/{post['id']}", headers=poster.headers)
    assert seen.json()["agora"]["community_note"]["id"] == bridging
    listed = (await client.get(f"/api/v1/statuses/{post['id']}/notes")).json()
    by_id = {n["id"]: n for n in listed}
    assert listed[0]["id"] == bridging and by_id[bridging]["status"] == "helpful"
    assert by_id[one_camp]["status"] == "needs_more_ratings"
    assert by_id[poor]["status"] == "not_helpful"
    assert by_id[bridging]["intercept"] >= 0.40 and abs(by_id[bridging]["factor"]) < 0.5
    assert all("account" not in n for n in listed)  # authors are not named
    # the job queued its next run an hour later, and kept the history
    async with db.session() as session:
        history = (
            await session.scalars(
                select(CommunityNoteStatusChange.status).where(
                    CommunityNoteStatusChange.note_id == int(bridging)
                )
            )
        ).all()
        pending = await session.scalar(
            select(func.count()).where(Job.kind == JobKind.RESCORE_NOTES)
        )
    assert history == ["helpful"] and pending == 1
    # rescoring again changes nothing and adds no history
    admin = await make_admin(db, make_person)
    again = await client.post("/api/v1/admin/agora/notes/rescore", headers=admin.headers)
    assert again.status_code == 200 and again.json()["changed"] == 0
    assert again.json()["ratings"] == 40 and again.json()["notes"] == 4
    refused = await client.post("/api/v1/admin/agora/notes/rescore", headers=poster.headers)
    assert refused.status_code == 403

    # the public dataset: everyone may download it; text withheld without consent
    notes_tsv = (await client.get("/api/v1/agora/notes/dataset/notes.tsv")).text.splitlines()
    assert notes_tsv[0].split("\t")[:3] == ["noteId", "participantId", "createdAtMillis"]
    assert len(notes_tsv) == 5
    first = dict(zip(notes_tsv[0].split("\t"), notes_tsv[1].split("\t"), strict=True))
    assert first["textWithheld"] == "1" and first["text"] == ""
    assert str(writers[0].id) not in notes_tsv[1]
    ratings_tsv = (await client.get("/api/v1/agora/notes/dataset/ratings.tsv")).text
    assert len(ratings_tsv.splitlines()) == 41
    history_tsv = (await client.get("/api/v1/agora/notes/dataset/history.tsv")).text
    assert f"{bridging}\t{post['id']}\thelpful" in history_tsv
    assert (await client.get("/api/v1/agora/notes/dataset/users.tsv")).status_code == 404
    # an author who allows bulk datasets has their text published
    async with db.session(write=True) as session:
        account = await session.get(Account, writers[0].id)
        await consent.set_intents(session, account, {Category.BULK_DATASET: True})
        await session.commit()
    notes_tsv = (await client.get("/api/v1/agora/notes/dataset/notes.tsv")).text.splitlines()
    rows = [
        dict(zip(notes_tsv[0].split("\t"), line.split("\t"), strict=True)) for line in notes_tsv[1:]
    ]
    consented = next(r for r in rows if r["noteId"] == bridging)
    assert consented["textWithheld"] == "0" and consented["text"].startswith("Note 0")
    assert consented["sources"] == f"{LINK}/0"


async def test_writing_and_rating_rules(client, db, make_person):
    poster, writer, rater = (
        await make_person("poster"),
        await make_person("writer"),
        await make_person("rater"),
    )
    newcomer = await make_person("newcomer")
    await _age(db, writer, rater)
    post = await post_status(client, poster, "A claim.")
    # a new account may not write or rate
    r = await _note(client, newcomer, post["id"])
    assert r.status_code == 403 and "older than a week" in r.json()["error"]
    # no source link, unknown classification
    assert (await _note(client, writer, post["id"], text="no link")).status_code == 422
    bad = await _note(client, writer, post["id"], classification="wrong")
    assert bad.status_code == 422
    # non-public posts: unlisted and followers-only (invisible to a stranger: 404)
    unlisted = await post_status(client, poster, "quiet", visibility="unlisted")
    assert (await _note(client, writer, unlisted["id"])).status_code == 422
    private = await post_status(client, poster, "friends", visibility="private")
    assert (await _note(client, writer, private["id"])).status_code == 404
    # one note per author per post
    note = (await _note(client, writer, post["id"])).json()
    again = await _note(client, writer, post["id"])
    assert again.status_code == 422 and "already" in again.json()["error"]
    # not one's own note; reasons must fit the rating
    assert (await _rate(client, writer, note["id"], "helpful")).status_code == 403
    assert (await _rate(client, rater, note["id"], "helpful", ["incorrect"])).status_code == 422
    assert (await _rate(client, rater, note["id"], "great")).status_code == 422
    assert (await _rate(client, newcomer, note["id"], "helpful")).status_code == 403
    # rating again changes the one rating
    assert (await _rate(client, rater, note["id"], "helpful", ["clear"])).status_code == 200
    r = await _rate(client, rater, note["id"], "not_helpful", ["off_topic"])
    assert r.status_code == 200 and r.json()["helpfulness"] == "not_helpful"
    async with db.session() as session:
        ratings = (await session.scalars(select(CommunityNoteRating))).all()
        count = await session.scalar(select(func.count()).select_from(CommunityNote))
    assert [(x.helpfulness, x.reasons) for x in ratings] == [("not_helpful", ["off_topic"])]
    assert count == 1
    shown = (await client.get(f"/api/v1/agora/notes/{note['id']}", headers=rater.headers)).json()
    assert shown["my_rating"] == "not_helpful" and shown["mine"] is False
    # a moderated account may not take part for 30 days
    async with db.session(write=True) as session:
        session.add(
            ModerationAction(target_account_id=rater.id, action="warn", created_at=utcnow())
        )
        await session.commit()
    r = await _rate(client, rater, note["id"], "helpful")
    assert r.status_code == 403 and "moderated" in r.json()["error"]
    # the rating queue: notes the caller may rate and has not
    other = await make_person("other")
    await _age(db, other)
    queue = await client.get("/api/v1/agora/notes?to_rate=true", headers=other.headers)
    assert [n["id"] for n in queue.json()] == [note["id"]]
    mine = await client.get("/api/v1/agora/notes?to_rate=true", headers=writer.headers)
    assert mine.json() == []


async def test_a_note_on_a_post_one_may_not_see_is_not_found(client, db, make_person):
    poster, writer, stranger = (
        await make_person("poster"),
        await make_person("writer"),
        await make_person("stranger"),
    )
    await _age(db, writer, stranger)
    post = await post_status(client, poster, "public for now")
    note = (await _note(client, writer, post["id"])).json()
    await client.post(f"/api/v1/accounts/{stranger.id}/block", headers=poster.headers)
    for path in (f"/api/v1/agora/notes/{note['id']}", f"/api/v1/statuses/{post['id']}/notes"):
        assert (await client.get(path, headers=stranger.headers)).status_code == 404
    assert (await _rate(client, stranger, note["id"], "helpful")).status_code == 404
    listed = await client.get("/api/v1/agora/notes", headers=stranger.headers)
    assert listed.json() == []


ELIGIBILITY_CASES = [
    # (age in days, bot, suspended, silenced, days since last moderation, may take part)
    (30, False, False, False, None, True),
    (8, False, False, False, None, True),
    (6, False, False, False, None, False),
    (30, True, False, False, None, False),
    (30, False, True, False, None, False),
    (30, False, False, True, None, False),
    (30, False, False, False, 3, False),
    (60, False, False, False, 29, False),
    (60, False, False, False, 31, True),
]


async def test_the_eligibility_rule_and_its_sql_twin_agree(db, make_person):
    now = utcnow()
    people = []
    for n, (age, bot, suspended, silenced, moderated, _) in enumerate(ELIGIBILITY_CASES):
        person = await make_person(f"case{n}", bot=bot)
        async with db.session(write=True) as session:
            account = await session.get(Account, person.id)
            account.created_at = now - timedelta(days=age)
            account.suspended_at = now if suspended else None
            account.silenced_at = now if silenced else None
            if moderated is not None:
                session.add(
                    ModerationAction(
                        target_account_id=person.id,
                        action="silence",
                        created_at=now - timedelta(days=moderated),
                    )
                )
            await session.commit()
        people.append(person.id)
    async with db.session() as session:
        allowed = set(
            (
                await session.scalars(
                    select(Account.id).where(Account.id.in_(people), may_take_part(now))
                )
            ).all()
        )
        for account_id, case in zip(people, ELIGIBILITY_CASES, strict=True):
            account = await session.get(Account, account_id)
            last = await session.scalar(
                select(func.max(ModerationAction.created_at)).where(
                    ModerationAction.target_account_id == account_id
                )
            )
            python = refusal(account, last, now) is None
            assert python == case[-1], case
            assert (account_id in allowed) == python, case


@pytest.mark.parametrize("table", ["notes", "ratings", "history"])
async def test_the_dataset_files_have_their_headers_when_empty(client, table):
    r = await client.get(f"/api/v1/agora/notes/dataset/{table}.tsv")
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "text/tab-separated-values"
    )
    assert len(r.text.splitlines()) == 1
