"""Who receives a live event: the rules of the timelines and the visibility rule, applied to
the listeners of one server process at once.

A process knows who listens to it (`Candidates`); for each event it asks, in a few queries
whatever the number of listeners, which of them may receive it:

- `user` streams get what enters the home timeline: the post is in the listener's home feed
  (fan-out put it there, with blocks, mutes and the home rule of `home_rule.py`), or it is
  by a followed high-reach account merged at read time as the home rule says; its author is
  not on one of their exclusive lists, and it passes `timeline_filter` for that listener
  (visible to them, author not muted) at delivery time.
- `public` / `public:local` get the posts of the public timeline (`public_rule`: public, not
  boosts nor replies to others; their `:media` variants only those with attachments), and
  hashtag streams public posts with the tag (as the public and hashtag timelines), each
  passing `listed_to` for the listener (visible, not muted, author not silenced for them;
  anonymous listeners: for nobody in particular).
- `delete` goes to those who could see the post before it was deleted (`may_see`, the Python
  twin of the rule) and had it in their timelines: its author, their followers and the
  mentioned accounts; a deleted boost to the booster and their followers; public posts to the
  public and hashtag streams.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from agora.config import get_settings
from agora.db.models import (
    ID,
    Account,
    Block,
    Follow,
    HomeFeedEntry,
    Mention,
    Post,
    PostTag,
    Tag,
    Visibility,
)
from agora.db.one_of import one_of
from agora.social.media.uploads import has_media
from agora.social.reading.home_rule import home_rule
from agora.social.reading.lists import hidden_by_exclusive_lists, lists_receiving
from agora.social.reading.public_rule import post_on_public_timeline
from agora.social.rules.visibility import listed_to, may_see, timeline_filter


@dataclass(slots=True)
class Candidates:
    """Who listens in this process, as far as one event is concerned."""

    home: set[int] = field(default_factory=set)  # accounts with a `user` stream open
    public: set[int | None] = field(default_factory=set)  # viewers of public/hashtag streams
    tags: set[str] = field(default_factory=set)  # hashtags streamed here
    lists: set[int] = field(default_factory=set)  # list ids streamed here
    media: bool = False  # someone here streams `public:media` or `public:local:media`

    def __bool__(self) -> bool:
        return bool(self.home or self.public or self.lists)


@dataclass(slots=True)
class PostAudience:
    """Where a new or edited post goes among the candidates."""

    home: set[int]  # accounts whose `user` stream gets it
    listed: set[int | None]  # viewers who may get it on public and hashtag streams
    public: bool  # it belongs on `public` and `public:local`
    media: bool  # and on `public:media` and `public:local:media`
    tags: set[str]  # the streamed hashtags it belongs on
    lists: set[int]  # the streamed lists that get it
    local: bool  # its author is one of this server's people (public:local, not :remote)


@dataclass(slots=True)
class DeletionAudience:
    """Who is told that a post (and the boosts that went with it) is gone."""

    home: dict[int, list[int]]  # account -> deleted ids to announce on its `user` stream
    public: bool  # announce on the public streams (`streams.public_streams`)
    tags: set[str]  # and on these hashtag streams
    local: bool  # the author is one of this server's people


async def home_members(session: AsyncSession, post: Post, viewers: set[int]) -> set[int]:
    """Those of `viewers` whose home timeline holds `post` (before the visibility rule), as
    timelines.home_timeline reads it: in their precomputed feed, or by a followed high-reach
    account (merged at read time) when the home rule (`home_rule.home_rule`) lets it in,
    unless its author is on one of their exclusive lists.
    Set-based: two or three indexed queries whatever the number of viewers."""
    if not viewers:
        return set()
    feed = {"post_id": post.id, "viewers": list(viewers)}
    members = set((await session.scalars(_in_feed_statement(), feed)).all())
    if await _merged_at_read_time(session, post):
        members |= await _passing(session, post.id, viewers - members, home_rule)
    if members:
        hidden = {"author_id": post.account_id, "viewers": list(members)}
        members -= set((await session.scalars(_hidden_statement(), hidden)).all())
    return members


# Each event runs these statements in every server process: they are built once, with the
# post and the viewers as parameters (`one_of`: one prepared statement whatever the number of
# listeners), as the timelines' statements are.
POST_ID = bindparam("post_id", type_=ID)


@cache
def _in_feed_statement() -> Select[Any]:
    """Which of `viewers` have the post `post_id` in their home feed."""
    return select(HomeFeedEntry.account_id).where(
        HomeFeedEntry.post_id == POST_ID, one_of(HomeFeedEntry.account_id, "viewers")
    )


@cache
def _hidden_statement() -> Select[Any]:
    """Which of `viewers` have the author `author_id` on one of their exclusive lists."""
    viewer = aliased(Account)
    author = bindparam("author_id", type_=ID)
    return select(viewer.id).where(
        one_of(viewer.id, "viewers"), hidden_by_exclusive_lists(viewer.id, author)
    )


async def _merged_at_read_time(session: AsyncSession, post: Post) -> bool:
    """A post of a high-reach account, which is not fanned out but merged into followers'
    home timelines when they read them (as far as the home rule lets it in)."""
    author = await session.get(Account, post.account_id)
    return author is not None and author.followers_count > get_settings().fanout_follower_threshold


async def post_audience(
    session: AsyncSession, post_id: int, candidates: Candidates
) -> PostAudience | None:
    """Which candidates get a new or edited post (None when it is gone). Each rule runs only
    for the listeners it concerns: `timeline_filter` for home and list streams, `listed_to`
    for public and hashtag streams."""
    post = await session.get(Post, post_id)
    if post is None or post.deleted_at is not None:
        return None
    public_shape = post.visibility == Visibility.PUBLIC and post.reblog_of_id is None
    on_public = post_on_public_timeline(post)
    tags = await _streamed_tags(session, post.id, candidates.tags) if public_shape else set()
    lists = await _streamed_lists(session, post, candidates.lists)
    wanted = candidates.public if (on_public or tags) else set()
    home = await home_members(session, post, candidates.home)
    shown = await _passing(session, post.id, home | set(lists.values()), timeline_filter)
    listed: set[int | None] = set()
    listed |= await _passing(session, post.id, {v for v in wanted if v is not None}, listed_to)
    if None in wanted and await _shown_to_anyone(session, post.id):
        listed.add(None)
    return PostAudience(
        home=home & shown,
        listed=listed,
        public=on_public,
        media=on_public and candidates.media and await _has_media(session, post.id),
        tags=tags,
        lists={list_id for list_id, owner in lists.items() if owner in shown},
        local=await session.scalar(select(Account.domain).where(Account.id == post.account_id))
        is None,
    )


async def _passing(
    session: AsyncSession, post_id: int, viewers: set[int], rule: Callable[..., Any]
) -> set[int]:
    """Those of `viewers` for whom `rule(viewer, post)` (a rule of visibility.py) holds, in
    one query: the rule's SQL runs per viewer row."""
    if not viewers:
        return set()
    params = {"post_id": post_id, "viewers": list(viewers)}
    return set((await session.scalars(_passing_statement(rule), params)).all())


