"""The demo seeder: counters match rows, ids are unique and time-sortable, threads, mentions
and hashtags match the text, and home feeds are exactly what fan-out on write would build."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import aliased

from agora.config import get_settings
from agora.db.models import (
    Account,
    Favourite,
    Follow,
    HomeFeedEntry,
    HomeFeedSize,
    Mention,
    Post,
    PostTag,
    Tag,
    Visibility,
)
from agora.demo.seed import DemoError, seed_demo
from agora.ids import id_to_ms
from agora.social.posts.text import extract_mentions, extract_tags, render_html
from agora.social.rules.visibility import timeline_filter


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Override AGORA_* settings for one test."""

    def override(**values: int) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"AGORA_{key.upper()}", str(value))
        get_settings.cache_clear()

    yield override
    get_settings.cache_clear()


async def _scalar(db: Any, query: Any) -> Any:
    async with db.session() as session:
        return await session.scalar(query)


async def _rows(db: Any, query: Any) -> list[Any]:
    async with db.session() as session:
        return list((await session.execute(query)).all())


def _count_where(model: Any, *conditions: Any) -> Any:
    return select(func.count()).select_from(model).where(*conditions).scalar_subquery()


async def test_demo_invariants(db, client) -> None:
    summary = await seed_demo(db, users=50, posts=2000, seed=7)
    assert summary.posts == 2000
    assert await _scalar(db, select(func.count()).select_from(Post)) == 2000
    await _check_account_counters(db)
    await _check_post_counters(db)
    await _check_threads_and_ids(db)
    await _check_text_index(db)
    await _check_shape(db)
    await _check_feeds(db, get_settings().home_feed_cap)
    await _check_references(db)
    await _check_home_api(db, client)
    with pytest.raises(DemoError):
        await seed_demo(db, users=50, posts=10)


async def _check_account_counters(db: Any) -> None:
    a = Account
    wrong = select(func.count()).where(
        a.username_lower.like("demo%"),
        (a.followers_count != _count_where(Follow, Follow.target_account_id == a.id))
        | (a.following_count != _count_where(Follow, Follow.account_id == a.id))
        | (
            a.statuses_count
            != _count_where(Post, Post.account_id == a.id, Post.reblog_of_id.is_(None))
        ),
    )
    assert await _scalar(db, wrong) == 0
    last = dict(
        await _rows(
            db,
            select(Post.account_id, func.max(Post.id))
            .where(Post.reblog_of_id.is_(None))
            .group_by(Post.account_id),
        )
    )
    for account_id, last_status_at in await _rows(db, select(a.id, a.last_status_at)):
        if account_id in last:
            assert abs(last_status_at.timestamp() * 1000 - id_to_ms(last[account_id])) <= 1
        else:
            assert last_status_at is None


async def _check_post_counters(db: Any) -> None:
    reply, boost = aliased(Post), aliased(Post)
    public = reply.visibility <= int(Visibility.UNLISTED)
    wrong = select(func.count()).where(
        (Post.replies_count != _count_where(reply, reply.in_reply_to_id == Post.id, public))
        | (Post.reblogs_count != _count_where(boost, boost.reblog_of_id == Post.id))
        | (Post.favourites_count != _count_where(Favourite, Favourite.post_id == Post.id))
    )
    assert await _scalar(db, wrong) == 0


async def _check_threads_and_ids(db: Any) -> None:
    parent = aliased(Post)
    rows = await _rows(
        db,
        select(Post, parent).outerjoin(parent, parent.id == Post.in_reply_to_id).order_by(Post.id),
    )
    for post, up in rows:
        assert abs(post.created_at.timestamp() * 1000 - id_to_ms(post.id)) <= 1
        if post.in_reply_to_id is None:
            assert post.thread_root_id is None and post.in_reply_to_account_id is None
            continue
        assert up is not None and up.reblog_of_id is None
        assert post.in_reply_to_account_id == up.account_id
        assert post.thread_root_id == (up.thread_root_id or up.id)
        assert post.visibility >= up.visibility
    boosts = [p for p, _ in rows if p.reblog_of_id is not None]
    assert all(p.text == "" and p.content_html == "" for p in boosts)
    assert len({(p.account_id, p.reblog_of_id) for p in boosts}) == len(boosts)


async def _check_text_index(db: Any) -> None:
    names = dict(await _rows(db, select(Account.id, Account.username_lower)))
    mentions: dict[int, set[str]] = defaultdict(set)
    for post_id, account_id in await _rows(db, select(Mention.post_id, Mention.account_id)):
        mentions[post_id].add(names[account_id])
    tags: dict[int, set[str]] = defaultdict(set)
    for post_id, name in await _rows(
        db, select(PostTag.post_id, Tag.name).join(Tag, Tag.id == PostTag.tag_id)
    ):
        tags[post_id].add(name)
    async with db.session() as session:
        posts = (await session.scalars(select(Post).where(Post.reblog_of_id.is_(None)))).all()
        from agora.social.people.lookup import resolve_mentions

        base = get_settings().base_url
        for post in posts[:300]:
            targets = await resolve_mentions(session, extract_mentions(post.text))
            assert post.content_html == render_html(post.text, targets, base)
    for post in posts:
        assert mentions[post.id] == set(extract_mentions(post.text)), post.text
        assert tags[post.id] == set(extract_tags(post.text)), post.text


