"""Home feeds: fan-out on write into a precomputed, capped feed per account.

Accounts with more followers than `fanout_follower_threshold` are not fanned out; their posts
are merged into home timelines at read time (see timelines.home_timeline). All handlers here
are jobs and idempotent: feed rows are inserted with ON CONFLICT DO NOTHING, always by
`_add_to_feeds`, in owners' order, so that fan-outs running at once lock the same rows in
the same order and never deadlock.

`distribute_post` is a two-phase job (`jobs.queue.SlowJob`), so that fanning a post out to
thousands of followers never holds the write lock (SQLite's, for the whole database) for long:

1. `fan_out` reads the audience in a read transaction (no write lock), then writes the feed
   rows `FANOUT_BATCH` recipients at a time, each batch its own short write transaction,
   followed by the `status` notifications of subscribers, batched the same way. All of it is
   idempotent: a feed row is inserted once (a recipient whose feed already holds the post is
   skipped and not counted again), a notification is keyed by its cause and announced only
   when it is really inserted. A worker that dies half-way leaves the batches it committed;
   the re-run adds the rest.
2. `finish_distribution` runs in the transaction that deletes the job, so what must happen
   exactly once happens there: the `update` event for the streams (after all the feed rows
   exist), mention notifications, the hashtag use count, a direct post's conversations.

A post whose audience fits one batch may instead be distributed in the transaction that
stores it (`distribute_new_posts`, for received remote posts, stored by a job already, a
batch's at once): the same steps, once, without a second job.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Select, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from agora.config import get_settings
from agora.db.engine import Database, column_rows
from agora.db.models import (
    Account,
    Block,
    Follow,
    FollowedTag,
    HomeFeedEntry,
    HomeFeedSize,
    Mention,
    Mute,
    Post,
    PostTag,
    Visibility,
    utcnow,
)
from agora.db.upsert import dialect_insert, insert_ignore
from agora.events.event_kinds import EventName
from agora.jobs.job_kinds import FeedJob, JobKind, PostDeletedJob, PostEditedJob, PostJob
from agora.jobs.queue import enqueue
from agora.social.live.streams import announce_post
from agora.social.posts.tags import record_tag_use
from agora.social.reading import conversations
from agora.social.reading.home_rule import home_rule, in_home
from agora.social.reading.notifications import (
    forget_deleted_post,
    notify_about_post,
    notify_mentions,
    notify_quoted,
    notify_quoters,
    notify_subscribers,
    subscribers,
)
from agora.social.rules.visibility import timeline_filter

FANOUT_BATCH = 200  # recipients per write transaction of a fan-out
MIN_PAUSE = 0.002  # seconds between two batches on SQLite, at least (see `_batch`)
TRIM_SLACK = 40
BACKFILL = 40


def _chunks(items: list[int], size: int = FANOUT_BATCH) -> Iterable[list[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass(frozen=True, slots=True)
class Distribution:
    """A post to distribute and who gets it: home feeds (`recipients`, the author first) and
    `status` notifications (`subscribers`)."""

    post: Post
    original: Post | None
    recipients: list[int]
    subscribers: list[int]


async def _distributable(
    session: AsyncSession, post_id: int
) -> tuple[Post, Post | None, Account] | None:
    """The post, its original (for a boost) and its author, unless either post is gone or the
    author is suspended."""
    post = await session.get(Post, post_id)
    if post is None or post.deleted_at is not None:
        return None
    original = await session.get(Post, post.reblog_of_id) if post.reblog_of_id else None
    if original is not None and original.deleted_at is not None:
        return None
    author = await session.get(Account, post.account_id)
    if author is None or author.suspended_at is not None:
        return None
    return post, original, author


async def plan_distribution(
    session: AsyncSession,
    post_id: int,
    tag_ids: Sequence[int] | None = None,
    mention_ids: Collection[int] | None = None,
    memo: dict[Any, Any] | None = None,
) -> Distribution | None:
    """Who gets the post (reads only; None when it is not to be distributed). `tag_ids`, the
    post's hashtags when the caller knows them, spares looking for tag followers of a post
    without any; `mention_ids`, its mentions when the caller knows them, and `memo`, kept by
    the caller across the posts it distributes, let posts that name nobody share what is read
    of their author's followers (`fan_out_recipients`) and subscribers."""
    found = await _distributable(session, post_id)
    if found is None:
        return None
    post, original, author = found
    shared = memo if mention_ids is not None and not mention_ids else None
    recipients = await fan_out_recipients(session, post, author, original, shared)
    if original is None and (tag_ids is None or tag_ids):
        recipients += await tag_follower_recipients(session, post, author, set(recipients))
    notified = await _subscribers(session, post, shared) if original is None else []
    return Distribution(post, original, recipients, notified)


