"""Tables of what people read: home feeds, notifications, markers, lists, push subscriptions,
filters, direct-message conversations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from agora.db.models.base import ID, Base, UTCDateTime, _fk, _id_col


class HomeFeedEntry(Base):
    """A precomputed home-timeline entry (fan-out on write)."""

    __tablename__ = "home_feed"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    post_id: Mapped[int] = _fk("posts.id", primary_key=True, index=True)
    author_id: Mapped[int] = mapped_column(ID, index=True)  # for removal on unfollow / block


class ViewStamp(Base):
    """How many times what an account sees (its home feed, relationships, marks, filters,
    lists) has changed: grown by triggers only (migration 0042), never reset; account 0 is
    the server's own settings. A cached page is checked against it (api/page_cache.py)."""

    __tablename__ = "view_stamps"
    account_id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=False)
    stamp: Mapped[int] = mapped_column(BigInteger, nullable=False)


class ConversationEntry(Base):
    """A direct-message conversation as one of its local participants sees it (Mastodon's
    `account_conversations`): the thread of direct posts rooted at `root_id`, its newest post
    the participant is part of, and whether it was read. One row per participant and thread;
    removing it hides the conversation until its next post."""

    __tablename__ = "account_conversations"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id")
    root_id: Mapped[int] = mapped_column(ID)
    last_post_id: Mapped[int] = _fk("posts.id", index=True)
    unread: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (
        UniqueConstraint("account_id", "root_id"),
        Index("ix_account_conversations_account_id_last_post_id", "account_id", "last_post_id"),
    )


class ConversationMute(Base):
    """A thread someone muted (Mastodon's conversation mute): no notification about a post in
    it reaches them (`thread_id`: the thread's root post, `thread_root_id` or the root's id)."""

    __tablename__ = "conversation_mutes"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    thread_id: Mapped[int] = mapped_column(ID, primary_key=True)


class HomeFeedSize(Base):
    """Approximate entry count per feed; lets fan-out trim feeds in bulk past the cap."""

    __tablename__ = "home_feed_sizes"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    entries: Mapped[int] = mapped_column(Integer, default=0)


class Notification(Base):
    __tablename__ = "notifications"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id")
    from_account_id: Mapped[int] = _fk("accounts.id")
    type: Mapped[str] = mapped_column(String(30))
    post_id: Mapped[int | None] = _fk("posts.id", nullable=True)
    activity_id: Mapped[int] = mapped_column(ID)  # the row that caused it: dedupe key
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Mastodon's group key (`favourite-<post>-<hour bucket>`, `follow-<hour bucket>`) for the
    # groupable types, set once at creation; None for the others and for filtered ones
    group_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # kept out of the normal lists by the recipient's notification policy (a request holds it)
    filtered: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    __table_args__ = (
        UniqueConstraint("account_id", "type", "activity_id"),
        Index("ix_notifications_account_id_id", "account_id", "id"),
        Index("ix_notifications_account_id_group_key", "account_id", "group_key"),
        # Deleting posts (an account's deletion, 500 at a time) cascades here: without it,
        # each deleted post scanned every notification.
        Index("ix_notifications_post_id", "post_id"),
    )


