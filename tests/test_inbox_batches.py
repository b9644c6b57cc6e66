"""Received activities in batches (federation/inbox.py, jobs/queue.py `run_batch`): a batch's
consecutive Creates are applied together (`inbox.process_many`, one savepoint) with the
effects each has alone, in the batch's order; a bad one among them fails alone; a worker
stopped mid-batch commits nothing and the re-run stores each once; what a received Create
costs in SQL statements and SQLite round trips."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, update

from agora.db.models import Account, Follow, HomeFeedEntry, Job, Post
from agora.federation import inbox
from agora.ids import new_id
from agora.job_registry import register_all_jobs
from agora.jobs import queue
from agora.jobs.job_kinds import JobKind, JobState
from agora.jobs.worker import Worker
from helpers import ON_POSTGRES, jobs_of_kind

STATEMENTS_ALONE = 19  # one Create alone: its claim, its transaction, its writes and reads
# ten Creates of one batch, applied together: one Create's statements and the savepoint
# (SAVEPOINT, RELEASE) they are applied in
STATEMENTS_BATCH_MORE = 2
# SQLite: ten more Creates in a batch cost at most this many thread round trips more than one
# (the run's savepoint rides with its statements: db/sqlite_one_trip.py)
ROUND_TRIPS_BATCH_MORE = 1
AUTHOR = "https://remote.example/users/author"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
RUNS: list[tuple[list[str], str]] = []  # each run applied together: its activities, its outcome


@pytest.fixture(autouse=True)
def _spied_runs(monkeypatch: Any) -> None:
    """Record each run of received activities applied together (and whether it raised)."""
    register_all_jobs()
    RUNS.clear()

    async def spy(session: Any, payloads: list[Any]) -> None:
        ids = [p["activity"]["id"].removeprefix(AUTHOR + "/") for p in payloads]
        try:
            await inbox.process_many(session, payloads)
        except Exception:
            RUNS.append((ids, "raised"))
            raise
        RUNS.append((ids, "ok"))

    spied = queue.Together(joins=inbox.joins, apply=spy)
    monkeypatch.setitem(queue.TOGETHER, JobKind.AP_INBOX, spied)
    monkeypatch.setattr(queue, "BATCH_SECONDS", 3600)  # one transaction, however loaded


async def _author_with_fans(db: Any, fans: int) -> tuple[int, str]:
    """A remote author (stored as the inbox stores one) followed by `fans` local accounts."""
    from agora.social.people.accounts import create_account

    async with db.transaction() as session:
        author = await _remote_author(session, "author")
        ids = []
        for i in range(fans):
            account = await create_account(session, username=f"fan{i}", display_name="fan")
            await session.flush()
            ids.append(account.id)
        await session.execute(
            insert(Follow),
            [{"id": new_id(), "account_id": a, "target_account_id": author.id} for a in ids],
        )
        return author.id, author.uri


async def _remote_author(session: Any, name: str) -> Account:
    """A remote account of remote.example, stored as the inbox stores one."""
    from agora.federation.actors import RemoteActor, store_actor

    uri = f"https://remote.example/users/{name}"
    return await store_actor(
        session,
        RemoteActor(
            uri=uri,
            username=name,
            domain="remote.example",
            display_name=name,
            note_html="",
            url=None,
            inbox=f"{uri}/inbox",
            shared_inbox="https://remote.example/inbox",
            followers=f"{uri}/followers",
            public_key_pem="",
            locked=False,
            bot=False,
            discoverable=True,
        ),
    )


def _create(actor: str, n: int) -> dict[str, Any]:
    public = "https://www.w3.org/ns/activitystreams#Public"
    return {
        "id": f"{actor}/statuses/{n}/activity",
        "type": "Create",
        "actor": actor,
        "to": [public],
        "object": {
            "id": f"{actor}/statuses/{n}",
            "type": "Note",
            "attributedTo": actor,
            "content": f"<p>remote post {n}</p>",
            "to": [public],
            "cc": [f"{actor}/followers"],
        },
    }


async def _queue_creates(db: Any, author_id: int, uri: str, numbers: range) -> None:
    """Queue received Creates of these numbers' Notes, as the inbox queues them."""
    await _queue(db, author_id, [_create(uri, n) for n in numbers])


