"""The home-feed membership rule: which posts enter an account's home timeline.

Mastodon's rule (`FeedManager#filter_from_home`), for a post by `author` and a `viewer`:

- one's own posts always do;
- otherwise only posts of accounts the viewer follows, and of those:
  - a boost, unless the viewer turned that account's boosts off (a boost is not a reply,
    whatever it boosts: a boost of a reply to a stranger is shown);
  - a direct post only when it mentions the viewer;
  - a reply only when it replies to the viewer, to the author themselves (a thread), or to
    someone the viewer follows. Mentioning the viewer does not bring a reply to a stranger
    into their home (it reaches their notifications instead).

What this rule does not decide: the visibility rule, blocks and mutes (`_not_silenced` at
fan-out and `timeline_filter` at every read), exclusive lists (a read-time condition of the
home statement), boosts of a post the feed already holds (fan-out's own de-duplication),
and posts that reach a home by a followed hashtag (`feeds.tag_follower_recipients`).

`in_home` is the Python form, used by fan-out on the facts it reads for each follower;
`home_rule` the SQL form, used where homes are read rather than written (the read-time merge
of high-reach accounts in `timelines.home_timeline`, `stream_audience.home_members`) and by
the backfill after a follow (`feeds.merge_into_feed`). A test checks that both agree on
every combination of the facts.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_
from sqlalchemy.orm import aliased

from agora.db.models import Follow, Mention, Post, Visibility
from agora.social.rules.visibility import PostLike, Viewer


def in_home(
    *,
    is_author: bool,
    follows_author: bool,
    shows_boosts: bool = True,
    is_boost: bool = False,
    direct: bool = False,
    mentioned: bool = False,
    is_reply: bool = False,
    replies_to_viewer: bool = False,
    self_reply: bool = False,
    follows_replied_to: bool = False,
) -> bool:
    """Python form of the rule (see the module's docstring) for one post and one viewer.
    `is_reply` means the post has a replied-to account; `shows_boosts` is the viewer's
    follow of the author letting its boosts through."""
    if is_author:
        return True
    if not follows_author or (is_boost and not shows_boosts):
        return False
    if direct and not mentioned:
        return False
    return not is_reply or replies_to_viewer or self_reply or follows_replied_to


def home_rule(viewer: Viewer, post: PostLike = Post) -> ColumnElement[bool]:
    """SQL form of the rule: `post` (the Post entity or an alias) belongs in the home
    timeline of `viewer` (an account id, a bound parameter or a column). The follow tables
    are aliases of their own, never correlated with the caller's."""
    follow, other = aliased(Follow), aliased(Follow)
    follows_author = exists().where(
        follow.account_id == viewer,
        follow.target_account_id == post.account_id,
        or_(post.reblog_of_id.is_(None), follow.show_reblogs.is_(True)),
    )
    mentioned = exists().where(Mention.post_id == post.id, Mention.account_id == viewer)
    to = post.in_reply_to_account_id
    follows_replied_to = exists().where(other.account_id == viewer, other.target_account_id == to)
    return or_(
        post.account_id == viewer,
        and_(
            follows_author,
            or_(post.visibility != int(Visibility.DIRECT), mentioned),
            or_(to.is_(None), to == viewer, to == post.account_id, follows_replied_to),
        ),
    )