async def _subscribers(session: AsyncSession, post: Post, memo: dict[Any, Any] | None) -> list[int]:
    """`notifications.subscribers` of the post, read once per author with a `memo` (they
    depend on the post only through whether it answers someone else: then there are none)."""
    if memo is None or post.in_reply_to_account_id not in (None, post.account_id):
        return await subscribers(session, post)
    key = ("subscribers", post.account_id)
    if key not in memo:
        memo[key] = await subscribers(session, post)
    return list(memo[key])


async def fan_out(db: Database, payload: PostJob) -> None:
    """Phase 1 of `distribute_post` (see the module's docstring): the feeds and `status`
    notifications, `FANOUT_BATCH` at a time, each batch in a short write transaction."""
    async with db.session() as session:
        plan = await plan_distribution(session, payload["post_id"])
    if plan is None:
        return
    for chunk in _chunks(plan.recipients):
        async with batch_transaction(db) as session:
            await push_to_feeds(session, plan.post, chunk, plan.original)
    for chunk in _chunks(plan.subscribers):
        async with batch_transaction(db) as session:
            await notify_subscribers(session, plan.post, chunk)


@asynccontextmanager
async def batch_transaction(db: Database) -> AsyncIterator[AsyncSession]:
    """One batch's write transaction (fan-out, account deletion). On SQLite, then as long a
    pause as it held the write lock: that lock is one for the whole database and has no queue
    (a request waiting for it polls, every 1 to 100 ms), so a fan-out that took it again at
    once would keep requests waiting until its very end; with the pause a waiting request gets
    its turn within a batch or two, whatever the number of followers."""
    started = time.monotonic()
    async with db.transaction() as session:
        yield session
    if db.is_sqlite:
        await asyncio.sleep(max(time.monotonic() - started, MIN_PAUSE))


async def finish_distribution(
    session: AsyncSession,
    payload: PostJob,
    _prepared: None = None,
    tag_ids: Sequence[int] | None = None,
    mention_ids: Collection[int] | None = None,
) -> None:
    """Phase 2 of `distribute_post`, in the transaction that deletes the job: the `update`
    event (streamed once this commits), mention notifications, the hashtag use count (of
    `tag_ids` when the caller read them), the conversations of a direct post."""
    found = await _distributable(session, payload["post_id"])
    if found is None:
        return
    post, original, _author = found
    announce_post(session, post)
    if original is None:
        await notify_mentions(session, post, mention_ids)
        await notify_quoted(session, post)
        await record_tag_use(session, post, tag_ids)
        await conversations.record_direct_post(session, post)


async def post_deleted(session: AsyncSession, payload: PostDeletedJob) -> None:
    """The `post_deleted` job: its notifications go and its deletion is streamed
    (`notifications.forget_deleted_post`), and it leaves the conversations it ended."""
    await forget_deleted_post(session, payload)
    await conversations.forget_post(session, payload["post_id"])


