"""PostgreSQL plans each of Agora's prepared statements once, for any parameters
(db/pg_settings.py, `plan_cache_mode = force_generic_plan`). Under PostgreSQL's default a
statement is planned with its parameters at each of its first five executions, then again
whenever its generic plan looks dearer: on 10k people / 1M posts the home, public, hashtag
and context reads were planned at every execution, 2 to 7 ms of planning for 0.2 to 0.9 ms
of work. `pg_prepared_statements` counts the plans of each statement of a connection."""

from __future__ import annotations

import os
from typing import Any

import pytest
from sqlalchemy import text

from agora.api import serialise
from agora.db.engine import Database
from agora.db.pg_settings import PLANNER_SETTINGS
from agora.social.reading.notifications import list_notifications
from agora.social.reading.timelines import context, home_timeline, public_timeline, tag_timeline
from agora.social.rules.paging import Page
from helpers import post_status_id

pytestmark = pytest.mark.skipif(
    os.environ.get("AGORA_TEST_DATABASE", "sqlite") != "postgresql",
    reason="prepared statements' plans are PostgreSQL's",
)

PLANS = text(
    "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
    " WHERE statement NOT LIKE '%pg_prepared_statements%'"
)


async def _people(client: Any, make_person: Any, run_jobs: Any) -> tuple[list[Any], str]:
    """Viewers following authors who posted (a thread with a hashtag), fanned out."""
    authors = [await make_person(f"author{i}") for i in range(2)]
    viewers = [await make_person(f"viewer{i}") for i in range(3)]
    for viewer in viewers:
        for author in authors:
            r = await client.post(f"/api/v1/accounts/{author.id}/follow", headers=viewer.headers)
            assert r.status_code == 200, r.text
    root = await post_status_id(client, authors[0], "a thread about #plans")
    for n, author in enumerate(authors * 2):
        await post_status_id(client, author, f"reply {n} #plans", in_reply_to_id=root)
    await run_jobs()
    return viewers, root


async def _read_everything(session: Any, viewer_id: int, root: int) -> None:
    """The hot reads a viewer's pages make, each page hydrated as the API shows it."""
    page = Page(limit=40)
    found = [
        (await home_timeline(session, viewer_id, page)).items,
        (await public_timeline(session, viewer_id, page)).items,
        (await tag_timeline(session, viewer_id, "plans", page)).items,
        [i for side in await context(session, viewer_id, root) for i in side],
    ]
    assert all(found), found
    for ids in found:
        await serialise.shown_statuses(session, viewer_id, ids)
    await list_notifications(session, viewer_id, page)


async def test_every_read_statement_is_planned_once(db, client, make_person, run_jobs) -> None:
    viewers, root = await _people(client, make_person, run_jobs)
    fresh = Database(db.url)  # a new connection: only these reads' statements prepared on it
    try:
        async with fresh.session() as session:  # one session: one connection throughout
            for _ in range(7):  # more executions than PostgreSQL's default plans per values
                for viewer in viewers:
                    await _read_everything(session, viewer.id, int(root))
            plans = (await session.execute(PLANS)).all()
    finally:
        await fresh.dispose()
    executed = [row for row in plans if row.generic_plans + row.custom_plans >= 7]
    assert len(executed) >= 5, plans  # the reads' statements ran, each many times
    assert all(row.custom_plans == 0 for row in plans), plans


async def test_connections_start_with_the_planner_settings(db) -> None:
    async with db.session() as session:
        for name, value in PLANNER_SETTINGS.items():
            assert (await session.execute(text(f"SHOW {name}"))).scalar() == value
    assert await db.first_row("SHOW plan_cache_mode", {}) == ("force_generic_plan",)