@cache
def _passing_statement(rule: Callable[..., Any]) -> Select[Any]:
    viewer = aliased(Account)
    return (
        select(viewer.id)
        .select_from(viewer)
        .join(Post, Post.id == POST_ID)
        .where(one_of(viewer.id, "viewers"), rule(viewer.id, Post))
    )


async def _streamed_lists(session: AsyncSession, post: Post, streamed: set[int]) -> dict[int, int]:
    """List id -> owner, for the streamed lists whose timeline shows the post (before the
    visibility rule, which the owner must still pass)."""
    if not streamed:
        return {}
    return {lid: owner for lid, owner in await lists_receiving(session, post) if lid in streamed}


async def _has_media(session: AsyncSession, post_id: int) -> bool:
    return await session.scalar(_media_statement(), {"post_id": post_id}) is not None


@cache
def _media_statement() -> Select[Any]:
    return select(Post.id).where(Post.id == POST_ID, has_media(Post))


async def _shown_to_anyone(session: AsyncSession, post_id: int) -> bool:
    return await session.scalar(_anyone_statement(), {"post_id": post_id}) is not None


@cache
def _anyone_statement() -> Select[Any]:
    return select(Post.id).where(Post.id == POST_ID, listed_to(None, Post))


async def _streamed_tags(session: AsyncSession, post_id: int, streamed: set[str]) -> set[str]:
    if not streamed:
        return set()
    query = select(Tag.name).join(PostTag, PostTag.tag_id == Tag.id)
    names = await session.scalars(query.where(PostTag.post_id == post_id))
    return {n.lower() for n in names} & streamed