async def _queue(db: Any, author_id: int, activities: list[dict[str, Any]]) -> None:
    """Queue received activities of one sender, in this order, as the inbox queues them."""
    await _queue_sent(db, [(author_id, activity) for activity in activities])


async def _queue_sent(db: Any, sent: list[tuple[int, dict[str, Any]]]) -> None:
    """Queue received activities (each with its sender's id), in this order."""
    async with db.transaction() as session:
        for actor_id, activity in sent:
            payload = {"activity": activity, "actor_id": actor_id}
            queue.enqueue(session, JobKind.AP_INBOX, payload)  # type: ignore[arg-type]


async def _stored(db: Any, author_id: int) -> tuple[list[str], int, int]:
    """The author's posts not deleted (the numbers their ids end with), the feed rows of the
    author's posts, and the author's post count."""
    async with db.session() as session:
        uris = await session.scalars(
            select(Post.uri).where(Post.account_id == author_id, Post.deleted_at.is_(None))
        )
        posts = sorted(u.rsplit("/", 1)[1] for u in uris.all())
        feeds = await session.scalars(
            select(HomeFeedEntry.post_id).where(HomeFeedEntry.author_id == author_id)
        )
        author = await session.get(Account, author_id)
        assert author is not None
        return posts, len(feeds.all()), author.statuses_count


async def _statements_to_process(db: Any, author_id: int, uri: str, numbers: range) -> int:
    """SQL statements one worker sends to process these received Creates (queued at once)."""
    await _queue_creates(db, author_id, uri, numbers)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        worker = Worker(db, batch=100)
        assert await worker.run_until_idle() == len(numbers)
        assert worker.failed == 0
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    return len(statements)


async def test_received_posts_in_a_batch_cost_the_statements_of_one(db) -> None:
    """A received Create of a public post whose author has 10 local followers is stored and in
    their feeds with one job (no `distribute_post` job) in at most STATEMENTS_ALONE statements
    (claim and commit included); ten in one batch, applied together, cost one's statements and
    their savepoint's (STATEMENTS_BATCH_MORE)."""
    author_id, uri = await _author_with_fans(db, 10)
    one = await _statements_to_process(db, author_id, uri, range(1))
    ten = await _statements_to_process(db, author_id, uri, range(1, 11))
    assert [([f"statuses/{n}/activity" for n in range(1, 11)], "ok")] == RUNS
    assert one <= STATEMENTS_ALONE, one
    assert ten <= one + STATEMENTS_BATCH_MORE, (one, ten)
    async with db.session() as session:
        posts = (await session.scalars(select(Post.id).where(Post.account_id == author_id))).all()
        assert len(posts) == 11
        feeds = await session.scalars(select(HomeFeedEntry).where(HomeFeedEntry.post_id.in_(posts)))
        assert len(feeds.all()) == 11 * 11  # the followers' and the author's (as for any post)
        assert (await session.scalars(select(Job.kind))).all() == []  # no second job


