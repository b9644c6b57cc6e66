"""Precomputed For You sets (social/reading/for_you_precompute.py, docs/RANKING.md): the
feed ranked from a set is the feed the whole pipeline ranks on the same state; a post
deleted, an author who blocked the viewer, was muted or suspended after the precompute never
shows; posts of followed people written since join the set; a stale set is not read; the job
refreshes the signed-in people whose set is oldest, a bounded number per run, and two runs
on the same state leave the same rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from agora.db.models import Account, ForYouCandidate, ForYouSet, Job, utcnow
from agora.jobs.job_kinds import JobKind
from agora.social.reading import for_you_precompute
from agora.social.reading.for_you import PRECOMPUTED_FOR, precomputed_at, ranked_feed
from agora.social.reading.for_you_precompute import precompute
from helpers import follow, post_status_id

FEED = "/api/v1/timelines/agora/for_you"


def _summary(ranking: list[Any]) -> list[tuple[int, list[str]]]:
    return [(r.post_id, r.reasons) for r in ranking]


def _same_scores(one: list[Any], other: list[Any]) -> None:
    """The same contributions (recency moves with the clock between two rankings)."""
    for a, b in zip(one, other, strict=True):
        assert a.contributions.keys() == b.contributions.keys()
        for name, value in a.contributions.items():
            assert value == pytest.approx(b.contributions[name], abs=1e-3), name


async def _ranked(db: Any, viewer_id: int) -> list[Any]:
    async with db.session() as session:
        return await ranked_feed(session, viewer_id)


async def _is_precomputed(db: Any, viewer_id: int) -> bool:
    async with db.session() as session:
        return await precomputed_at(session, viewer_id) is not None


async def _world(client: Any, make_person: Any, run_jobs: Any) -> dict[str, Any]:
    """viv follows fay and cat; fay follows ann; bob's post is liked by fay and cat; every
    source of the pipeline offers something."""
    names = ("viv", "fay", "cat", "ann", "bob")
    p = {n: await make_person(n) for n in names}
    for target in ("fay", "cat"):
        await follow(client, p["viv"], p[target])
    await follow(client, p["fay"], p["ann"])
    posts = {
        "fay": await post_status_id(client, p["fay"], "fay says hi #gardening"),
        "cat": await post_status_id(client, p["cat"], "cat's followers-only", visibility="private"),
        "ann": await post_status_id(client, p["ann"], "ann, followed by fay #gardening"),
        "bob": await post_status_id(client, p["bob"], "bob's post fay and cat liked"),
    }
    for liker in ("fay", "cat", "viv"):
        target = posts["bob"] if liker != "viv" else posts["ann"]
        r = await client.post(f"/api/v1/statuses/{target}/favourite", headers=p[liker].headers)
        assert r.status_code == 200, r.text
    await run_jobs()
    return {"people": p, "posts": posts}


async def test_the_precomputed_set_ranks_as_the_whole_pipeline(
    client: Any, db: Any, make_person: Any, run_jobs: Any
) -> None:
    world = await _world(client, make_person, run_jobs)
    viv = world["people"]["viv"]
    assert not await _is_precomputed(db, viv.id)
    live = await _ranked(db, viv.id)
    assert {str(r.post_id) for r in live} == set(world["posts"].values())
    found = await precompute(db, [viv.id])
    assert set(found.sets[viv.id]) == {r.post_id for r in live}
    assert await _is_precomputed(db, viv.id)
    from_set = await _ranked(db, viv.id)
    assert _summary(from_set) == _summary(live)
    _same_scores(from_set, live)
    # the counters are read now: a like after the precompute moves the post at once
    fay = world["people"]["fay"]
    r = await client.post(
        f"/api/v1/statuses/{world['posts']['ann']}/favourite", headers=fay.headers
    )
    assert r.status_code == 200
    after = {r.post_id: r for r in await _ranked(db, viv.id)}
    ann = int(world["posts"]["ann"])
    assert after[ann].contributions["likes"] > next(
        r.contributions["likes"] for r in live if r.post_id == ann
    )


async def test_hidden_after_the_precompute_never_shows(
    client: Any, db: Any, make_person: Any, run_jobs: Any
) -> None:
    world = await _world(client, make_person, run_jobs)
    p, posts = world["people"], world["posts"]
    viv = p["viv"]
    extra = await make_person("eve")
    await follow(client, viv, extra)
    muted_post = await post_status_id(client, extra, "eve, soon muted")
    await precompute(db, [viv.id])
    assert str(muted_post) in {str(r.post_id) for r in await _ranked(db, viv.id)}
    # after the precompute: a deletion, a block by the author, a mute, a suspension
    r = await client.delete(f"/api/v1/statuses/{posts['fay']}", headers=p["fay"].headers)
    assert r.status_code == 200
    r = await client.post(f"/api/v1/accounts/{viv.id}/block", headers=p["ann"].headers)
    assert r.status_code == 200
    r = await client.post(f"/api/v1/accounts/{extra.id}/mute", headers=viv.headers)
    assert r.status_code == 200
    async with db.transaction() as session:
        await session.execute(
            update(Account).where(Account.id == p["bob"].id).values(suspended_at=utcnow())
        )
    assert await _is_precomputed(db, viv.id)
    shown = {str(r.post_id) for r in await _ranked(db, viv.id)}
    assert shown == {posts["cat"]}
    r = await client.get(FEED, headers=viv.headers)
    assert r.status_code == 200
    assert [s["id"] for s in r.json()] == [posts["cat"]]


async def test_posts_of_followed_people_since_the_precompute_join_it(
    client: Any, db: Any, make_person: Any, run_jobs: Any
) -> None:
    world = await _world(client, make_person, run_jobs)
    p = world["people"]
    viv = p["viv"]
    await precompute(db, [viv.id])
    newer = await post_status_id(client, p["fay"], "fay again, after the precompute")
    unfollowed = await post_status_id(client, p["bob"], "bob, not followed, after it")
    ranked = {str(r.post_id): r for r in await _ranked(db, viv.id)}
    assert newer in ranked and unfollowed not in ranked  # bob's reaches the next run
    assert "From someone you follow" in ranked[newer].reasons
    # a set older than PRECOMPUTED_FOR is not read: the whole pipeline runs
    async with db.transaction() as session:
        old = utcnow() - timedelta(seconds=PRECOMPUTED_FOR + 1)
        await session.execute(update(ForYouSet).values(computed_at=old))
    assert not await _is_precomputed(db, viv.id)
    assert unfollowed not in {str(r.post_id) for r in await _ranked(db, viv.id)}


async def _rows(db: Any) -> list[tuple[Any, ...]]:
    async with db.session() as session:
        found = await session.execute(
            select(
                ForYouCandidate.account_id,
                ForYouCandidate.post_id,
                ForYouCandidate.network_likes,
                ForYouCandidate.similar_likes,
                ForYouCandidate.author_follows,
                ForYouCandidate.quotes,
                ForYouCandidate.trending_tag,
            ).order_by(ForYouCandidate.account_id, ForYouCandidate.post_id)
        )
        return [tuple(row) for row in found]


async def test_the_job_is_bounded_idempotent_and_requeues_itself(
    client: Any, db: Any, make_person: Any, run_jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await _world(client, make_person, run_jobs)
    signed_in = sorted(person.id for person in world["people"].values())
    outsider = await make_person("gone")
    async with db.transaction() as session:
        await session.execute(
            update(Account).where(Account.id == outsider.id).values(suspended_at=utcnow())
        )
    monkeypatch.setattr(for_you_precompute, "VIEWERS_PER_RUN", 3)
    async with db.transaction() as session:  # a run through the worker: 3 of the 5
        await for_you_precompute.ensure_scheduled(session, delay=0)
    await run_jobs()
    async with db.session() as session:
        done = list(await session.scalars(select(ForYouSet.account_id)))
        queued = (await session.execute(select(Job.kind, Job.run_at))).all()
    assert len(done) == 3 and set(done) < set(signed_in)
    assert [kind for kind, _ in queued] == [JobKind.REFRESH_FOR_YOU]  # soon: more are due
    assert queued[0][1] <= utcnow() + timedelta(seconds=for_you_precompute.CATCH_UP_SECONDS)
    second = await for_you_precompute.compute(db, {})  # the rest; the suspended one never
    assert sorted([*done, *second.sets]) == signed_in and not second.more_due
    async with db.transaction() as session:
        await for_you_precompute.store(session, {}, second)
        queued = (await session.execute(select(Job.kind))).all()
    assert len(queued) == 1  # never a second pending run
    nobody = await for_you_precompute.compute(db, {})
    assert nobody.sets == {} and not nobody.more_due
    rows = await _rows(db)
    viv = world["people"]["viv"].id
    assert {post for account, post, *_ in rows if account == viv} == {
        r.post_id for r in await _ranked(db, viv)
    }
    # the same state again: the same rows, the sets replaced whole
    await precompute(db, signed_in)
    assert await _rows(db) == rows
    async with db.session() as session:
        sets = await session.scalar(select(func.count()).select_from(ForYouSet))
    assert sets == len(signed_in)
    # sets nobody refreshed for FORGET_AFTER are forgotten by the next run
    async with db.transaction() as session:
        long_ago = utcnow() - for_you_precompute.FORGET_AFTER - timedelta(minutes=1)
        await session.execute(update(ForYouSet).values(computed_at=long_ago))
    await precompute(db, [viv])
    assert {account for account, *_ in await _rows(db)} == {viv}


async def test_a_run_in_a_web_process_stops_when_requests_come_and_the_next_does_the_rest(
    client: Any, db: Any, make_person: Any, run_jobs: Any
) -> None:
    """Run by a web process's own worker (`busy` given), the job stops after the person at
    hand once requests are being answered: one set stored, the next run queued soon, and
    that run (the process idle again) does the rest."""
    from agora.jobs.worker import Worker

    world = await _world(client, make_person, run_jobs)
    signed_in = sorted(person.id for person in world["people"].values())
    asked: list[bool] = []

    def busy() -> bool:  # requests come in while the first person's set is computed
        asked.append(True)
        return len(asked) > 1

    async with db.transaction() as session:
        await for_you_precompute.ensure_scheduled(session, delay=0)
    assert await Worker(db, busy=busy).run_once() == 1  # claimed while idle
    async with db.session() as session:
        done = list(await session.scalars(select(ForYouSet.account_id)))
        queued = (await session.execute(select(Job.kind, Job.run_at))).all()
    assert len(done) == 1 and done[0] in signed_in
    assert [kind for kind, _ in queued] == [JobKind.REFRESH_FOR_YOU]
    assert queued[0][1] <= utcnow() + timedelta(seconds=for_you_precompute.CATCH_UP_SECONDS)
    async with db.transaction() as session:  # its time has come; the process is idle
        await session.execute(update(Job).values(run_at=utcnow()))
    assert await Worker(db, busy=lambda: False).run_once() == 1
    async with db.session() as session:
        assert sorted(await session.scalars(select(ForYouSet.account_id))) == signed_in
