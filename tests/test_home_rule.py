"""The home-feed membership rule: its SQL form and its Python twin agree on every case, and
Mastodon's named cases come out as Mastodon has them."""

from __future__ import annotations

import itertools

from sqlalchemy import select

from agora.db.models import Account, Follow, Mention, Post, Visibility, utcnow
from agora.social.reading.home_rule import home_rule, in_home

RELATIONS = ("author", "follower", "follower_without_boosts", "stranger")
# what the post is: its own, or a reply to one of these (None: not a reply), or a boost
SHAPES = ("top", "reply_to_viewer", "self_reply", "reply_to_followed", "reply_to_stranger", "boost")


def _account(name: str) -> Account:
    return Account(username=name, username_lower=name, created_at=utcnow(), fields=[])


def _post(author: Account, **values: object) -> Post:
    return Post(
        account_id=author.id, text="x", content_html="<p>x</p>", created_at=utcnow(), **values
    )


async def _setup(session, relation: str, shape: str, visibility: int, mentioned: bool):
    """The post and the viewer's id for one case. The viewer always follows `followed`."""
    author, viewer, followed, stranger = (
        _account(n) for n in ("author", "viewer", "followed", "stranger")
    )
    session.add_all([author, viewer, followed, stranger])
    await session.flush()
    reader = author if relation == "author" else viewer
    session.add(Follow(account_id=reader.id, target_account_id=followed.id))
    if relation.startswith("follower"):
        shows = relation == "follower"
        session.add(Follow(account_id=viewer.id, target_account_id=author.id, show_reblogs=shows))
    replied_to = {
        "reply_to_viewer": reader,
        "self_reply": author,
        "reply_to_followed": followed,
        "reply_to_stranger": stranger,
    }.get(shape)
    parent = None
    if replied_to is not None or shape == "boost":
        # a boost boosts a reply to a stranger: a boost is not a reply, whatever it boosts
        parent = _post(replied_to or stranger, visibility=int(Visibility.PUBLIC))
        if shape == "boost":
            session.add(parent)
            await session.flush()
            parent = _post(
                stranger, visibility=0, in_reply_to_id=parent.id, in_reply_to_account_id=followed.id
            )
        session.add(parent)
        await session.flush()
    post = _post(author, visibility=visibility)
    if shape == "boost":
        post.reblog_of_id = parent.id
    elif parent is not None:
        post.in_reply_to_id, post.in_reply_to_account_id = parent.id, parent.account_id
    session.add(post)
    await session.flush()
    if mentioned:
        session.add(Mention(post_id=post.id, account_id=reader.id))
        await session.flush()
    return post, reader.id


async def test_sql_and_python_forms_agree(db):
    cases = itertools.product(
        RELATIONS, SHAPES, (Visibility.PUBLIC, Visibility.DIRECT), (False, True)
    )
    checked = 0
    for relation, shape, visibility, mentioned in cases:
        async with db.session(write=True) as session:
            post, viewer_id = await _setup(session, relation, shape, int(visibility), mentioned)
            in_sql = await session.scalar(
                select(Post.id).where(Post.id == post.id, home_rule(viewer_id, Post))
            )
            expected = in_home(
                is_author=relation == "author",
                follows_author=relation.startswith("follower"),
                shows_boosts=relation == "follower",
                is_boost=shape == "boost",
                direct=visibility == Visibility.DIRECT,
                mentioned=mentioned,
                is_reply=shape not in ("top", "boost"),
                replies_to_viewer=shape == "reply_to_viewer",
                self_reply=shape == "self_reply",
                follows_replied_to=shape == "reply_to_followed",
            )
            assert (in_sql is not None) == expected, (relation, shape, visibility, mentioned)
            await session.rollback()
            checked += 1
    assert checked == len(RELATIONS) * len(SHAPES) * 2 * 2


def test_mastodons_cases():
    """Mastodon's filter_from_home for a follower of the author, case by case."""
    follower = {"is_author": False, "follows_author": True}
    assert in_home(**follower, is_reply=True, replies_to_viewer=True)  # a reply to me
    assert in_home(**follower, is_reply=True, follows_replied_to=True)  # to someone I follow
    assert not in_home(**follower, is_reply=True)  # to a stranger
    assert in_home(**follower, is_reply=True, self_reply=True)  # a self-reply (a thread)
    assert in_home(**follower, mentioned=True)  # a post mentioning me
    assert not in_home(**follower, is_reply=True, mentioned=True)  # ... replying to a stranger
    assert in_home(**follower, is_boost=True)  # a boost (of anything, replies included)
    assert not in_home(**follower, is_boost=True, shows_boosts=False)  # boosts turned off
    assert in_home(**follower, direct=True, mentioned=True)  # a DM to me
    assert not in_home(**follower, direct=True)  # a DM to others
    assert not in_home(is_author=False, follows_author=False)  # nobody I follow
    assert in_home(is_author=True, follows_author=False, is_reply=True)  # my own reply