async def _round_trips_to_process(
    db: Any, author_id: int, uri: str, numbers: range, monkeypatch: Any
) -> int:
    """SQLite: the calls one worker makes into the connections' threads to process these
    received Creates (statements, commits and rollbacks)."""
    import aiosqlite

    await _queue_creates(db, author_id, uri, numbers)
    trips = [0]
    real = aiosqlite.Connection._execute

    async def counted(connection: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips[0] += 1
        return await real(connection, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    try:
        assert await Worker(db, batch=100).run_until_idle() == len(numbers)
    finally:
        monkeypatch.setattr(aiosqlite.Connection, "_execute", real)
    return trips[0]


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's thread round trips")
async def test_received_posts_in_a_batch_cost_the_round_trips_of_one(db, monkeypatch) -> None:
    """SQLite: eleven received Creates in one batch cost at most ROUND_TRIPS_BATCH_MORE calls
    into the connection's thread more than one alone: they are applied together, and the
    savepoint they are applied in rides with their statements (db/sqlite_one_trip.py)."""
    author_id, uri = await _author_with_fans(db, 10)
    one = await _round_trips_to_process(db, author_id, uri, range(1), monkeypatch)
    eleven = await _round_trips_to_process(db, author_id, uri, range(1, 12), monkeypatch)
    assert eleven <= one + ROUND_TRIPS_BATCH_MORE, (one, eleven)


async def test_a_poisoned_received_post_in_a_batch_leaves_nothing_and_the_others_apply_once(
    db, monkeypatch
) -> None:
    """Five received Creates by one sender in one batch, the third failing after its post,
    mentions and feed rows were written (first when the five are applied together, which is
    then rolled back, then alone): the four others are stored once each and counted once on
    the sender; of the third nothing remains (no post, no feed row, not counted) and its job
    is left for a retry, which stores it once."""
    from agora.social.reading import fan_out

    author_id, uri = await _author_with_fans(db, 3)
    real_finish = fan_out.finish_distribution
    together = []

    async def poisoned(session: Any, payload: Any, *args: Any) -> None:
        await real_finish(session, payload, *args)
        post = await session.get(Post, payload["post_id"])
        if post.uri.endswith("/statuses/2"):
            together.append(await session.scalar(select(func.count()).select_from(Post)))
            raise RuntimeError("poisoned activity")

    monkeypatch.setattr(fan_out, "finish_distribution", poisoned)
    await _queue_creates(db, author_id, uri, range(5))
    worker = Worker(db, batch=100)
    assert await worker.run_until_idle() == 5
    assert (worker.processed, worker.failed) == (4, 1)
    assert await _stored(db, author_id) == (["0", "1", "3", "4"], 4 * 4, 4)
    assert [([f"statuses/{n}/activity" for n in range(5)], "raised")] == RUNS
    # posts there when the third failed: the five applied together, then each alone in the
    # batch (the third after the two before it), then the third alone once the others committed
    assert together == [5, 3, 5], together
    [left] = await jobs_of_kind(db, JobKind.AP_INBOX)
    assert left.state == JobState.PENDING and left.attempts == 1
    assert "poisoned activity" in (left.last_error or "")

    monkeypatch.setattr(fan_out, "finish_distribution", real_finish)
    async with db.transaction() as session:  # due now, as its backoff would make it later
        left = await session.get(Job, left.id)
        assert left is not None
        left.run_at = left.created_at
    assert await Worker(db).run_until_idle() == 1
    assert await _stored(db, author_id) == (["0", "1", "2", "3", "4"], 5 * 4, 5)


def _note(n: int, **fields: Any) -> dict[str, Any]:
    """The author's public Note number `n`, with `fields` changed."""
    note = {
        "id": f"{AUTHOR}/statuses/{n}",
        "type": "Note",
        "attributedTo": AUTHOR,
        "content": f"<p>remote post {n}</p>",
        "to": [PUBLIC],
        "cc": [f"{AUTHOR}/followers"],
    }
    return {**note, **fields}


def _activity(kind: str, name: str, carried: Any) -> dict[str, Any]:
    return {"id": f"{AUTHOR}/{name}", "type": kind, "actor": AUTHOR, "object": carried}


async def _run_batch(db: Any) -> Worker:
    """One worker runs the queue (the batch of received activities, and the jobs they and
    their set-up queued) until idle; no job failed, none of the batch is left."""
    worker = Worker(db, batch=100)
    await worker.run_until_idle()
    assert worker.failed == 0
    assert await jobs_of_kind(db, JobKind.AP_INBOX) == []
    return worker


async def test_a_batchs_creates_are_applied_together_in_its_order_each_once(db) -> None:
    """In one batch: a Create, a Create replying to it, the first Note again (another
    activity), a Delete of the reply, a Delete of a Note not received yet, that Note's Create,
    one more Create. The Deletes split the batch into runs applied together; the reply is
    linked to its parent of the same run and counted on it, the repeated Note is stored once,
    the deleted reply is gone with its feed rows and counts, the Note deleted before it came
    is stored (as each alone, in this order, would do)."""
    author_id, _ = await _author_with_fans(db, 3)
    await _queue(
        db,
        author_id,
        [
            _activity("Create", "a0", _note(0)),
            _activity("Create", "a1", _note(1, inReplyTo=f"{AUTHOR}/statuses/0")),
            _activity("Create", "a0-again", _note(0)),
            _activity("Delete", "d1", f"{AUTHOR}/statuses/1"),
            _activity("Delete", "d5", f"{AUTHOR}/statuses/5"),
            _activity("Create", "a5", _note(5)),
            _activity("Create", "a6", _note(6)),
        ],
    )
    await _run_batch(db)
    assert RUNS == [(["a0", "a1", "a0-again"], "ok"), (["a5", "a6"], "ok")]
    # three posts left, each in the 3 fans' and the author's feeds; 4 stored, 1 deleted
    assert await _stored(db, author_id) == (["0", "5", "6"], 3 * 4, 3)
    async with db.session() as session:
        rows = await session.execute(
            select(Post.uri, Post.in_reply_to_id, Post.replies_count, Post.deleted_at)
            .where(Post.account_id == author_id)
            .order_by(Post.id)
        )
        posts = {uri.rsplit("/", 1)[1]: row for uri, *row in rows}
    assert sorted(posts) == ["0", "1", "5", "6"]
    zero_id = await _post_id(db, f"{AUTHOR}/statuses/0")
    assert posts["1"][0] == zero_id and posts["1"][2] is not None  # replied, then deleted
    assert posts["0"][1] == 0  # counted once by the reply, uncounted by its deletion


async def _post_id(db: Any, uri: str) -> int:
    async with db.session() as session:
        found = await session.scalar(select(Post.id).where(Post.uri == uri))
        assert found is not None
        return int(found)


async def test_refused_and_malformed_creates_in_a_batch_leave_nothing_and_the_rest_is_stored(
    db, make_person
) -> None:
    """Among good Creates in one batch: Notes on another host, attributed to another actor,
    without an id, a Create of a string and of an Article, and a vote for an option a local
    poll does not have (refused by a rule: the run applied together raises, and each is then
    applied alone, where the refusal is logged and dropped). The good Notes are stored once
    each, nothing of the others, and every job ends (none failed, none left)."""
    from agora.social.posts.polls import PollDraft
    from agora.social.posts.post_uris import post_uri
    from agora.social.posts.writing import Draft, write_post

    author_id, _ = await _author_with_fans(db, 2)
    pollster = await make_person("pollster")
    async with db.transaction() as session:
        poll = await write_post(
            session,
            pollster.id,
            Draft(text="which?", poll=PollDraft(options=["a", "b"], expires_in=600)),
        )
        poll_uri = post_uri(poll.id, None, "pollster")
    vote = {
        "id": f"{AUTHOR}/votes/1",
        "type": "Note",
        "name": "c",  # no such option
        "attributedTo": AUTHOR,
        "inReplyTo": poll_uri,
        "to": [pollster_uri(poll_uri)],
    }
    await _queue(
        db,
        author_id,
        [
            _activity("Create", "a0", _note(0)),
            _activity("Create", "elsewhere", _note(1, id="https://other.example/statuses/1")),
            _activity("Create", "forged", _note(2, attributedTo="https://remote.example/users/x")),
            _activity("Create", "no-id", {k: v for k, v in _note(3).items() if k != "id"}),
            _activity("Create", "vote", vote),
            _activity("Create", "a4", _note(4)),
            _activity("Create", "string", f"{AUTHOR}/statuses/5"),
            _activity("Create", "article", _note(6, type="Article")),
            _activity("Create", "a7", _note(7)),
        ],
    )
    await _run_batch(db)
    # the first six together (the vote's refusal raised), then each alone; the string's and
    # the Article's Creates do not join a run, and the last one alone makes none
    assert RUNS == [(["a0", "elsewhere", "forged", "no-id", "vote", "a4"], "raised")]
    assert await _stored(db, author_id) == (["0", "4", "7"], 3 * 3, 3)
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Post)) == 4  # and the poll