class NotificationPolicy(Base):
    """A person's notification policy (Mastodon 4.3): for each kind of sender, `accept`,
    `filter` (kept aside as a request) or `drop` (never created). No row: the defaults."""

    __tablename__ = "notification_policies"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    for_not_following: Mapped[str] = mapped_column(String(10))
    for_not_followers: Mapped[str] = mapped_column(String(10))
    for_new_accounts: Mapped[str] = mapped_column(String(10))
    for_private_mentions: Mapped[str] = mapped_column(String(10))
    for_limited_accounts: Mapped[str] = mapped_column(String(10))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationRequest(Base):
    """A sender whose notifications to `account_id` were filtered: one row per pair, until
    accepted or dismissed. Its count and last post are read from the filtered notifications."""

    __tablename__ = "notification_requests"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id")
    from_account_id: Mapped[int] = _fk("accounts.id", index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (UniqueConstraint("account_id", "from_account_id"),)


class NotificationPermission(Base):
    """`account_id` accepted `from_account_id`'s notifications: the policy no longer filters
    them."""

    __tablename__ = "notification_permissions"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    from_account_id: Mapped[int] = _fk("accounts.id", primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Marker(Base):
    __tablename__ = "markers"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    timeline: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_read_id: Mapped[str] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserList(Base):
    """A list of followed accounts kept by its owner (Mastodon's List)."""

    __tablename__ = "lists"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id", index=True)
    title: Mapped[str] = mapped_column(String(200))
    replies_policy: Mapped[str] = mapped_column(String(10), default="list")
    exclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ListMember(Base):
    """An account on a list. It hangs on the owner's follow (ON DELETE CASCADE), so an
    unfollow or a block takes the account off the owner's lists, as on Mastodon."""

    __tablename__ = "list_accounts"
    list_id: Mapped[int] = _fk("lists.id", primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True, index=True)
    follow_id: Mapped[int] = _fk("follows.id", index=True)


class PushSubscription(Base):
    """Where Web Push sends an access token's (or a web session's) notifications: the push
    service's endpoint and the browser's keys (RFC 8291), which alerts, and from whom
    (`policy`). At most one per token and one per web session, as on Mastodon; revoking the
    token or ending the session removes it."""

    __tablename__ = "push_subscriptions"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id", index=True)
    token_id: Mapped[int | None] = _fk("oauth_tokens.id", nullable=True, unique=True)
    web_session_id: Mapped[int | None] = _fk("web_sessions.id", nullable=True, unique=True)
    endpoint: Mapped[str] = mapped_column(Text)
    key_p256dh: Mapped[str] = mapped_column(String(200))
    key_auth: Mapped[str] = mapped_column(String(100))
    standard: Mapped[bool] = mapped_column(Boolean, default=False)
    alerts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    policy: Mapped[str] = mapped_column(String(10), default="all")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Filter(Base):
    """A person's filter (Mastodon's v2 Filter): where it applies (`contexts`, a subset of
    home / notifications / public / thread / account), what it does (`action`: warn, hide,
    blur) and until when (`expires_at`, None: for ever). Its keywords and posts are rows of
    their own."""

    __tablename__ = "filters"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id", index=True)
    title: Mapped[str] = mapped_column(String(200))
    contexts: Mapped[list[str]] = mapped_column(JSON, default=list)
    action: Mapped[str] = mapped_column(String(10), default="warn")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FilterKeyword(Base):
    """A word or phrase a filter matches (case-insensitive; `whole_word`: not inside a word)."""

    __tablename__ = "filter_keywords"
    id: Mapped[int] = _id_col()
    filter_id: Mapped[int] = _fk("filters.id", index=True)
    keyword: Mapped[str] = mapped_column(String(200))
    whole_word: Mapped[bool] = mapped_column(Boolean, default=True)


class FilterStatus(Base):
    """A post a filter matches (and the boosts of it)."""

    __tablename__ = "filter_statuses"
    id: Mapped[int] = _id_col()
    filter_id: Mapped[int] = _fk("filters.id", index=True)
    post_id: Mapped[int] = _fk("posts.id")
    __table_args__ = (UniqueConstraint("filter_id", "post_id"),)


class ForYouSettings(Base):
    """A person's For You settings: their own weights (only those they changed; the rest are
    the instance's defaults) and whether the feed is on (social/reading/for_you_settings.py)."""

    __tablename__ = "for_you_settings"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    weights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ForYouSet(Base):
    """When a person's For You candidates were last precomputed by the `refresh_for_you` job
    (social/reading/for_you_precompute.py); its rows are `for_you_candidates`. No row: the
    feed is computed whole at request time."""

    __tablename__ = "for_you_sets"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    candidates: Mapped[int] = mapped_column(Integer, default=0)


class ForYouCandidate(Base):
    """One precomputed candidate of a person's For You feed and its slow features (as of the
    set's `computed_at`). Never a decision about visibility: the request applies the rule to
    every row again."""

    __tablename__ = "for_you_candidates"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    post_id: Mapped[int] = _fk("posts.id", primary_key=True, index=True)
    network_likes: Mapped[int] = mapped_column(Integer, default=0)
    similar_likes: Mapped[int] = mapped_column(Integer, default=0)
    author_follows: Mapped[int] = mapped_column(Integer, default=0)
    quotes: Mapped[int] = mapped_column(Integer, default=0)
    trending_tag: Mapped[str | None] = mapped_column(String(100))


class ForYouFeedback(Base):
    """ "Show more / show less like this" on a post of the For You feed: one per person and
    post (the last word counts), with the post's author so the ranking reads it per author."""

    __tablename__ = "for_you_feedback"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id")
    post_id: Mapped[int] = _fk("posts.id", index=True)
    author_id: Mapped[int] = _fk("accounts.id", index=True)
    direction: Mapped[int] = mapped_column(Integer)  # +1 show more, -1 show less
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (UniqueConstraint("account_id", "post_id"),)
