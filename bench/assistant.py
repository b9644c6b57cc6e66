"""The assistant: context building for a 200-post thread (time and SQL statements), a mention
answered end to end by the job with the local model (128 new tokens at most), and the first
streamed token of a chat answer.

    python -m bench.assistant [--backend postgresql] [--users 10000 --posts 1000000]

A 200-post thread by demo accounts is written into the data set (once; reused), with no job
worker running (its fan-out jobs are removed afterwards). Targets: context ≤ 20 ms with a
constant number of statements; mention → reply posted ≤ 10 s; first chat token ≤ 1 s.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, select

from bench.common import QueryCounter, dataset, emit, latency_stats, parser, run

THREAD = 200
MARK = "bench-assistant-thread"


async def _thread(db: Any) -> tuple[int, int, int]:
    """(asker id, root id, last post id) of the bench thread, written on first use."""
    from agora.db.models import Account, Job, Post
    from agora.social.posts.writing import Draft, write_post

    async with db.transaction() as session:
        people = list(
            (
                await session.scalars(
                    select(Account).where(Account.username_lower.like("demo%")).limit(20)
                )
            ).all()
        )
        root = await session.scalar(select(Post.id).where(Post.text == MARK))
        if root is None:
            first = await write_post(session, people[0].id, Draft(MARK))
            root, parent = first.id, first.id
            for n in range(THREAD - 1):
                text = f"reply {n} about the transit strike and the weekend #bench"
                post = await write_post(
                    session, people[n % 20].id, Draft(text, in_reply_to_id=parent)
                )
                parent = post.id if n % 5 else root
            await session.flush()
            await session.execute(delete(Job).where(Job.kind == "distribute_post"))
        last = await session.scalar(
            select(Post.id).where(Post.thread_root_id == root).order_by(Post.id.desc()).limit(1)
        )
    return people[1].id, root, last or root


async def measure_context(db: Any, asker: int, post_id: int, runs: int) -> dict[str, Any]:
    """Time `thread_context` on the 200-post thread and count its statements."""
    from agora.ai.context import thread_context

    counter = QueryCounter(db.engine)
    times, statements, used = [], set(), 0
    with counter.attached():
        for _ in range(runs):
            async with db.session() as session:
                counter.count = 0
                started = time.perf_counter()
                ctx = await thread_context(session, asker, post_id, 100_000)
                times.append(time.perf_counter() - started)
                statements.add(counter.count)
                used = len(ctx.used_ids)
    return {"context": latency_stats(times), "statements": sorted(statements), "posts_used": used}


async def measure_mention(db: Any, asker: int, root: int) -> dict[str, Any]:
    """A mention answered by the job (local model), timed from the post to the reply."""
    from agora.db.models import Account, AssistantReply, Job
    from agora.job_registry import register_all_jobs
    from agora.jobs.worker import Worker
    from agora.social.people.assistant_account import ensure_assistant
    from agora.social.posts.writing import Draft, create_post

    register_all_jobs()

    async with db.transaction() as session:
        await ensure_assistant(session)
        # mentions left by an earlier, interrupted run would be answered first and counted
        await session.execute(delete(Job).where(Job.kind == "assistant_reply"))
    async with db.session(write=True) as session:
        account = await session.get(Account, asker)
        started = time.perf_counter()
        post = await create_post(
            session, account.id, Draft("@assistant sum up?", in_reply_to_id=root)
        )
    await Worker(db).run_until_idle()
    seconds = time.perf_counter() - started
    async with db.session() as session:
        guard = await session.get(AssistantReply, post.id)
    return {"mention_to_reply_s": round(seconds, 2), "outcome": guard.outcome if guard else None}


async def measure_first_token(db: Any, asker: int) -> dict[str, Any]:
    """Seconds from asking in a chat to the first streamed piece of the answer."""
    from agora.ai import chat

    async with db.session(write=True) as session:
        conversation = await chat.create_conversation(session, asker, "bench")
    started = time.perf_counter()
    turn = await chat.prepare_turn(db, asker, conversation.id, "what about the transit strike?")
    first = None
    async for _piece in chat.stream_answer(db, turn):
        if first is None:
            first = time.perf_counter() - started
    return {"chat_first_token_s": round(first or float("nan"), 3), "sources": len(turn.sources)}


async def main() -> None:
    """Entry point."""
    p = parser(__doc__ or "")
    p.add_argument("--runs", type=int, default=200)
    args = p.parse_args()
    from agora.db.engine import Database

    async with dataset(args) as data:
        db = Database(data.url)
        try:
            asker, root, last = await _thread(db)
            metrics = await measure_context(db, asker, last, args.runs)
            metrics.update(await measure_mention(db, asker, root))
            metrics.update(await measure_first_token(db, asker))
        finally:
            await db.dispose()
    emit(
        "assistant",
        data,
        metrics,
        {
            "context_p50_le_20ms": metrics["context"]["p50_ms"] <= 20,
            "context_constant_statements": len(metrics["statements"]) == 1,
            "mention_le_10s": metrics["mention_to_reply_s"] <= 10,
            "first_token_le_1s": metrics["chat_first_token_s"] <= 1,
        },
    )


if __name__ == "__main__":
    run(main())