async def distribute_post(session: AsyncSession, payload: PostJob) -> None:
    """Both phases of the `distribute_post` job in the caller's one transaction (for the demo
    data's check and the benchmark, which replay fan-out on a quiet database)."""
    plan = await plan_distribution(session, payload["post_id"])
    if plan is not None:
        await push_to_feeds(session, plan.post, plan.recipients, plan.original)
        await notify_subscribers(session, plan.post, plan.subscribers)
    await finish_distribution(session, payload)


@dataclass(frozen=True, slots=True)
class NewPost:
    """A post just stored in the caller's transaction (not a boost), with its hashtags' ids
    and its mentioned accounts as its writer wrote them."""

    post_id: int
    tag_ids: Sequence[int]
    mention_ids: Collection[int]


async def distribute_new_posts(session: AsyncSession, posts: Sequence[NewPost]) -> None:
    """Distribute posts just stored in the caller's transaction (received ones: one, or a
    batch's), each as `distribute_post` would, when its audience (feeds and `status`
    subscribers) fits in one batch (`FANOUT_BATCH`); otherwise enqueue its `distribute_post`
    job. Either way it happens once, with the caller's commit. In their order, each as it
    would be alone: the rule decides each one's audience (`plan_distribution`: the facts of
    an author's followers, and the author's subscribers, read once for the posts that name
    nobody), then the feed rows of all of them are written at once (one insert, the feeds'
    sizes grown in one upsert: the posts are new, in no feed yet, and none is a boost), then
    each one's notifications and announcement (`finish_distribution`)."""
    memo: dict[Any, Any] = {}
    plans: list[tuple[Distribution, NewPost]] = []
    for new in posts:
        plan = await plan_distribution(session, new.post_id, new.tag_ids, new.mention_ids, memo)
        if plan is None:
            continue
        if len(plan.recipients) + len(plan.subscribers) > FANOUT_BATCH:
            enqueue(session, JobKind.DISTRIBUTE_POST, {"post_id": new.post_id})
            continue
        plans.append((plan, new))
    rows = [
        {"account_id": a, "post_id": plan.post.id, "author_id": plan.post.account_id}
        for plan, _ in plans
        for a in plan.recipients
    ]
    if rows:  # new posts, no boost among them: in no feed yet
        await _add_to_feeds(session, rows)
    for plan, new in plans:
        await notify_subscribers(session, plan.post, plan.subscribers)
        await finish_distribution(
            session, {"post_id": new.post_id}, None, new.tag_ids, new.mention_ids
        )


async def fan_out_recipients(
    session: AsyncSession,
    post: Post,
    author: Account,
    original: Post | None,
    memo: dict[Any, Any] | None = None,
) -> list[int]:
    """Who gets `post` in their home feed by following its author (the author always does):
    the followers (for a direct post, the mentioned followers) for whom the home rule
    (`home_rule.in_home`) holds, decided on the facts read for each of them in one query.
    A high-reach author's posts are merged at read time instead (direct ones are fanned out).
    With a `memo` (the caller's word that the post mentions nobody, so no follower is
    `mentioned`), the facts are read once for the posts of one author answering one account
    and boosting one (the rule is still decided for each post)."""
    threshold = get_settings().fanout_follower_threshold
    if post.visibility != Visibility.DIRECT and author.followers_count > threshold:
        return [author.id]
    authors = [author.id] + ([original.account_id] if original is not None else [])
    facts = {
        "post_id": post.id,
        "author_id": author.id,
        "replied_to_id": post.in_reply_to_account_id,
        "authors": authors,
        "now": utcnow(),
    }
    query = _follower_facts(post.visibility == Visibility.DIRECT)
    key = ("facts", post.in_reply_to_account_id, *authors)
    if memo is None or post.visibility == Visibility.DIRECT:
        rows = await column_rows(session, query, facts)
    else:
        if key not in memo:
            memo[key] = await column_rows(session, query, facts)
        rows = memo[key]
    to = post.in_reply_to_account_id
    members = [
        row.account_id
        for row in rows
        if row.account_id != author.id
        and in_home(
            is_author=False,
            follows_author=True,
            shows_boosts=row.show_reblogs,
            is_boost=original is not None,
            direct=post.visibility == Visibility.DIRECT,
            mentioned=row.mentioned,
            is_reply=to is not None,
            replies_to_viewer=row.account_id == to,
            self_reply=to == author.id,
            follows_replied_to=row.follows_replied_to,
        )
    ]
    return [author.id, *members]