async def deletion_audience(
    session: AsyncSession, event: Mapping[str, Any], candidates: Candidates
) -> DeletionAudience:
    """Who is told of a deletion (`event` from streams.announce_deletion)."""
    post_id, author = int(event["post_id"]), int(event["account_id"])
    visibility = int(event.get("visibility", Visibility.DIRECT))
    reblogs = [(int(rid), int(booster)) for rid, booster in event.get("reblogs") or []]
    facts = await _relations(session, post_id, author, {b for _, b in reblogs}, candidates.home)
    follows: dict[int, set[int]] = {}
    for kind, viewer, target in facts:
        if kind == "follow":
            follows.setdefault(viewer, set()).add(target)
    home: dict[int, list[int]] = {}
    for viewer in candidates.home:
        followed = follows.get(viewer, set())
        ids = [rid for rid, booster in reblogs if viewer == booster or booster in followed]
        if _saw(viewer, author, visibility, author in followed, facts):
            ids.insert(0, post_id)
        if ids:
            home[viewer] = ids
    public = visibility == Visibility.PUBLIC and not event.get("boost")
    tags = await _streamed_tags(session, post_id, candidates.tags) if public else set()
    local = await session.scalar(select(Account.domain).where(Account.id == author)) is None
    return DeletionAudience(home=home, public=public, tags=tags, local=local)


def _saw(viewer: int, author: int, visibility: int, follows_author: bool, facts: set[Any]) -> bool:
    """The viewer had the post in a timeline and could see it before it was deleted."""
    mentioned = ("mention", viewer, 0) in facts
    if not (viewer == author or follows_author or mentioned):
        return False
    return may_see(
        visibility=visibility,
        is_author=viewer == author,
        follows_author=follows_author,
        mentioned=mentioned,
        blocked_either_way=("block", viewer, 0) in facts,
    )


async def _relations(
    session: AsyncSession, post_id: int, author: int, boosters: set[int], viewers: set[int]
) -> set[tuple[str, int, int]]:
    """("follow", viewer, followed) for the author and boosters, ("mention", viewer, 0) and
    ("block", viewer, 0) (a block either way with the author), in one query."""
    if not viewers:
        return set()
    zero = literal(0)
    parts = [
        select(literal("follow"), Follow.account_id, Follow.target_account_id).where(
            Follow.account_id.in_(viewers), Follow.target_account_id.in_({author, *boosters})
        ),
        select(literal("mention"), Mention.account_id, zero).where(
            Mention.post_id == post_id, Mention.account_id.in_(viewers)
        ),
        select(literal("block"), Block.account_id, zero).where(
            Block.account_id.in_(viewers), Block.target_account_id == author
        ),
        select(literal("block"), Block.target_account_id, zero).where(
            Block.account_id == author, Block.target_account_id.in_(viewers)
        ),
    ]
    rows = await session.execute(union_all(*parts))
    return {(kind, int(v), int(t)) for kind, v, t in rows}
