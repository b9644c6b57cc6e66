"""Bearer tokens kept briefly in memory (auth/token_cache.py): a cached token costs no query,
and revocation and suspension refuse it at once, in this process and (through the bus) in
every other; every writer of `revoked_at` / `suspended_at` says so."""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path

import pytest
from sqlalchemy import event, select

from agora.auth import authorised_apps
from agora.auth.token_cache import (
    TokenCache,
    follow_revocations,
    forget_credentials,
    token_cache,
)
from agora.db.models import AccessToken
from agora.events.redis_bus import RedisBus
from helpers import make_admin
from test_streaming_redis import REDIS_URL, _redis_up

HOME = "/api/v1/timelines/home"
SRC = Path(__file__).resolve().parent.parent / "src" / "agora"


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    token_cache().clear()


async def _statements(db, client, headers) -> tuple[int, int]:
    """(status, SQL statements) of one home timeline request."""
    seen: list[str] = []

    def count(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        r = await client.get(HOME, headers=headers)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    return r.status_code, len([s for s in seen if "FROM oauth_tokens" in s])


async def test_a_cached_token_is_not_looked_up_again(db, client, make_person):
    alice = await make_person("alice")
    assert await _statements(db, client, alice.headers) == (200, 1)
    assert await _statements(db, client, alice.headers) == (200, 0)
    r = await client.get(HOME, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401  # refusals are never kept
    assert (await client.get(HOME, headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_revoking_a_token_refuses_it_at_once(client, make_person):
    alice = await make_person("alice")
    app = (
        await client.post(
            "/api/v1/apps", data={"client_name": "x", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"}
        )
    ).json()
    keys = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    grant = {"grant_type": "password", "username": "alice@example.org", "scope": "read"}
    r = await client.post(
        "/oauth/token", data={**grant, **keys, "password": "correct horse battery"}
    )
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await client.get(HOME, headers=headers)).status_code == 200
    r = await client.post("/oauth/revoke", data={**keys, "token": r.json()["access_token"]})
    assert r.status_code == 200
    assert (await client.get(HOME, headers=headers)).status_code == 401
    assert (await client.get(HOME, headers=alice.headers)).status_code == 200  # others stay


async def test_suspension_refuses_the_accounts_tokens_at_once(db, client, make_person):
    admin = await make_admin(db, make_person)
    troll = await make_person("troll")
    assert (await client.get(HOME, headers=troll.headers)).status_code == 200
    r = await client.post(
        f"/api/v1/admin/accounts/{troll.id}/action", headers=admin.headers, data={"type": "suspend"}
    )
    assert r.status_code == 200, r.text
    assert (await client.get(HOME, headers=troll.headers)).status_code == 403


async def test_revoking_an_app_refuses_its_tokens_at_once(db, client, make_person):
    alice = await make_person("alice")
    assert (await client.get(HOME, headers=alice.headers)).status_code == 200
    async with db.session(write=True) as session:
        app_id = await session.scalar(
            select(AccessToken.app_id).where(AccessToken.account_id == alice.id)
        )
        assert await authorised_apps.revoke_app(session, alice.id, int(app_id or 0)) == 1
    assert (await client.get(HOME, headers=alice.headers)).status_code == 401


async def test_a_rolled_back_revocation_forgets_nothing(db, client, make_person):
    alice = await make_person("alice")
    assert (await client.get(HOME, headers=alice.headers)).status_code == 200
    generation = token_cache().generation
    async with db.session(write=True) as session:
        forget_credentials(session, account_id=alice.id)
        await session.rollback()
    assert token_cache().generation == generation


def test_a_look_up_that_overlapped_a_revocation_is_not_kept() -> None:
    cache = TokenCache(30)
    before = cache.generation
    cache.forget(account_id=7)  # a revocation committed while the look-up ran
    cache.put("token", before, 1, 7, ["read"], 1)
    assert cache.get("token") is None
    cache.put("token", cache.generation, 1, 7, ["read"], 1)
    assert cache.get("token") is not None
    expired = TokenCache(-1)
    expired.put("token", expired.generation, 1, 7, ["read"], 1)
    assert expired.get("token") is None


@pytest.mark.skipif(not _redis_up(), reason="no Redis on 127.0.0.1:6379")
async def test_other_processes_forget_through_the_bus(db, make_person):
    alice = await make_person("alice")
    channel = f"agora-test:{secrets.token_hex(4)}"
    here, there = RedisBus(REDIS_URL, channel), RedisBus(REDIS_URL, channel)
    other_process = token_cache()  # stands for another process's cache, fed by its bus
    other_process.put("their-token", other_process.generation, 5, alice.id, ["read"], 1)
    follower = asyncio.create_task(follow_revocations(there.subscribe()))
    try:
        await asyncio.wait_for(there.listening.wait(), 5)
        here.publish({"event": "credentials", "account_id": alice.id, "token_id": None})
        for _ in range(100):
            if other_process.get("their-token") is None:
                break
            await asyncio.sleep(0.05)
        assert other_process.get("their-token") is None
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await here.close()
        await there.close()


def test_every_writer_of_revocation_or_suspension_forgets_credentials() -> None:
    """A module that revokes tokens or suspends accounts must call `forget_credentials`."""
    writes = re.compile(r"revoked_at\s*=\s*(?!None)|\.suspended_at\s*=\s*(?!None)\w")
    offenders = []
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts or "models" in path.parts or "demo" in path.parts:
            continue
        text = path.read_text()
        if writes.search(text) and "forget_credentials(" not in text:
            offenders.append(str(path.relative_to(SRC)))
    assert offenders == []


def test_tokens_seen_together_are_not_all_looked_up_again_together() -> None:
    """Each entry lives between half and all of the period, drawn apart: tokens first seen
    in the same moment (every client after a restart) do not all expire in the same one."""
    import time

    cache = TokenCache(30)
    started = time.monotonic()
    for n in range(200):
        cache.put(f"token-{n}", cache.generation, n, n, ["read"], 1)
    lives = [cache.get(f"token-{n}").until - started for n in range(200)]  # type: ignore[union-attr]
    put_in = time.monotonic() - started
    assert all(15 <= life <= 30 + put_in for life in lives)
    assert max(lives) - min(lives) > put_in + 5  # spread far wider than the moment they came
