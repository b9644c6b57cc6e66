"""The public-timeline membership rule: which posts the public timelines show.

Mastodon's rule (`PublicFeed`, `Status.without_replies`, and the streaming server's
`public` channels): a post is on the public timelines when it is

- public (not unlisted, followers-only or direct),
- not a boost,
- not a reply to someone else: a top-level post, or a reply to its author's own post (a
  thread). A reply is known by its replied-to post (`in_reply_to_id`); a reply whose
  replied-to account is unknown is a reply to someone else.

What this rule does not decide: who may see the post and whose posts are listed to whom
(`visibility.listed_to`: visibility, blocks, mutes, silenced authors), and the `only_media`
filter (`uploads.has_media`).

`on_public_timeline` is the Python form, used by the streams on the post they announce
(`live/audience.post_audience`); `public_timeline_rule` the SQL form, used by the timeline
(`timelines.public_timeline`). A test checks that both agree on every combination of the
facts (tests/test_shared_rules.py).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_

from agora.db.models import Post, Visibility
from agora.social.rules.visibility import PostLike


def on_public_timeline(
    *,
    visibility: int,
    is_boost: bool,
    is_reply: bool,
    replies_to_self: bool,
) -> bool:
    """Python form of the rule (see the module's docstring). `is_reply`: the post has a
    replied-to post; `replies_to_self`: its replied-to account is its own author."""
    if visibility != Visibility.PUBLIC or is_boost:
        return False
    return not is_reply or replies_to_self


def post_on_public_timeline(post: Post) -> bool:
    """`on_public_timeline` for a loaded post."""
    return on_public_timeline(
        visibility=post.visibility,
        is_boost=post.reblog_of_id is not None,
        is_reply=post.in_reply_to_id is not None,
        replies_to_self=post.in_reply_to_account_id == post.account_id,
    )


def not_reply_to_others(post: PostLike = Post) -> ColumnElement[bool]:
    """SQL: `post` is a top-level post or a reply to its own author (also a profile's
    `exclude_replies`, as on Mastodon)."""
    return or_(post.in_reply_to_id.is_(None), post.in_reply_to_account_id == post.account_id)


def public_timeline_rule(post: PostLike = Post) -> ColumnElement[bool]:
    """SQL form of the rule for `post` (the Post entity or an alias)."""
    return and_(
        post.visibility == int(Visibility.PUBLIC),
        post.reblog_of_id.is_(None),
        not_reply_to_others(post),
    )