@functools.cache
def _follower_facts(direct: bool) -> Select[Any]:
    """(account_id, show_reblogs, mentioned, follows_replied_to) of the author's local
    followers whom neither a block nor a mute keeps away (only the mentioned ones for a
    `direct` post), the facts `in_home` decides on. Remote followers have no home feed here:
    their server gets the post (federation's outbox) and builds theirs. Built once per
    shape (every received post is fanned out with it); its parameters: `post_id`,
    `author_id`, `replied_to_id`, `authors` (the author, and a boost's original author) and
    `now`."""
    follower: Any = Follow.account_id
    post_id: Any = bindparam("post_id")
    mention, other = aliased(Mention), aliased(Follow)  # never correlated with the query's own
    mentioned = exists().where(mention.post_id == post_id, mention.account_id == follower)
    follows_replied_to = exists().where(
        other.account_id == follower, other.target_account_id == bindparam("replied_to_id")
    )
    query: Select[Any] = select(
        follower,
        Follow.show_reblogs,
        mentioned.label("mentioned"),
        follows_replied_to.label("follows_replied_to"),
    )
    query = (
        query.join(Account, Account.id == follower)
        .where(Follow.target_account_id == bindparam("author_id"), Account.domain.is_(None))
        .where(*_not_silenced(follower, bindparam("authors", expanding=True), bindparam("now")))
    )
    if direct:
        query = query.join(Mention, (Mention.account_id == follower) & (Mention.post_id == post_id))
    return query


async def tag_follower_recipients(
    session: AsyncSession, post: Post, author: Account, already: set[int]
) -> list[int]:
    """People following a hashtag of a public post, besides `already`: the post reaches
    their home feed unless they block or mute its author or are blocked by them. A silenced
    author's posts reach only their followers."""
    if post.visibility != Visibility.PUBLIC or author.silenced_at is not None:
        return []
    follower: Any = FollowedTag.account_id
    query = (
        select(follower)
        .distinct()
        .join(PostTag, PostTag.tag_id == FollowedTag.tag_id)
        .where(PostTag.post_id == post.id, *_not_silenced(follower, [author.id], utcnow()))
    )
    found: list[int] = list((await session.scalars(query)).all())
    return [a for a in found if a not in already]


def _not_silenced(recipient: Any, authors: Any, now: Any) -> list[Any]:
    """SQL conditions: the recipient neither blocks/mutes the `authors` (ids, or an expanding
    parameter) nor is blocked by them, as of `now` (a time or a parameter)."""
    blocked = (
        select(Block.id)
        .where(
            or_(
                (Block.account_id == recipient) & Block.target_account_id.in_(authors),
                Block.account_id.in_(authors) & (Block.target_account_id == recipient),
            )
        )
        .exists()
    )
    muted = (
        select(Mute.id)
        .where(
            Mute.account_id == recipient,
            Mute.target_account_id.in_(authors),
            or_(Mute.expires_at.is_(None), Mute.expires_at > now),
        )
        .exists()
    )
    return [~blocked, ~muted]


