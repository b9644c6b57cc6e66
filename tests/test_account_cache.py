"""Cached Account entities (api/account_cache.py): the same JSON as `entities.account_json`
with `moved` rendered fresh, cold and warm, after a change of the account or of its counters;
suspended accounts left out; nothing rendered from an uncommitted write is kept."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import update

from agora.api.account_cache import account_entities, shown, shown_partial
from agora.api.entities import account_json, partial_account_json
from agora.api.status_cache import get_render_cache
from agora.db.models import Account, utcnow
from agora.social.posts.hydrate import load_accounts, moved_targets
from helpers import follow


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    get_render_cache().clear()


async def _fresh(db: Any, ids: list[int]) -> dict[str, dict[str, Any]]:
    async with db.session() as session:
        found = await load_accounts(session, ids)
        moved = await moved_targets(session, found)
        return {str(a.id): account_json(a, moved=moved.get(a.id)) for a in found}


async def _cached(db: Any, ids: list[int]) -> dict[str, dict[str, Any]]:
    async with db.session() as session:
        found = await account_entities(session, ids)
    return {str(i): orjson.loads(orjson.dumps(shown(entity))) for i, entity in found.items()}


async def _same(db: Any, ids: list[int]) -> dict[str, dict[str, Any]]:
    fresh = await _fresh(db, ids)
    for _ in range(2):  # rendered, then held
        assert await _cached(db, ids) == fresh
    return fresh


async def test_cached_accounts_are_the_fresh_ones(db, client, make_person) -> None:
    alice, bob, carol, dave = [await make_person(n) for n in ("alice", "bob", "carol", "dave")]
    ids = [alice.id, bob.id, carol.id, dave.id, alice.id]  # a repeat is listed once
    await _same(db, ids)
    await follow(client, bob, alice)  # counters only: spliced per request
    r = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=alice.headers,
        data={"display_name": "Alice A."},
    )
    assert r.status_code == 200, r.text
    async with db.session(write=True) as session:
        await session.execute(
            update(Account).where(Account.id == bob.id).values(moved_to_account_id=carol.id)
        )
        await session.execute(
            update(Account).where(Account.id == dave.id).values(suspended_at=utcnow())
        )
        await session.commit()
    shown_now = await _same(db, ids)
    assert shown_now[str(alice.id)]["display_name"] == "Alice A."
    assert shown_now[str(alice.id)]["followers_count"] == 1
    assert shown_now[str(bob.id)]["moved"]["id"] == str(carol.id)
    assert set(shown_now) == {str(alice.id), str(bob.id), str(carol.id)}  # dave: suspended
    async with db.session() as session:
        entity = (await account_entities(session, [alice.id]))[alice.id]
    assert shown_partial(entity) == partial_account_json(shown_now[str(alice.id)])


async def test_nothing_rendered_in_an_uncommitted_write_is_kept(db, make_person) -> None:
    alice = await make_person("alice")
    async with db.session(write=True) as session:
        await session.execute(
            update(Account).where(Account.id == alice.id).values(display_name="rolled back")
        )
        found = await account_entities(session, [alice.id])
        assert orjson.loads(found[alice.id].json)["display_name"] == "rolled back"
        await session.rollback()
    assert len(get_render_cache()) == 0
    assert (await _same(db, [alice.id]))[str(alice.id)]["display_name"] != "rolled back"