def pollster_uri(post: str) -> str:
    """The actor id of a local post's author, from the post's id."""
    return post.split("/statuses/", 1)[0]


async def test_a_worker_stopped_mid_batch_commits_nothing_and_the_rerun_stores_each_once(
    db, monkeypatch
) -> None:
    """A worker stopped (its task cancelled) while applying a batch's Creates together, after
    their posts and feed rows were written: nothing of the batch is committed, its jobs stay
    leased; once the leases run out another worker stores each Note once, in every feed once,
    counted once."""
    from agora.social.reading import fan_out

    author_id, uri = await _author_with_fans(db, 3)
    real_finish = fan_out.finish_distribution
    reached = asyncio.Event()

    async def stuck(session: Any, payload: Any, *args: Any) -> None:
        await real_finish(session, payload, *args)
        post = await session.get(Post, payload["post_id"])
        if post.uri.endswith("/statuses/3"):
            reached.set()
            await asyncio.Event().wait()  # never

    monkeypatch.setattr(fan_out, "finish_distribution", stuck)
    await _queue_creates(db, author_id, uri, range(5))
    task = asyncio.create_task(Worker(db, batch=100).run_until_idle())
    await asyncio.wait_for(reached.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _stored(db, author_id) == ([], 0, 0)
    held = await jobs_of_kind(db, JobKind.AP_INBOX)
    assert len(held) == 5 and {job.state for job in held} == {JobState.RUNNING}

    monkeypatch.setattr(fan_out, "finish_distribution", real_finish)
    async with db.transaction() as session:  # the leases run out
        await session.execute(update(Job).values(locked_until=Job.created_at))
    await _run_batch(db)
    assert await _stored(db, author_id) == (["0", "1", "2", "3", "4"], 5 * 4, 5)


async def test_creates_of_several_senders_in_one_run_reach_each_ones_followers(db) -> None:
    """One run of Creates by two senders, interleaved: each post reaches its own author's
    followers as the home rule and their mutes decide (a follower of both gets all four, one
    who mutes the second sender only the first's), each feed's size counts what it got, each
    sender's posts are counted on it."""
    from agora.db.models import HomeFeedSize, Mute
    from agora.social.people.accounts import create_account

    async with db.transaction() as session:
        first, second = await _remote_author(session, "author"), await _remote_author(session, "b")
        fans = []
        for name in ("both", "muter", "second_only"):
            fans.append(await create_account(session, username=name, display_name=name))
        await session.flush()
        both, muter, second_only = (fan.id for fan in fans)
        follows = [(both, first), (both, second), (muter, first), (muter, second)]
        follows.append((second_only, second))
        await session.execute(
            insert(Follow),
            [{"id": new_id(), "account_id": f, "target_account_id": t.id} for f, t in follows],
        )
        session.add(Mute(account_id=muter, target_account_id=second.id))
        ids = {first.uri: first.id, second.uri: second.id}
    sent = [(ids[uri], _create(uri, n)) for n in range(2) for uri in (first.uri, second.uri)]
    await _queue_sent(db, sent)
    await _run_batch(db)
    assert len(RUNS) == 1 and len(RUNS[0][0]) == 4 and RUNS[0][1] == "ok"
    async with db.session() as session:
        feed = await session.execute(
            select(HomeFeedEntry.account_id, func.count()).group_by(HomeFeedEntry.account_id)
        )
        sizes = await session.execute(select(HomeFeedSize.account_id, HomeFeedSize.entries))
        counts = await session.execute(
            select(Account.id, Account.statuses_count).where(Account.id.in_(ids.values()))
        )
        got, grown, counted = dict(feed.all()), dict(sizes.all()), dict(counts.all())
    fed = {both: 4, muter: 2, second_only: 2, first.id: 2, second.id: 2}
    assert got == fed and grown == fed, (got, grown)
    assert counted == {first.id: 2, second.id: 2}