async def push_to_feeds(
    session: AsyncSession,
    post: Post,
    recipients: list[int],
    original: Post | None = None,
    *,
    new: bool = False,
) -> None:
    """Insert `post` into each recipient's feed, then trim feeds past the cap. Idempotent:
    recipients whose feed already holds the post (or, for a boost, its original or another
    boost of it) are skipped, so a re-run neither duplicates nor counts anything twice. A
    `new` post that is not a boost (stored in the caller's transaction) is in no feed: that
    check is skipped."""
    for chunk in _chunks(recipients):
        if not (new and original is None):
            chunk = await _without_it(session, chunk, post, original)
        if not chunk:
            continue
        rows = [{"account_id": a, "post_id": post.id, "author_id": post.account_id} for a in chunk]
        await _add_to_feeds(session, rows)


async def _without_it(
    session: AsyncSession, chunk: list[int], post: Post, original: Post | None
) -> list[int]:
    """Drop recipients whose feed already holds the post, or for a boost its original or
    another boost of it."""
    same: Any = [post.id]
    if original is not None:
        same = select(Post.id).where(or_(Post.id == original.id, Post.reblog_of_id == original.id))
    having = set(
        (
            await session.scalars(
                select(HomeFeedEntry.account_id).where(
                    HomeFeedEntry.account_id.in_(chunk), HomeFeedEntry.post_id.in_(same)
                )
            )
        ).all()
    )
    return [a for a in chunk if a not in having]


async def _add_to_feeds(session: AsyncSession, rows: list[dict[str, int]]) -> None:
    """Insert feed rows (those already there are skipped; each one inserted grows its
    owner's view stamp, migration 0042's trigger) and count each row as one entry more in
    its owner's feed, trimming the full ones. In owners' order: each owner's counter, view
    stamp and trimmed entries are locked until the commit, so two fan-outs at once (two
    people who follow each other, posting together: each is first in its own audience) must
    take them in one order, or each waits on the other and PostgreSQL kills one ("deadlock
    detected"; tests/test_feed_trim.py)."""
    rows = sorted(rows, key=lambda row: (row["account_id"], row["post_id"]))
    if session.get_bind().dialect.name == "postgresql":
        arrays = {name: [row[name] for row in rows] for name in _FEED_COLUMNS}
        await session.execute(_FEED_ROWS_FROM_ARRAYS, arrays)
    else:
        await session.execute(insert_ignore(session, HomeFeedEntry.__table__), rows)
    await _grow_and_trim(session, Counter(row["account_id"] for row in rows))


_FEED_COLUMNS = ("account_id", "post_id", "author_id")  # a feed row's, in the arrays' order


def _feed_rows_from_arrays() -> Any:
    """PostgreSQL: a batch's feed rows as one statement, its columns as three arrays (unnest
    keeps their order: owners' order). asyncpg runs a list of rows as one execution per row,
    and each fired `home_feed`'s statement triggers (the view stamps of migration 0042, the
    page change notice of 0044) again: in the 300-person topology run, 6,176 single-row
    inserts a minute and as many trigger runs, 0.8 ms of PostgreSQL's time each. A Core
    INSERT, so that the session counts as having written (db/session_writes.py)."""
    arrays = [bindparam(name, type_=ARRAY(BigInteger)) for name in _FEED_COLUMNS]
    rows = func.unnest(*arrays).table_valued(*_FEED_COLUMNS).render_derived()
    chosen = select(*(rows.c[name] for name in _FEED_COLUMNS))
    return (
        postgresql.insert(HomeFeedEntry.__table__)
        .from_select(list(_FEED_COLUMNS), chosen)
        .on_conflict_do_nothing()
    )


_FEED_ROWS_FROM_ARRAYS = _feed_rows_from_arrays()


