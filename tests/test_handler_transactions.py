"""A job's handler runs in ONE transaction with the job's own bookkeeping (both databases).

The services a handler calls (interactions, relationships, lists, ...) never commit, so a
failure injected right after a service call commits nothing at all (the job row stays, its
attempt recorded), and the retry applies everything exactly once: received Like and Block
(federation/inbound_interactions.py, inbound_moderation.py) and a CSV import's batch
(social/people/csv_imports.apply_rows, whose step after the services records the rows'
progress). A handler that tries to commit part-way is refused (`jobs.queue.HandlerCommitted`)
and fails its job instead of committing half of it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import func, select, update

from agora.config import get_settings
from agora.db.models import (
    Account,
    Block,
    CsvImport,
    Favourite,
    Follow,
    Job,
    ListMember,
    Notification,
    Post,
    UserList,
    utcnow,
)
from agora.jobs.job_kinds import JobKind
from agora.jobs.queue import enqueue
from agora.social.people import csv_imports, relationships
from agora.social.posts import interactions
from federation_peers import make_peer
from helpers import post_status

BASE = get_settings().base_url.rstrip("/")


class Injected(RuntimeError):
    """The failure a test injects after a service call."""


def fail_after(
    monkeypatch: pytest.MonkeyPatch, module: ModuleType, name: str, *, commit: bool = False
) -> dict[str, bool]:
    """Make `module.name` do its real work, then (while armed) fail: raise, or first try to
    commit the handler's transaction. Returns the switch ({"armed": bool})."""
    real: Callable[..., Awaitable[Any]] = getattr(module, name)
    switch = {"armed": True}

    async def failing(session: Any, *args: Any, **kwargs: Any) -> Any:
        result = await real(session, *args, **kwargs)
        if switch["armed"]:
            if commit:
                await session.commit()
            raise Injected(name)
        return result

    monkeypatch.setattr(module, name, failing)
    return switch


async def count(db: Any, *where: Any, of: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(of).where(*where)) or 0)


async def the_job(db: Any, kind: str) -> Job | None:
    async with db.session() as session:
        return await session.scalar(select(Job).where(Job.kind == kind))


async def retry_now(db: Any) -> None:
    """Make the failed jobs due at once (instead of after their backoff)."""
    async with db.session(write=True) as session:
        await session.execute(update(Job).where(Job.state == "pending").values(run_at=utcnow()))
        await session.commit()


async def remote_account(db: Any, name: str) -> int:
    return (await make_peer(db, name)).id


async def receive(db: Any, actor_id: int, activity: dict[str, Any]) -> None:
    """An `ap_inbox` job, as inbox.receive writes it for a verified delivery."""
    async with db.session(write=True) as session:
        enqueue(session, JobKind.AP_INBOX, {"actor_id": actor_id, "activity": activity})
        await session.commit()


async def failed_once(db: Any, kind: str, error: str) -> None:
    job = await the_job(db, kind)
    assert job is not None and job.state == "pending" and job.attempts == 1
    assert error in (job.last_error or "")


@pytest.mark.parametrize("how", ["raise", "commit"])
async def test_received_like_failing_after_the_service_commits_nothing_then_applies_once(
    client, db, make_person, run_jobs, monkeypatch, how
) -> None:
    alice = await make_person("alice")
    status = await post_status(client, alice, "like me from afar")
    post_id = int(status["id"])
    bob_id = await remote_account(db, "bob")
    await run_jobs()
    switch = fail_after(monkeypatch, interactions, "favourite", commit=how == "commit")
    like = {
        "id": "https://remote.example/users/bob#likes/1",
        "type": "Like",
        "actor": "https://remote.example/users/bob",
        "object": status["uri"],
    }
    await receive(db, bob_id, like)
    await run_jobs()
    await failed_once(db, "ap_inbox", "HandlerCommitted" if how == "commit" else "Injected")
    assert await count(db, of=Favourite) == 0
    async with db.session() as session:
        assert (await session.get(Post, post_id)).favourites_count == 0  # type: ignore[union-attr]
    assert await count(db, Job.kind == "notify", of=Job) == 0
    switch["armed"] = False
    await retry_now(db)
    await run_jobs()
    assert await the_job(db, "ap_inbox") is None
    assert await count(db, of=Favourite) == 1
    async with db.session() as session:
        assert (await session.get(Post, post_id)).favourites_count == 1  # type: ignore[union-attr]
    assert await count(db, Notification.type == "favourite", of=Notification) == 1


async def test_received_block_failing_after_the_service_commits_nothing_then_applies_once(
    db, make_person, run_jobs, monkeypatch
) -> None:
    alice = await make_person("alice")
    bob_id = await remote_account(db, "bob")
    async with db.session(write=True) as session:
        bob = await session.get(Account, bob_id)
        await relationships.follow(session, bob, alice.id)  # type: ignore[arg-type]
        await session.commit()
    await run_jobs()
    switch = fail_after(monkeypatch, relationships, "block")
    block = {
        "id": "https://remote.example/users/bob#blocks/1",
        "type": "Block",
        "actor": "https://remote.example/users/bob",
        "object": f"{BASE}/users/alice",
    }
    await receive(db, bob_id, block)
    await run_jobs()
    await failed_once(db, "ap_inbox", "Injected")
    assert await count(db, of=Block) == 0
    assert await count(db, Follow.account_id == bob_id, of=Follow) == 1
    switch["armed"] = False
    await retry_now(db)
    await run_jobs()
    assert await the_job(db, "ap_inbox") is None
    assert await count(db, of=Block) == 1
    assert await count(db, Follow.account_id == bob_id, of=Follow) == 0
    async with db.session() as session:
        assert (await session.get(Account, alice.id)).followers_count == 0  # type: ignore[union-attr]
        assert (await session.get(Account, bob_id)).following_count == 0  # type: ignore[union-attr]


async def test_csv_import_batch_failing_after_the_services_commits_nothing_then_applies_once(
    db, make_person, run_jobs, monkeypatch
) -> None:
    alice = await make_person("alice")
    carol, dave = await make_person("carol"), await make_person("dave")
    switch = fail_after(monkeypatch, csv_imports, "_record")  # the batch's progress, last
    content = b"List name,Account address\nfriends,carol\nfriends,dave\n"
    async with db.session(write=True) as session:
        owner = await session.get(Account, alice.id)
        imp = await csv_imports.start_import(session, owner, "lists", content)  # type: ignore[arg-type]
        import_id = imp.id
    await run_jobs()
    await failed_once(db, "run_csv_import", "Injected")
    assert await count(db, of=UserList) == 0
    assert await count(db, of=Follow) == 0
    assert await count(db, of=ListMember) == 0
    switch["armed"] = False
    await retry_now(db)
    await run_jobs()
    assert await the_job(db, "run_csv_import") is None
    assert await count(db, of=UserList) == 1
    assert await count(db, Follow.account_id == alice.id, of=Follow) == 2
    assert await count(db, of=ListMember) == 2
    assert await count(db, Notification.type == "follow", of=Notification) == 2
    async with db.session() as session:
        me = await session.get(Account, alice.id)
        assert me is not None and me.following_count == 2
        for other in (carol, dave):
            assert (await session.get(Account, other.id)).followers_count == 1  # type: ignore[union-attr]
        done = await session.get(CsvImport, import_id)
        assert done is not None and done.state == "finished" and done.imported == 2
