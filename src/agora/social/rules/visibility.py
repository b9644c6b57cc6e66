"""The one visibility rule: who may see a post. Every read path goes through this module.

A post is visible to a viewer when it is not deleted, its author is not suspended, no block
stands between the two (either direction), and its visibility allows it:
public / unlisted -> anyone (`is_public_or_unlisted`, SQL `public_or_unlisted`: the one
spelling of "public or unlisted", also asked by quoting, boosting, reply counts, hashtag use
and media URLs); private -> the author, followers, mentioned accounts;
direct -> the author and mentioned accounts. A reblog is visible when both the reblog and the
reblogged post are. Mutes do not hide a post from a direct look-up, but they filter timelines
and notifications (`hidden_by_mutes`); so does a person's block of a whole server
(`hidden_by_domain_blocks`: the author's domain is one the viewer blocked). A server this one
suspended is not a rule here: its accounts are suspended (social/people/domain_blocks.py), so
"the author is suspended" already covers it.

A silenced ("limited") author stays visible to everyone who may see the post, but is listed
only to the people who follow them: `listed_to` keeps their posts out of public and hashtag
timelines (and any public listing) for everyone else, and notifications drop theirs to
non-followers (`suspended_or_silenced_for`: `silenced_for` and the suspension in one look-up).

`may_see` is the Python twin of `visible_to` (used by fan-out on prefetched sets); a test
checks that both agree on every combination.
"""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    SQLColumnExpression,
    and_,
    bindparam,
    exists,
    false,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import aliased
from sqlalchemy.orm.util import AliasedClass

from agora.db.models import (
    Account,
    AccountDomainBlock,
    Block,
    Follow,
    Mention,
    Mute,
    Post,
    Visibility,
)
from agora.db.models import utcnow as _utcnow

PostLike = type[Post] | AliasedClass[Post]
"""The Post entity or an alias of it: what every rule below applies to."""

Viewer = int | SQLColumnExpression[int]
"""A viewer's account id, or a bound parameter standing for one, so that a statement using
these rules can be built once and run for any viewer (see timelines.home_timeline)."""


# The aliases the rules' subqueries read, made once: an alias of a wide table proxies every
# column on first use (~1 ms of CPU for Account or Post), and the rules are built for every
# statement that is not built once (timeline_filter cost ~8 ms a call with fresh aliases).
# Each is used only inside the subqueries of one function below, so no query around them
# holds it in its FROM and nothing correlates to it by accident.
_DOMAIN_AUTHOR = aliased(Account, name="domain_author")
_REBLOGGED = aliased(Post, name="reblogged")
_REBLOGGED_MUTED = aliased(Post, name="reblogged_muted")


def is_public_or_unlisted(visibility: int) -> bool:
    """A post anyone may see (public or unlisted; Mastodon's `distributable?`). Quotes, boosts
    of others' posts, reply counts, hashtag use and plain media URLs are for these only."""
    return visibility <= Visibility.UNLISTED


def public_or_unlisted(post: PostLike = Post) -> ColumnElement[bool]:
    """SQL twin of `is_public_or_unlisted` for `post`."""
    return post.visibility <= int(Visibility.UNLISTED)


def may_see(
    *,
    visibility: int,
    is_author: bool,
    follows_author: bool,
    mentioned: bool,
    blocked_either_way: bool,
    deleted: bool = False,
    author_suspended: bool = False,
) -> bool:
    """Python twin of `visible_to` for one post and one (signed-in or anonymous) viewer."""
    if deleted or author_suspended:
        return False
    if is_author:
        return True
    if blocked_either_way:
        return False
    if is_public_or_unlisted(visibility):
        return True
    if visibility == Visibility.PRIVATE:
        return follows_author or mentioned
    return mentioned


def _blocked_either_way(
    viewer_id: Viewer, author_col: SQLColumnExpression[int]
) -> ColumnElement[bool]:
    return exists().where(
        or_(
            and_(Block.account_id == viewer_id, Block.target_account_id == author_col),
            and_(Block.account_id == author_col, Block.target_account_id == viewer_id),
        )
    )


def _author_suspended(author_col: SQLColumnExpression[int]) -> ColumnElement[bool]:
    return exists().where(Account.id == author_col, Account.suspended_at.isnot(None))


def _own_visibility(c: PostLike, viewer_id: Viewer | None) -> ColumnElement[bool]:
    alive = and_(c.deleted_at.is_(None), not_(_author_suspended(c.account_id)))
    if viewer_id is None:
        return and_(alive, public_or_unlisted(c))
    mentioned = exists().where(Mention.post_id == c.id, Mention.account_id == viewer_id)
    follows = exists().where(
        Follow.account_id == viewer_id, Follow.target_account_id == c.account_id
    )
    audience = or_(
        public_or_unlisted(c),
        and_(c.visibility == int(Visibility.PRIVATE), or_(follows, mentioned)),
        mentioned,
    )
    return and_(
        alive,
        or_(
            c.account_id == viewer_id,
            and_(audience, not_(_blocked_either_way(viewer_id, c.account_id))),
        ),
    )


