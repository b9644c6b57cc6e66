"""Mentions of the assistant as durable jobs: who gets answered, exactly once, and what happens
when the model endpoint is down (a real refused connection: nothing listens on the port)."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select, update

from agora.config import get_settings
from agora.db.models import AssistantReply, Job, Post, utcnow
from assistant_support import assistant_account
from helpers import post_status


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def assistant(db, monkeypatch):
    """The assistant account, with a model endpoint that refuses connections."""
    monkeypatch.setenv("AGORA_AI_PROVIDER", "openai")
    monkeypatch.setenv("AGORA_OPENAI_BASE_URL", f"http://127.0.0.1:{_closed_port()}/v1")
    monkeypatch.setenv("AGORA_OPENAI_MODEL", "down")
    get_settings.cache_clear()
    yield await assistant_account(db)
    monkeypatch.undo()
    get_settings.cache_clear()


async def _assistant_jobs(db) -> list[Job]:
    async with db.session() as session:
        query = select(Job).where(Job.kind == "assistant_reply")
        return list((await session.scalars(query)).all())


async def _exhaust_retries(db, run_jobs, rounds: int = 6) -> None:
    """Run the queue, making every backed-off job due again, until nothing is pending."""
    for _ in range(rounds):
        async with db.transaction() as session:
            await session.execute(update(Job).where(Job.state == "pending").values(run_at=utcnow()))
        if not await run_jobs():
            return


async def test_only_real_mentions_ask(client, db, make_person, assistant, run_jobs):
    alice = await make_person("alice")
    robot = await make_person("robot", bot=True)
    await post_status(client, alice, "no mention here")
    await post_status(client, robot, "@assistant bots are never answered")
    asked = await post_status(client, alice, "@assistant hello?")
    await client.put(
        f"/api/v1/statuses/{asked['id']}",
        json={"status": "@assistant edited"},
        headers=alice.headers,
    )
    jobs = await _assistant_jobs(db)
    assert [j.payload["post_id"] for j in jobs] == [int(asked["id"])]  # edits do not ask again


async def test_down_model_retries_then_apologises_once(
    client, db, make_person, assistant, run_jobs
):
    alice = await make_person("alice")
    asked = await post_status(client, alice, "@assistant what is new?")
    await _exhaust_retries(db, run_jobs)
    (job,) = await _assistant_jobs(db)
    assert job.state == "dead" and job.attempts == get_settings().ai_reply_max_attempts
    assert "ConnectionError" in (job.last_error or "") or "failed" in (job.last_error or "")
    notes = (await client.get("/api/v1/notifications", headers=alice.headers)).json()
    assert [n["type"] for n in notes] == ["mention"]
    reply = notes[0]["status"]
    assert reply["in_reply_to_id"] == asked["id"] and reply["visibility"] == "direct"
    assert reply["account"]["id"] == str(assistant.id) and reply["account"]["bot"] is True
    # an admin retrying the dead job cannot make a second reply
    async with db.transaction() as session:
        await session.execute(update(Job).where(Job.id == job.id).values(state="pending"))
    await _exhaust_retries(db, run_jobs)
    async with db.session() as session:
        replies = (
            await session.scalars(select(Post.id).where(Post.in_reply_to_id == int(asked["id"])))
        ).all()
        guard = await session.get(AssistantReply, int(asked["id"]))
    assert len(replies) == 1 and guard.outcome == "failed"


async def test_no_reply_when_deleted_or_blocked(client, db, make_person, assistant, run_jobs):
    alice, bob = await make_person("alice"), await make_person("bob")
    gone = await post_status(client, alice, "@assistant never mind")
    await client.delete(f"/api/v1/statuses/{gone['id']}", headers=alice.headers)
    await client.post(f"/api/v1/accounts/{assistant.id}/block", headers=bob.headers)
    await post_status(client, bob, "@assistant I blocked you")
    await _exhaust_retries(db, run_jobs)
    jobs = await _assistant_jobs(db)
    assert jobs == []  # both finished without calling the (down) model
    async with db.session() as session:
        count = await session.scalar(select(Post.id).where(Post.account_id == assistant.id))
    assert count is None
