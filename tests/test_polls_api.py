"""Polls: create (form brackets and JSON), show, vote (once, even concurrently), hidden totals,
visibility, bad polls and bad votes (422, nothing changes), edits, and the expiry job."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from agora.db.models import Job, Notification, Poll, PollVote, Post, utcnow


async def _poll_post(client, person, options=("yes", "no"), **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "status": extra.pop("status", "what do you think?"),
        "poll[options][]": list(options),
        "poll[expires_in]": str(extra.pop("expires_in", 3600)),
        **{f"poll[{k}]": v for k, v in extra.items() if k in ("multiple", "hide_totals")},
        **{k: v for k, v in extra.items() if k not in ("multiple", "hide_totals")},
    }
    r = await client.post("/api/v1/statuses", headers=person.headers, data=data)
    assert r.status_code == 200, r.text
    return r.json()


async def _vote(client, person, poll_id: str, *choices: int) -> Any:
    return await client.post(
        f"/api/v1/polls/{poll_id}/votes",
        headers=person.headers,
        data={"choices[]": [str(c) for c in choices]},
    )


async def _end(db, poll_id: str) -> None:
    """Move the clock: the poll ended a minute ago and its expiry job is due."""
    past = utcnow() - timedelta(minutes=1)
    async with db.transaction() as session:
        await session.execute(update(Poll).where(Poll.id == int(poll_id)).values(expires_at=past))
        await session.execute(update(Job).where(Job.kind == "poll_expired").values(run_at=past))


async def test_poll_on_a_status_form_and_json(client, make_person):
    alice = await make_person("alice")
    status = await _poll_post(client, alice, ("tea", "coffee", "water"), multiple="true")
    poll = status["poll"]
    assert [o["title"] for o in poll["options"]] == ["tea", "coffee", "water"]
    assert all(o["votes_count"] == 0 for o in poll["options"])
    assert poll["multiple"] is True and poll["expired"] is False and poll["emojis"] == []
    assert poll["votes_count"] == 0 and poll["voters_count"] == 0
    assert poll["voted"] is True and poll["own_votes"] == []  # the author, as on Mastodon
    assert poll["expires_at"].endswith("Z")
    r = await client.post(
        "/api/v1/statuses",
        headers=alice.headers,
        json={"status": "json poll", "poll": {"options": ["a", "b"], "expires_in": 300}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["poll"]["multiple"] is False
    anonymous = (await client.get(f"/api/v1/polls/{poll['id']}")).json()
    assert "voted" not in anonymous and "own_votes" not in anonymous
    assert anonymous["id"] == poll["id"]
    shown = (await client.get(f"/api/v1/statuses/{status['id']}")).json()
    assert shown["poll"]["id"] == poll["id"]


async def test_instance_advertises_the_limits_it_enforces(client, make_person):
    config = (await client.get("/api/v2/instance")).json()["configuration"]["polls"]
    assert config == {
        "max_options": 4,
        "max_characters_per_option": 50,
        "min_expiration": 300,
        "max_expiration": 2_629_746,
    }
    v1 = (await client.get("/api/v1/instance")).json()["configuration"]["polls"]
    assert v1 == config
    alice = await make_person("alice")
    await _poll_post(client, alice, ["x" * 50, "y"], expires_in=config["max_expiration"])
    await _poll_post(client, alice, ["1", "2", "3", "4"], expires_in=config["min_expiration"])


BAD_POLLS = [
    ({"poll[options][]": ["only one"]}, "more than one"),
    ({"poll[options][]": ["a", "b", "c", "d", "e"]}, "more than 4"),
    ({"poll[options][]": ["same", "same"]}, "duplicate"),
    ({"poll[options][]": ["same", " same "]}, "duplicate"),
    ({"poll[options][]": ["a", ""]}, "blank"),
    ({"poll[options][]": ["a", "   "]}, "blank"),
    ({"poll[options][]": ["a", "b" * 51]}, "longer than 50"),
    ({"poll[options][]": ["a", "b"], "poll[expires_in]": "299"}, "too soon"),
    ({"poll[options][]": ["a", "b"], "poll[expires_in]": "2629747"}, "too far"),
    ({"poll[options][]": ["a", "b"], "poll[expires_in]": "-5"}, "too soon"),
    ({"poll[options][]": ["a", "b"], "poll[expires_in]": "soon"}, "expires_in"),
    ({"poll[options][]": ["a", "b"], "poll[expires_in]": "9" * 40}, "too far"),
    ({"poll[expires_in]": "300"}, "options"),
    ({"poll": "yes please"}, "poll"),
]


async def test_bad_polls_are_refused_and_no_post_is_created(client, make_person, db):
    alice = await make_person("alice")
    for fields, message in BAD_POLLS:
        data = {"status": "a bad poll", "poll[expires_in]": "3600", **fields}
        if "poll" in fields:
            data.pop("poll[expires_in]")
        r = await client.post("/api/v1/statuses", headers=alice.headers, data=data)
        assert r.status_code == 422, (fields, r.text)
        assert message in r.json()["error"], (fields, r.json())
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Post)) == 0
        assert await session.scalar(select(func.count()).select_from(Poll)) == 0
        assert await session.scalar(select(func.count()).select_from(Job)) == 0
    me = (await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers)).json()
    assert me["statuses_count"] == 0


async def test_single_choice_vote_counts_once(client, make_person):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    poll_id = (await _poll_post(client, alice, ("yes", "no", "maybe")))["poll"]["id"]
    r = await _vote(client, bob, poll_id, 1)
    assert r.status_code == 200, r.text
    poll = r.json()
    assert poll["voted"] is True and poll["own_votes"] == [1]
    assert [o["votes_count"] for o in poll["options"]] == [0, 1, 0]
    assert poll["votes_count"] == 1 and poll["voters_count"] == 1
    again = await _vote(client, bob, poll_id, 0)
    assert again.status_code == 422 and "already voted" in again.json()["error"]
    same = await _vote(client, bob, poll_id, 1)
    assert same.status_code == 422
    assert (await _vote(client, carol, poll_id, 1)).status_code == 200
    seen = (await client.get(f"/api/v1/polls/{poll_id}", headers=carol.headers)).json()
    assert [o["votes_count"] for o in seen["options"]] == [0, 2, 0]
    assert seen["voters_count"] == 2 and seen["own_votes"] == [1]
    fresh = (await client.get(f"/api/v1/polls/{poll_id}", headers=alice.headers)).json()
    assert fresh["own_votes"] == [] and fresh["voted"] is True


async def test_bad_votes_change_nothing(client, make_person, db):
    alice, bob = await make_person("alice"), await make_person("bob")
    poll_id = (await _poll_post(client, alice))["poll"]["id"]
    cases = [
        ((2,), "does not exist"),
        ((-1,), "does not exist"),
        ((0, 0), "only one"),
        ((0, 1), "only one"),
        ((), "choices"),
    ]
    for choices, message in cases:
        r = await _vote(client, bob, poll_id, *choices)
        assert r.status_code == 422, (choices, r.text)
        assert message in r.json()["error"], (choices, r.json())
    r = await client.post(
        f"/api/v1/polls/{poll_id}/votes", headers=bob.headers, data={"choices[]": "first"}
    )
    assert r.status_code == 422
    own = await _vote(client, alice, poll_id, 0)
    assert own.status_code == 422 and "own poll" in own.json()["error"]
    assert (await _vote(client, bob, "999", 0)).status_code == 404
    assert (await _vote(client, bob, "not-a-number", 0)).status_code == 404
    anonymous = await client.post(f"/api/v1/polls/{poll_id}/votes", data={"choices[]": "0"})
    assert anonymous.status_code == 401
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(PollVote)) == 0
        poll = await session.get(Poll, int(poll_id))
        assert poll.votes_count == 0 and poll.voters_count == 0


async def test_multiple_choice_adds_options_each_once(client, make_person):
    alice, bob = await make_person("alice"), await make_person("bob")
    poll_id = (await _poll_post(client, alice, ("a", "b", "c"), multiple="true"))["poll"]["id"]
    r = await _vote(client, bob, poll_id, 0, 2, 2)  # a repeated choice counts once
    assert r.status_code == 200, r.text
    assert r.json()["own_votes"] == [0, 2]
    assert r.json()["votes_count"] == 2 and r.json()["voters_count"] == 1
    assert (await _vote(client, bob, poll_id, 2)).status_code == 422
    assert (await _vote(client, bob, poll_id, 1, 2)).status_code == 422  # all or nothing
    later = await _vote(client, bob, poll_id, 1)
    assert later.status_code == 200
    poll = later.json()
    assert [o["votes_count"] for o in poll["options"]] == [1, 1, 1]
    assert poll["votes_count"] == 3 and poll["voters_count"] == 1 and poll["own_votes"] == [0, 1, 2]


async def test_concurrent_votes_by_one_account_count_once(client, make_person, db):
    alice, bob = await make_person("alice"), await make_person("bob")
    single = (await _poll_post(client, alice))["poll"]["id"]
    answers = await asyncio.gather(*[_vote(client, bob, single, i % 2) for i in range(6)])
    assert sorted(r.status_code for r in answers) == [200] + [422] * 5
    many = (await _poll_post(client, alice, ("a", "b"), multiple="true"))["poll"]["id"]
    answers = await asyncio.gather(*[_vote(client, bob, many, 0, 1) for _ in range(6)])
    assert sorted(r.status_code for r in answers) == [200] + [422] * 5
    async with db.session() as session:
        for poll_id, votes in ((single, 1), (many, 2)):
            poll = await session.get(Poll, int(poll_id))
            assert (poll.votes_count, poll.voters_count) == (votes, 1)
            rows = select(func.count()).select_from(PollVote).where(PollVote.poll_id == poll.id)
            assert await session.scalar(rows) == votes


async def test_hidden_totals_until_the_end(client, make_person, db):
    alice, bob = await make_person("alice"), await make_person("bob")
    poll_id = (await _poll_post(client, alice, hide_totals="true"))["poll"]["id"]
    mine = (await _vote(client, bob, poll_id, 0)).json()
    assert [o["votes_count"] for o in mine["options"]] == [None, None]
    assert mine["votes_count"] == 1
    author = (await client.get(f"/api/v1/polls/{poll_id}", headers=alice.headers)).json()
    assert [o["votes_count"] for o in author["options"]] == [1, 0]
    await _end(db, poll_id)
    ended = (await client.get(f"/api/v1/polls/{poll_id}", headers=bob.headers)).json()
    assert ended["expired"] is True and [o["votes_count"] for o in ended["options"]] == [1, 0]


async def test_ended_poll_takes_no_votes(client, make_person, db):
    alice, bob = await make_person("alice"), await make_person("bob")
    poll_id = (await _poll_post(client, alice))["poll"]["id"]
    await _end(db, poll_id)
    r = await _vote(client, bob, poll_id, 0)
    assert r.status_code == 422 and "ended" in r.json()["error"]
    shown = (await client.get(f"/api/v1/polls/{poll_id}")).json()
    assert shown["expired"] is True and shown["votes_count"] == 0


async def test_a_poll_is_visible_only_as_its_post_is(client, make_person, run_jobs):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    poll_id = (await _poll_post(client, alice, visibility="private"))["poll"]["id"]
    assert (await client.get(f"/api/v1/polls/{poll_id}", headers=bob.headers)).status_code == 200
    for who in (carol, None):
        headers = who.headers if who else {}
        r = await client.get(f"/api/v1/polls/{poll_id}", headers=headers)
        assert r.status_code == 404 and r.json() == {"error": "Record not found"}
    assert (await _vote(client, carol, poll_id, 0)).status_code == 404
    assert (await _vote(client, bob, poll_id, 0)).status_code == 200
    await client.post(f"/api/v1/accounts/{bob.id}/block", headers=alice.headers)
    assert (await client.get(f"/api/v1/polls/{poll_id}", headers=bob.headers)).status_code == 404


async def test_text_edit_keeps_the_poll_option_edit_resets_it(client, make_person, db, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    status = await _poll_post(client, alice, ("red", "blue"))
    poll_id = status["poll"]["id"]
    await _vote(client, bob, poll_id, 1)
    url = f"/api/v1/statuses/{status['id']}"
    edited = (await client.put(url, headers=alice.headers, data={"status": "new words"})).json()
    assert edited["poll"]["id"] == poll_id and edited["poll"]["votes_count"] == 1
    same = {"status": "again", "poll[options][]": ["red", "blue"], "poll[expires_in]": "600"}
    kept = (await client.put(url, headers=alice.headers, data=same)).json()["poll"]
    assert kept["id"] == poll_id and kept["votes_count"] == 1
    changed = {"status": "again", "poll[options][]": ["red", "green"], "poll[expires_in]": "600"}
    r = await client.put(url, headers=alice.headers, data=changed)
    assert r.status_code == 200, r.text
    fresh = r.json()["poll"]
    assert fresh["id"] != poll_id and fresh["votes_count"] == 0
    assert [o["title"] for o in fresh["options"]] == ["red", "green"]
    assert (await client.get(f"/api/v1/polls/{poll_id}")).status_code == 404
    bad = {"status": "x", "poll[options][]": ["only"], "poll[expires_in]": "600"}
    assert (await client.put(url, headers=alice.headers, data=bad)).status_code == 422
    assert (await client.get(url)).json()["poll"]["id"] == fresh["id"]
    await _end(db, fresh["id"])
    await run_jobs()
    async with db.session() as session:
        notes = (await session.scalars(select(Notification.activity_id))).all()
    assert set(notes) <= {int(fresh["id"])}  # the replaced poll's job found nothing to do


async def test_expiry_job_notifies_voters_and_author_once(client, make_person, db, run_jobs):
    alice, bob, carol, dave = [await make_person(n) for n in ("alice", "bob", "carol", "dave")]
    status = await _poll_post(client, alice, ("a", "b"), multiple="true")
    poll_id = status["poll"]["id"]
    await _vote(client, bob, poll_id, 0, 1)
    await _vote(client, carol, poll_id, 1)
    await run_jobs()  # the expiry job is not due yet
    for who in (alice, bob, carol):
        r = await client.get(
            "/api/v1/notifications", headers=who.headers, params={"types[]": "poll"}
        )
        assert r.json() == []
    async with db.session() as session:
        job = await session.scalar(select(Job).where(Job.kind == "poll_expired"))
        assert job is not None and job.run_at > utcnow() + timedelta(minutes=55)
    await _end(db, poll_id)
    await run_jobs()
    for who in (alice, bob, carol):
        notes = (
            await client.get(
                "/api/v1/notifications", headers=who.headers, params={"types[]": "poll"}
            )
        ).json()
        assert len(notes) == 1, who.username
        assert notes[0]["account"]["id"] == str(alice.id)
        assert notes[0]["status"]["poll"]["expired"] is True
        assert notes[0]["status"]["poll"]["votes_count"] == 3
    dave_notes = (await client.get("/api/v1/notifications", headers=dave.headers)).json()
    assert dave_notes == []
    async with db.transaction() as session:  # the job runs again (a worker died): no duplicates
        from agora.jobs.queue import enqueue

        enqueue(session, "poll_expired", {"poll_id": int(poll_id)})
    await run_jobs()
    async with db.session() as session:
        count = select(func.count()).select_from(Notification).where(Notification.type == "poll")
        assert await session.scalar(count) == 3


async def test_expiry_of_a_deleted_post_notifies_nobody(client, make_person, db, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    status = await _poll_post(client, alice)
    await _vote(client, bob, status["poll"]["id"], 0)
    await client.delete(f"/api/v1/statuses/{status['id']}", headers=alice.headers)
    await _end(db, status["poll"]["id"])
    await run_jobs()
    async with db.session() as session:
        count = select(func.count()).select_from(Notification).where(Notification.type == "poll")
        assert await session.scalar(count) == 0
        assert await session.scalar(select(func.count()).select_from(Job)) == 0


async def test_polls_in_timelines_and_boosts(client, make_person, run_jobs):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    await client.post(f"/api/v1/accounts/{carol.id}/follow", headers=bob.headers)
    status = await _poll_post(client, alice)
    await _vote(client, bob, status["poll"]["id"], 1)
    await client.post(f"/api/v1/statuses/{status['id']}/reblog", headers=carol.headers)
    await run_jobs()
    home = (await client.get("/api/v1/timelines/home", headers=bob.headers)).json()
    boosted = home[0]["reblog"]
    assert home[0]["poll"] is None and boosted["poll"]["own_votes"] == [1]
    public = (await client.get("/api/v1/timelines/public")).json()
    assert public[0]["poll"]["options"][1]["votes_count"] == 1


async def _home_page_queries(db, viewer_id: int) -> tuple[int, list[dict[str, Any]]]:
    from sqlalchemy import event

    from agora.api import serialise
    from agora.social.reading.timelines import home_timeline
    from agora.social.rules.paging import Page

    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with db.session() as session:
            found = await home_timeline(session, viewer_id, Page(limit=40))
            items = await serialise.statuses(session, viewer_id, found.items)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    return len(statements), items


async def test_polls_cost_one_query_per_page_whatever_their_number(
    client, make_person, db, run_jobs
):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=bob.headers)
    await client.post(f"/api/v1/accounts/{carol.id}/follow", headers=bob.headers)
    await client.post("/api/v1/statuses", headers=alice.headers, data={"status": "no poll"})
    await run_jobs()
    without, page = await _home_page_queries(db, bob.id)
    assert len(page) == 1
    first = await _poll_post(client, alice)
    await run_jobs()
    one, page = await _home_page_queries(db, bob.id)
    assert page[0]["poll"]["id"] == first["poll"]["id"]
    for i in range(8):
        status = await _poll_post(client, alice, (f"a{i}", f"b{i}"), multiple="true")
        await _vote(client, bob, status["poll"]["id"], 0, 1)
        other = await _poll_post(client, carol, (f"c{i}", f"d{i}"))
        await client.post(f"/api/v1/statuses/{other['id']}/reblog", headers=alice.headers)
    await run_jobs()
    many, page = await _home_page_queries(db, bob.id)
    assert sum(1 for s in page if s["poll"] or (s["reblog"] and s["reblog"]["poll"])) >= 17
    assert any(s["poll"] and s["poll"]["own_votes"] == [0, 1] for s in page)
    assert one == many == without + 1


async def test_a_poll_replaced_while_voting_is_not_found(client, make_person, db, monkeypatch):
    """The race PostgreSQL allows (an edit replaces the poll between the vote's reads and its
    insert) ends in 404, not a server error: simulated by deleting the poll mid-vote."""
    from sqlalchemy import delete

    from agora.social.posts import poll_votes

    alice, bob = await make_person("alice"), await make_person("bob")
    poll_id = int((await _poll_post(client, alice))["poll"]["id"])
    checked = poll_votes._checked_choices

    async def then_replaced(session, poll, choices):
        chosen = await checked(session, poll, choices)
        await session.execute(delete(Poll).where(Poll.id == poll.id))
        return chosen

    monkeypatch.setattr(poll_votes, "_checked_choices", then_replaced)
    r = await _vote(client, bob, str(poll_id), 0)
    assert r.status_code == 404, r.text
    monkeypatch.undo()
    async with db.session() as session:
        assert await session.get(Poll, poll_id) is not None  # the whole vote rolled back
        assert await session.scalar(select(func.count()).select_from(PollVote)) == 0


async def test_a_post_has_a_poll_or_media_not_both(client, make_person, db, tmp_path, monkeypatch):
    import io

    from PIL import Image

    from agora.config import get_settings

    monkeypatch.setattr(get_settings(), "media_dir", tmp_path / "media")
    alice = await make_person("alice")

    async def upload() -> str:
        png = io.BytesIO()
        Image.new("RGB", (8, 8), "red").save(png, "PNG")
        files = {"file": ("a.png", png.getvalue(), "image/png")}
        r = await client.post("/api/v2/media", headers=alice.headers, files=files)
        assert r.status_code == 200, r.text
        return str(r.json()["id"])

    both = {
        "status": "both",
        "media_ids[]": [await upload()],
        "poll[options][]": ["a", "b"],
        "poll[expires_in]": "600",
    }
    r = await client.post("/api/v1/statuses", headers=alice.headers, data=both)
    assert r.status_code == 422 and "poll and media" in r.json()["error"], r.text
    with_poll = await _poll_post(client, alice)
    url = f"/api/v1/statuses/{with_poll['id']}"
    r = await client.put(
        url, headers=alice.headers, data={"status": "x", "media_ids[]": both["media_ids[]"]}
    )
    assert r.status_code == 422
    with_media = await client.post(
        "/api/v1/statuses",
        headers=alice.headers,
        data={"status": "pic", "media_ids[]": both["media_ids[]"]},
    )
    assert with_media.status_code == 200, with_media.text
    r = await client.put(
        f"/api/v1/statuses/{with_media.json()['id']}",
        headers=alice.headers,
        data={"status": "pic", "poll[options][]": ["a", "b"], "poll[expires_in]": "600"},
    )
    assert r.status_code == 422
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Poll)) == 1