async def _grow_and_trim(session: AsyncSession, added: Counter[int]) -> None:
    """Count the entries `added` to these feeds (one upsert that returns the new sizes),
    then trim those grown past the cap and its slack. The upsert
    is one statement with its rows as parameters (SQLAlchemy's "insertmanyvalues" sends them
    as one multi-row INSERT), so its SQL is compiled once, whatever the number of feeds, and
    not at every fan-out."""
    cap = get_settings().home_feed_cap
    grow = dialect_insert(session, HomeFeedSize.__table__)
    grown = grow.on_conflict_do_update(
        index_elements=[HomeFeedSize.account_id],
        set_={"entries": HomeFeedSize.entries + grow.excluded.entries},
    ).returning(HomeFeedSize.account_id, HomeFeedSize.entries)
    sizes = (
        await session.execute(grown, [{"account_id": a, "entries": n} for a, n in added.items()])
    ).all()
    full = [int(row[0]) for row in sizes if int(row[1]) > cap + TRIM_SLACK]
    await trim_feeds(session, full, cap)


async def trim_feeds(session: AsyncSession, account_ids: list[int], cap: int) -> None:
    """Keep only the newest `cap` entries of each of these feeds, in three statements however
    many feeds there are (a fan-out to 10,000 followers trims a few hundred at once)."""
    if not account_ids:
        return
    entry = aliased(HomeFeedEntry)
    cutoff = (
        select(entry.post_id)
        .where(entry.account_id == Account.id)
        .order_by(entry.post_id.desc())
        .offset(cap - 1)
        .limit(1)
        .scalar_subquery()
    )
    rows = await session.execute(  # in owners' order, as every fan-out locks (`_add_to_feeds`)
        select(Account.id, cutoff).where(Account.id.in_(account_ids)).order_by(Account.id)
    )
    cuts = [{"owner": owner, "cutoff": post_id} for owner, post_id in rows if post_id is not None]
    if cuts:
        feed = HomeFeedEntry.__table__
        await session.execute(
            delete(feed).where(
                feed.c.account_id == bindparam("owner"), feed.c.post_id < bindparam("cutoff")
            ),
            cuts,
        )
    await session.execute(
        update(HomeFeedSize).where(HomeFeedSize.account_id.in_(account_ids)).values(entries=cap)
    )


async def trim_feed(session: AsyncSession, account_id: int, cap: int) -> None:
    """Keep only the newest `cap` entries of one feed."""
    await trim_feeds(session, [account_id], cap)


async def merge_into_feed(session: AsyncSession, payload: FeedJob) -> None:
    """Job: after a follow, bring the followed account's recent posts into the home feed
    (those the home rule lets in). A remote follower has no home feed here."""
    owner, target = payload["account_id"], payload["target_account_id"]
    author = await session.get(Account, target)
    if author is None or author.followers_count > get_settings().fanout_follower_threshold:
        return
    if await session.scalar(select(Account.domain).where(Account.id == owner)) is not None:
        return
    recent = (
        await session.scalars(
            select(Post.id)
            .where(
                Post.account_id == target,
                home_rule(owner, Post),
                timeline_filter(owner, Post),
            )
            .order_by(Post.id.desc())
            .limit(BACKFILL)
        )
    ).all()
    if recent:
        rows = [{"account_id": owner, "post_id": p, "author_id": target} for p in recent]
        await _add_to_feeds(session, rows)


async def unmerge_from_feed(session: AsyncSession, payload: FeedJob) -> None:
    """Job: after an unfollow, block or mute, remove the account's posts from the feed."""
    await session.execute(
        delete(HomeFeedEntry).where(
            HomeFeedEntry.account_id == payload["account_id"],
            HomeFeedEntry.author_id == payload["target_account_id"],
        )
    )


async def post_edited(session: AsyncSession, payload: PostEditedJob) -> None:
    """Job: stream the edit (`status.update`) and tell everyone who boosted the post
    (`update` notification) and who quoted it (`quoted_update`)."""
    post = await session.get(Post, payload["post_id"])
    if post is None or post.deleted_at is not None:
        return
    announce_post(session, post, EventName.STATUS_UPDATE)
    boosters = await session.scalars(select(Post.account_id).where(Post.reblog_of_id == post.id))
    await notify_about_post(session, "update", boosters.all(), post, payload["edit_id"])
    await notify_quoters(session, post, payload["edit_id"])
