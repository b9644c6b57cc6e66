"""Home feeds are trimmed to the newest `home_feed_cap` entries once they pass the slack."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from agora.config import get_settings
from agora.db.models import HomeFeedEntry, HomeFeedSize
from agora.social.reading.fan_out import TRIM_SLACK, fan_out, trim_feeds
from conftest import BACKEND


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("AGORA_HOME_FEED_CAP", "5")
    get_settings.cache_clear()
    yield 5
    get_settings.cache_clear()


async def _feed(db, owner: int) -> tuple[list[int], int | None]:  # type: ignore[no-untyped-def]
    async with db.session() as session:
        entries = (
            await session.scalars(
                select(HomeFeedEntry.post_id)
                .where(HomeFeedEntry.account_id == owner)
                .order_by(HomeFeedEntry.post_id)
            )
        ).all()
        size = await session.scalar(
            select(HomeFeedSize.entries).where(HomeFeedSize.account_id == owner)
        )
    return list(entries), size


async def test_feeds_are_trimmed_past_the_slack(db, client, make_person, run_jobs, small_cap):
    alice, bob, carol = [await make_person(n) for n in ("alice", "bob", "carol")]
    for follower in (bob, carol):
        r = await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=follower.headers)
        assert r.status_code == 200
    await run_jobs()  # the follows' backfill first, so that size counters are exact
    posted = []
    for i in range(small_cap + TRIM_SLACK + 4):
        r = await client.post("/api/v1/statuses", headers=alice.headers, data={"status": f"{i}"})
        posted.append(int(r.json()["id"]))
        await run_jobs()
    for owner in (alice.id, bob.id, carol.id):
        entries, size = await _feed(db, owner)
        assert entries == posted[-len(entries) :]
        assert len(entries) == size == small_cap + 3  # trimmed to the cap once, then 3 more
    async with db.transaction() as session:
        await trim_feeds(session, [bob.id, carol.id], 2)
    for owner in (bob.id, carol.id):
        assert await _feed(db, owner) == (posted[-2:], 2)
    assert len((await _feed(db, alice.id))[0]) == small_cap + 3


@pytest.mark.skipif(
    BACKEND != "postgresql",
    reason="SQLite has one writer: its fan-outs never hold row locks at once",
)
async def test_people_who_follow_each_other_fanned_out_at_once_never_deadlock(
    db, client, make_person, run_jobs
):
    """Twelve people who all follow each other post at once, and their posts are fanned out
    at the same moment: each fan-out locks its recipients' feed counters and view stamps,
    the author's first, so unless every fan-out takes them in one order two of them wait on
    each other and PostgreSQL kills one ("deadlock detected"; retried later, but a feed is
    late meanwhile). Every feed then holds every post."""
    people = [await make_person(f"mutual{n}") for n in range(12)]
    for a in people:
        for b in people:
            if a is not b:
                r = await client.post(f"/api/v1/accounts/{b.id}/follow", headers=a.headers)
                assert r.status_code == 200
    await run_jobs()
    for round_ in range(5):
        posted = []
        for person in people:  # stored, not fanned out yet (the jobs wait)
            r = await client.post(
                "/api/v1/statuses", headers=person.headers, data={"status": f"r{round_}"}
            )
            posted.append(int(r.json()["id"]))
        await asyncio.gather(*(fan_out(db, {"post_id": post_id}) for post_id in posted))
        for person in people:
            entries, _ = await _feed(db, person.id)
            assert set(posted) <= set(entries), round_
