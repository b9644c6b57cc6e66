"""The one visibility rule: the SQL expression and its Python twin agree on every case."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from agora.db.models import Account, Block, Follow, Mention, Post, Visibility, utcnow
from agora.social.rules.visibility import may_see, plain_visible_to, visible_to

RELATIONS = (
    "author",
    "follower",
    "mentioned",
    "follower_mentioned",
    "stranger",
    "blocked",
    "blocker",
    "anonymous",
)


async def _setup(session, relation: str, visibility: int, deleted: bool, suspended: bool):
    author = Account(username="author", username_lower="author", created_at=utcnow(), fields=[])
    viewer = Account(username="viewer", username_lower="viewer", created_at=utcnow(), fields=[])
    session.add_all([author, viewer])
    await session.flush()
    post = Post(
        account_id=author.id,
        text="x",
        content_html="<p>x</p>",
        visibility=visibility,
        created_at=utcnow(),
        deleted_at=utcnow() if deleted else None,
    )
    session.add(post)
    await session.flush()
    if relation in ("follower", "follower_mentioned"):
        session.add(Follow(account_id=viewer.id, target_account_id=author.id))
    if relation in ("mentioned", "follower_mentioned"):
        session.add(Mention(post_id=post.id, account_id=viewer.id))
    if relation == "blocked":
        session.add(Block(account_id=author.id, target_account_id=viewer.id))
    if relation == "blocker":
        session.add(Block(account_id=viewer.id, target_account_id=author.id))
    if suspended:
        author.suspended_at = utcnow()
    await session.flush()
    viewer_id = (
        None if relation == "anonymous" else (author.id if relation == "author" else viewer.id)
    )
    return post, viewer_id


def _twin_says(relation: str, visibility: Visibility, deleted: bool, suspended: bool) -> bool:
    """The Python twin's verdict for one case of `_setup`."""
    return may_see(
        visibility=int(visibility),
        is_author=relation == "author",
        follows_author=relation in ("follower", "follower_mentioned"),
        mentioned=relation in ("mentioned", "follower_mentioned"),
        blocked_either_way=relation in ("blocked", "blocker"),
        deleted=deleted,
        author_suspended=suspended,
    )


async def test_sql_and_python_twins_agree(db):
    cases = itertools.product(RELATIONS, list(Visibility), (False, True), (False, True))
    checked = 0
    for relation, visibility, deleted, suspended in cases:
        async with db.session(write=True) as session:
            post, viewer_id = await _setup(session, relation, int(visibility), deleted, suspended)
            in_sql = await session.scalar(
                select(Post.id).where(Post.id == post.id, visible_to(viewer_id, Post))
            )
            expected = _twin_says(relation, visibility, deleted, suspended)
            assert (in_sql is not None) == expected, (relation, visibility, deleted, suspended)
            await session.rollback()
            checked += 1
    assert checked == len(RELATIONS) * 4 * 4


async def test_reblog_of_hidden_post_is_hidden(db):
    async with db.session(write=True) as session:
        author = Account(username="a", username_lower="a", created_at=utcnow(), fields=[])
        booster = Account(username="b", username_lower="b", created_at=utcnow(), fields=[])
        viewer = Account(username="c", username_lower="c", created_at=utcnow(), fields=[])
        session.add_all([author, booster, viewer])
        await session.flush()
        original = Post(
            account_id=author.id, text="x", content_html="x", visibility=0, created_at=utcnow()
        )
        session.add(original)
        await session.flush()
        boost = Post(
            account_id=booster.id, reblog_of_id=original.id, visibility=0, created_at=utcnow()
        )
        session.add_all([boost, Block(account_id=author.id, target_account_id=viewer.id)])
        await session.flush()
        seen = await session.scalar(
            select(Post.id).where(Post.id == boost.id, visible_to(viewer.id, Post))
        )
        assert seen is None
        plain = await session.scalar(
            select(Post.id).where(Post.id == boost.id, plain_visible_to(viewer.id, Post))
        )
        assert plain == boost.id  # the plain rule alone does not look through boosts
        await session.rollback()


async def test_get_visible_post_agrees_with_the_twin_and_builds_its_statement_once(db):
    """`writing.get_visible_post` (likes, boosts, bookmarks, replies…) answers the post or
    NotFound as the Python twin says, for every relation; its statement is built once per
    shape (signed in or not), the viewer and the post bound as parameters."""
    from agora.social.posts import writing
    from agora.social.rules.errors import NotFound

    writing._visible_post.cache_clear()
    cases = itertools.product(RELATIONS, list(Visibility), (False, True), (False, True))
    for relation, visibility, deleted, suspended in cases:
        async with db.session(write=True) as session:
            post, viewer_id = await _setup(session, relation, int(visibility), deleted, suspended)
            try:
                found = (await writing.get_visible_post(session, viewer_id, post.id)).id
            except NotFound:
                found = None
            expected = _twin_says(relation, visibility, deleted, suspended)
            assert (found == post.id) == expected, (relation, visibility, deleted, suspended)
            await session.rollback()
    built = writing._visible_post.cache_info()
    assert built.currsize == 2 and built.misses == 2  # signed in, and anonymous