def visible_to(viewer_id: Viewer | None, post: PostLike = Post) -> ColumnElement[bool]:
    """SQL condition: `post` (the Post entity or an alias of it) is visible to the viewer."""
    original = _REBLOGGED
    reblog_ok = or_(
        post.reblog_of_id.is_(None),
        exists(
            select(original.id).where(
                original.id == post.reblog_of_id, _own_visibility(original, viewer_id)
            )
        ),
    )
    return and_(_own_visibility(post, viewer_id), reblog_ok)


def plain_visible_to(viewer_id: Viewer | None, post: PostLike = Post) -> ColumnElement[bool]:
    """SQL condition for posts known not to be reblogs (replies, context, quotes)."""
    return _own_visibility(post, viewer_id)


def hidden_by_mutes(
    viewer_id: Viewer | None, author_col: SQLColumnExpression[int]
) -> ColumnElement[bool]:
    """SQL condition: the viewer has an active mute on the author."""
    if viewer_id is None:
        return false()
    # evaluated when the statement runs, not when it is built (statements may be reused)
    now = bindparam("now", callable_=_utcnow, type_=Mute.expires_at.type, unique=True)
    return exists().where(
        Mute.account_id == viewer_id,
        Mute.target_account_id == author_col,
        or_(Mute.expires_at.is_(None), Mute.expires_at > now),
    )


def hidden_by_domain_blocks(viewer_id: Viewer | None, author_col: Viewer) -> ColumnElement[bool]:
    """SQL condition: the viewer blocked the author's server (a person's domain block; a local
    author, whose domain is null, is never hidden). The blocked authors are one uncorrelated
    subquery, read once per statement (nothing for the many viewers who block no server),
    on an alias of its own, never correlated to an `accounts` of the query around it."""
    if viewer_id is None:
        return false()
    author = _DOMAIN_AUTHOR
    blocked_authors = (
        select(author.id)
        .join(AccountDomainBlock, AccountDomainBlock.domain == author.domain)
        .where(AccountDomainBlock.account_id == viewer_id)
        .correlate(None)
    )
    author_expr = literal(author_col) if isinstance(author_col, int) else author_col
    return author_expr.in_(blocked_authors)


def hidden_for(
    viewer_id: Viewer | None, author_col: SQLColumnExpression[int]
) -> ColumnElement[bool]:
    """SQL condition: the viewer filters this author out of listings (a mute, or a block of
    the author's server)."""
    return or_(
        hidden_by_mutes(viewer_id, author_col), hidden_by_domain_blocks(viewer_id, author_col)
    )


def timeline_filter(viewer_id: Viewer | None, post: PostLike = Post) -> ColumnElement[bool]:
    """Visible, and neither the post's author nor a reblogged author is muted by the viewer or
    on a server the viewer blocked."""
    if viewer_id is None:
        return visible_to(None, post)
    original = _REBLOGGED_MUTED
    reblogged_muted = exists(
        select(original.id).where(
            original.id == post.reblog_of_id,
            hidden_for(viewer_id, original.account_id),
        )
    )
    return and_(
        visible_to(viewer_id, post),
        not_(hidden_for(viewer_id, post.account_id)),
        not_(reblogged_muted),
    )


def silenced_for(
    viewer_id: Viewer | None, author_col: SQLColumnExpression[int]
) -> ColumnElement[bool]:
    """SQL condition: the author is silenced and the viewer is neither them nor a follower."""
    silenced = exists().where(Account.id == author_col, Account.silenced_at.isnot(None))
    if viewer_id is None:
        return silenced
    return _silenced_unless_followed(silenced, viewer_id, author_col)


def suspended_or_silenced_for(
    viewer_id: Viewer, author_col: SQLColumnExpression[int]
) -> ColumnElement[bool]:
    """SQL condition: the author is suspended, or `silenced_for` the viewer, both read in
    one look-up of the author's row (notifications ask it of every row they list: two
    look-ups of the same row were a sixth of a page of groups' member read on SQLite)."""
    # on the row looked up (`Account.id`), so that the follow's subquery correlates to it
    silenced = _silenced_unless_followed(Account.silenced_at.isnot(None), viewer_id, Account.id)
    return exists().where(Account.id == author_col, or_(Account.suspended_at.isnot(None), silenced))


def _silenced_unless_followed(
    silenced: ColumnElement[bool], viewer_id: Viewer, author_col: SQLColumnExpression[int]
) -> ColumnElement[bool]:
    """`silenced` (the author is silenced), and the viewer is neither them nor a follower."""
    follows = exists().where(Follow.account_id == viewer_id, Follow.target_account_id == author_col)
    return and_(silenced, author_col != viewer_id, not_(follows))


def listed_to(viewer_id: Viewer | None, post: PostLike = Post) -> ColumnElement[bool]:
    """`timeline_filter` for public listings (public and hashtag timelines, search, public
    streams): posts of silenced authors only for their followers and themselves."""
    return and_(timeline_filter(viewer_id, post), not_(silenced_for(viewer_id, post.account_id)))