async def _check_shape(db: Any) -> None:
    counts = sorted(
        c for (c,) in await _rows(db, select(Account.followers_count).where(Account.bot.is_(False)))
    )
    assert counts[-1] >= 5 * max(1, counts[len(counts) // 2])  # a heavy tail
    by_visibility = dict(
        await _rows(db, select(Post.visibility, func.count()).group_by(Post.visibility))
    )
    assert set(by_visibility) == {int(v) for v in Visibility}
    assert by_visibility[int(Visibility.PUBLIC)] > sum(by_visibility.values()) / 2
    kinds = [
        Post.in_reply_to_id.is_not(None),
        Post.reblog_of_id.is_not(None),
        Post.quote_of_id.is_not(None),
    ]
    for kind in kinds:
        assert await _scalar(db, select(func.count()).select_from(Post).where(kind)) > 10
    assert await _scalar(db, select(func.count()).select_from(Favourite)) > 1000
    span = await _rows(db, select(func.min(Post.id), func.max(Post.id)))
    days = (id_to_ms(span[0][1]) - id_to_ms(span[0][0])) / 86_400_000
    assert 25 < days <= 30


async def _check_feeds(db: Any, cap: int) -> None:
    sizes = dict(await _rows(db, select(HomeFeedSize.account_id, HomeFeedSize.entries)))
    counts = dict(
        await _rows(
            db,
            select(HomeFeedEntry.account_id, func.count()).group_by(HomeFeedEntry.account_id),
        )
    )
    assert counts and sizes == counts
    assert max(counts.values()) <= cap
    wrong_author = (
        select(func.count())
        .select_from(HomeFeedEntry)
        .join(Post, Post.id == HomeFeedEntry.post_id)
        .where(HomeFeedEntry.author_id != Post.account_id)
    )
    assert await _scalar(db, wrong_author) == 0
    for owner in list(counts)[:10]:
        hidden = (
            select(func.count())
            .select_from(HomeFeedEntry)
            .join(Post, Post.id == HomeFeedEntry.post_id)
            .where(HomeFeedEntry.account_id == owner, ~timeline_filter(owner, Post))
        )
        assert await _scalar(db, hidden) == 0


async def _check_references(db: Any) -> None:
    """Foreign keys hold (the seeder loads with per-row checks off)."""
    if db.is_sqlite:
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA foreign_key_check"))).all() == []
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    original = aliased(Post)
    dangling = [
        select(func.count())
        .select_from(Post)
        .outerjoin(original, original.id == Post.reblog_of_id)
        .where(Post.reblog_of_id.is_not(None), original.id.is_(None)),
        select(func.count())
        .select_from(HomeFeedEntry)
        .outerjoin(Post, Post.id == HomeFeedEntry.post_id)
        .where(Post.id.is_(None)),
        select(func.count())
        .select_from(Favourite)
        .outerjoin(Account, Account.id == Favourite.account_id)
        .where(Account.id.is_(None)),
    ]
    for query in dangling:
        assert await _scalar(db, query) == 0


async def _check_home_api(db: Any, client: Any) -> None:
    from agora.auth import oauth

    async with db.session(write=True) as session:
        app_row = await oauth.register_app(
            session, name="demo-test", redirect_uris=oauth.OOB, scopes="read", website=None
        )
        demo0 = await session.scalar(select(Account.id).where(Account.username_lower == "demo0"))
        issued = await oauth.issue_token(session, app_row, demo0, ["read"])
    r = await client.get(
        "/api/v1/timelines/home?limit=40", headers={"Authorization": f"Bearer {issued.token}"}
    )
    assert r.status_code == 200, r.text
    assert len(r.json()) > 0
    r = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": "demo3@example.org",
            "password": "password",
            "client_id": app_row.client_id,
            "client_secret": app_row.client_secret,
            "scope": "read",
        },
    )
    assert r.status_code == 200, r.text


async def _feeds(db: Any) -> dict[int, list[int]]:
    feeds: dict[int, list[int]] = defaultdict(list)
    rows = await _rows(
        db, select(HomeFeedEntry.account_id, HomeFeedEntry.post_id).order_by(HomeFeedEntry.post_id)
    )
    for owner, post_id in rows:
        feeds[owner].append(post_id)
    return feeds


async def test_demo_feeds_match_fan_out(db, settings_env) -> None:
    """Seeded feeds are the newest `cap` entries of what replaying distribute_post on every
    post, oldest first, builds, including high-reach accounts (not fanned out) and boosts."""
    from agora.social.reading.fan_out import distribute_post

    cap, threshold = 25, 8
    settings_env(home_feed_cap=cap, fanout_follower_threshold=threshold)
    await seed_demo(db, users=30, posts=700, seed=3)
    big = await _scalar(
        db, select(func.count()).select_from(Account).where(Account.followers_count > threshold)
    )
    assert big >= 1
    seeded = await _feeds(db)
    settings_env(home_feed_cap=100_000)
    async with db.transaction() as session:
        await session.execute(HomeFeedEntry.__table__.delete())
        await session.execute(HomeFeedSize.__table__.delete())
        for post_id in (await session.scalars(select(Post.id).order_by(Post.id))).all():
            await distribute_post(session, {"post_id": post_id})
    replayed = await _feeds(db)
    assert set(seeded) == set(replayed)
    for owner, feed in replayed.items():
        assert seeded[owner] == feed[-cap:], owner
    assert any(len(f) > cap for f in replayed.values())
