"""Tables of posts: posts and their edits, mentions, hashtags, idempotency keys, marks (favourites,
bookmarks, pins), media, polls, followed tags, tag history, scheduled posts and link preview
cards."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.orm import Mapped, mapped_column

from agora.db.models.base import ID, Base, UTCDateTime, _fk, _id_col


class Visibility(IntEnum):
    """Who a post is for (`Post.visibility`); who may see it is social/rules/visibility.py."""

    PUBLIC = 0
    UNLISTED = 1
    PRIVATE = 2
    DIRECT = 3

    @property
    def api_name(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> Visibility:
        return cls[name.upper()]


class QuotePolicy(IntEnum):
    """Who may quote a post without asking (`Post.quote_policy`, Mastodon 4.5's
    `quote_approval_policy`); the rule itself is social/posts/quote_rule.py."""

    PUBLIC = 0
    FOLLOWERS = 1
    NOBODY = 2

    @property
    def api_name(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> QuotePolicy:
        return cls[name.upper()]


class QuoteState(IntEnum):
    """The state of a post's own quote (`Post.quote_state`): accepted when written (the quote
    rule let it), revoked when the quoted post's author removed it."""

    ACCEPTED = 0
    REVOKED = 1


class Post(Base):
    """A status. A reblog is a post with `reblog_of_id` set and no text."""

    __tablename__ = "posts"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id", index=True)
    in_reply_to_id: Mapped[int | None] = mapped_column(ID, index=True)
    in_reply_to_account_id: Mapped[int | None] = mapped_column(ID)
    thread_root_id: Mapped[int | None] = mapped_column(ID, index=True)
    reblog_of_id: Mapped[int | None] = mapped_column(ID)  # indexed for boosts only, below
    quote_of_id: Mapped[int | None] = mapped_column(ID)
    # Who may quote this post (QuotePolicy), and the state of the quote this post makes
    # (QuoteState; meaningful only with `quote_of_id`). Both rendered: in the triggers.
    quote_policy: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    quote_state: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    text: Mapped[str] = mapped_column(Text, default="")
    content_html: Mapped[str] = mapped_column(Text, default="")
    spoiler_text: Mapped[str] = mapped_column(Text, default="")
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    visibility: Mapped[int] = mapped_column(SmallInteger, default=0)
    language: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replies_count: Mapped[int] = mapped_column(Integer, default=0)
    reblogs_count: Mapped[int] = mapped_column(Integer, default=0)
    favourites_count: Mapped[int] = mapped_column(Integer, default=0)
    application_id: Mapped[int | None] = mapped_column(ID)
    # Per-post override. Both server defaults (false, from migration 0002) filled the rows
    # that existed before it.
    no_ai_reuse: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    ai_generated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A remote post's ActivityPub id and page (agora.federation); None for a local post.
    uri: Mapped[str | None] = mapped_column(String(2048))
    url: Mapped[str | None] = mapped_column(Text)
    # The custom emoji its text, spoiler text and poll options use, as taken when they were
    # written (social/media/custom_emojis.py `used_in`); None: none.
    emojis: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # The preview card of the post's first link (social/posts/preview_cards.py); rendered, so
    # in the render-version trigger (migration 0041). Cards are never deleted.
    preview_card_id: Mapped[int | None] = mapped_column(ID)
    # Bumped by database triggers (migration 0015) whenever anything its rendered Status
    # shows changes: every column but the counters, its media, mentions and hashtags
    # (api/status_cache.py keys rendered statuses by it).
    render_version: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    # Grows on every update of the row, counters included, and of its poll (triggers,
    # migration 0042): what a cached page showing the post is checked against
    # (api/page_cache.py).
    change_stamp: Mapped[int] = mapped_column(BigInteger, default=0, server_default=sql_text("0"))

    __table_args__ = (
        Index("uq_posts_uri", "uri", unique=True),
        Index("ix_posts_account_id_id", "account_id", "id"),
        Index(
            "uq_posts_reblog",
            "account_id",
            "reblog_of_id",
            unique=True,
            sqlite_where=sql_text("reblog_of_id IS NOT NULL"),
            postgresql_where=sql_text("reblog_of_id IS NOT NULL"),
        ),
        Index("ix_posts_local_public", "visibility", "id"),
        # The posts using custom emoji (re-taken when one changes: custom_emojis.py).
        Index(
            "ix_posts_with_emojis",
            "id",
            sqlite_where=sql_text("emojis IS NOT NULL"),
            postgresql_where=sql_text("emojis IS NOT NULL"),
        ),
        # The quotes of a post (GET /api/v1/statuses/:id/quotes, revocation).
        Index(
            "ix_posts_quotes",
            "quote_of_id",
            "id",
            sqlite_where=sql_text("quote_of_id IS NOT NULL"),
            postgresql_where=sql_text("quote_of_id IS NOT NULL"),
        ),
        # The posts showing a card (a refetched card's posts get new render versions).
        Index(
            "ix_posts_preview_card",
            "preview_card_id",
            sqlite_where=sql_text("preview_card_id IS NOT NULL"),
            postgresql_where=sql_text("preview_card_id IS NOT NULL"),
        ),
        # The boosts of a post. Partial: SQLite's planner takes `reblog_of_id IS NULL` (nearly
        # every post) for a selective lookup and walked a full index for "not a boost"
        # instead of the account's or the thread's index (tests/test_query_plans.py).
        Index(
            "ix_posts_boosts",
            "reblog_of_id",
            sqlite_where=sql_text("reblog_of_id IS NOT NULL"),
            postgresql_where=sql_text("reblog_of_id IS NOT NULL"),
        ),
    )


class PreviewCard(Base):
    """A link's preview card (Mastodon's PreviewCard), one per URL, fetched by the
    `fetch_preview_card` job (social/posts/preview_cards.py) and refetched at most once a day.
    `image` is the page's image URL on its own server; `image_file` the small copy this server
    keeps and serves (social/media/card_images.py), when it could be fetched."""

    __tablename__ = "preview_cards"
    id: Mapped[int] = _id_col()
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(10), default="link")  # link, photo, video
    author_name: Mapped[str] = mapped_column(Text, default="")
    author_url: Mapped[str] = mapped_column(Text, default="")
    provider_name: Mapped[str] = mapped_column(Text, default="")
    provider_url: Mapped[str] = mapped_column(Text, default="")
    image: Mapped[str | None] = mapped_column(Text)  # on the page's server
    # the image as stored here (social/media/card_images.py), its blurhash
    image_file: Mapped[str | None] = mapped_column(String(64))
    blurhash: Mapped[str | None] = mapped_column(String(100))
    image_description: Mapped[str] = mapped_column(Text, default="")
    embed_url: Mapped[str] = mapped_column(Text, default="")
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    language: Mapped[str | None] = mapped_column(String(10))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PostEdit(Base):
    """One entry of a post's edit history (the first is the original)."""

    __tablename__ = "post_edits"
    id: Mapped[int] = _id_col()
    post_id: Mapped[int] = _fk("posts.id", index=True)
    text: Mapped[str] = mapped_column(Text)
    content_html: Mapped[str] = mapped_column(Text)
    spoiler_text: Mapped[str] = mapped_column(Text, default="")
    sensitive: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Mention(Base):
    __tablename__ = "mentions"
    post_id: Mapped[int] = _fk("posts.id", primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True, index=True)


class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = _id_col()
    name: Mapped[str] = mapped_column(String(100), unique=True)  # lower-cased


class PostTag(Base):
    __tablename__ = "post_tags"
    tag_id: Mapped[int] = _fk("tags.id", primary_key=True)
    post_id: Mapped[int] = _fk("posts.id", primary_key=True, index=True)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    post_id: Mapped[int] = _fk("posts.id")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class _AccountPostMark:
    """Shared shape of favourites, bookmarks and pins: one row per (account, post)."""

    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id")
    post_id: Mapped[int] = _fk("posts.id", index=True)


class Favourite(_AccountPostMark, Base):
    __tablename__ = "favourites"
    __table_args__ = (UniqueConstraint("account_id", "post_id"),)


class Bookmark(_AccountPostMark, Base):
    __tablename__ = "bookmarks"
    __table_args__ = (UniqueConstraint("account_id", "post_id"),)


class Pin(_AccountPostMark, Base):
    __tablename__ = "pins"
    __table_args__ = (UniqueConstraint("account_id", "post_id"),)


class FollowedTag(Base):
    """A hashtag someone follows: public posts with it reach their home feed."""

    __tablename__ = "followed_tags"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id")
    tag_id: Mapped[int] = _fk("tags.id", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (UniqueConstraint("account_id", "tag_id"),)


class TagHistory(Base):
    """Daily use of a hashtag in public and unlisted posts (the Tag entity's `history`):
    `day` counts UTC days since the epoch."""

    __tablename__ = "tag_history"
    tag_id: Mapped[int] = _fk("tags.id", primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    accounts: Mapped[int] = mapped_column(Integer, default=0)


class TagHistoryAccount(Base):
    """Who used a hashtag on a day, so `TagHistory.accounts` counts each author once. Rows
    older than the history window are pruned as new uses are recorded."""

    __tablename__ = "tag_history_accounts"
    tag_id: Mapped[int] = _fk("tags.id", primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    account_id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=False)


class ScheduledPost(Base):
    """A post to publish at `scheduled_at` (Mastodon's ScheduledStatus): `params` is the
    draft as the API received it (social/posts/scheduled_posts.py). Its media stay unattached
    but reserved (`unattached_since` NULL, so the sweep keeps them) until it is published or
    cancelled."""

    __tablename__ = "scheduled_posts"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id", index=True)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    application_id: Mapped[int | None] = mapped_column(ID)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MediaAttachment(Base):
    """An uploaded image, video, GIF (`gifv`) or audio file: unattached (only its uploader
    may see it) until a post uses it, then as visible as that post. `key` (128 random bits,
    hex) names its files and URLs; `access_secret` signs the per-viewer URLs of media that is
    not public (see media_files)."""

    __tablename__ = "media_attachments"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id")
    post_id: Mapped[int | None] = _fk("posts.id", nullable=True)
    position: Mapped[int] = mapped_column(SmallInteger, default=0)  # order within the post
    key: Mapped[str] = mapped_column(String(32), unique=True)
    access_secret: Mapped[str] = mapped_column(String(32))
    file_format: Mapped[str] = mapped_column(String(10))  # jpeg, png, webp, gif
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    file_size: Mapped[int] = mapped_column(Integer)
    preview_format: Mapped[str] = mapped_column(String(10))
    preview_width: Mapped[int] = mapped_column(Integer)
    preview_height: Mapped[int] = mapped_column(Integer)
    preview_size: Mapped[int] = mapped_column(Integer)
    blurhash: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    focus_x: Mapped[float | None] = mapped_column(Float)
    focus_y: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set while no post uses it; unattached media older than a day is swept away.
    unattached_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An image of a remote post: its URL there. `file_format` stays empty until it is fetched
    # into the media store (never, with AGORA_FEDERATION_CACHE_MEDIA=false).
    remote_url: Mapped[str | None] = mapped_column(Text)
    # image, video, gifv or audio (Mastodon's types); video, gifv and audio uploads are
    # transcoded by a job: `processing` is PENDING until their files exist (av_uploads.py).
    media_type: Mapped[str] = mapped_column(String(8), default="image", server_default="image")
    processing: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    duration: Mapped[float | None] = mapped_column(Float)  # seconds (video, gifv, audio)
    fps: Mapped[float | None] = mapped_column(Float)  # frames per second (video, gifv)
    __table_args__ = (
        Index("ix_media_attachments_post_id", "post_id", "position"),
        Index("ix_media_attachments_account_id_post_id", "account_id", "post_id"),
        Index(
            "ix_media_attachments_unattached",
            "unattached_since",
            sqlite_where=sql_text("post_id IS NULL"),
            postgresql_where=sql_text("post_id IS NULL"),
        ),
    )


class Poll(Base):
    """A poll attached to a post. Counters move only when a vote row is really inserted."""

    __tablename__ = "polls"
    id: Mapped[int] = _id_col()
    post_id: Mapped[int] = _fk("posts.id", unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    multiple: Mapped[bool] = mapped_column(Boolean, default=False)
    hide_totals: Mapped[bool] = mapped_column(Boolean, default=False)
    votes_count: Mapped[int] = mapped_column(Integer, default=0)
    voters_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # An Update(Question) with new counts is scheduled (social/posts/remote_polls.py).
    update_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The custom emoji its options use, as taken when they were written; None: none.
    emojis: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


class PollOption(Base):
    """One option of a poll; `position` is the choice index clients vote with."""

    __tablename__ = "poll_options"
    poll_id: Mapped[int] = _fk("polls.id", primary_key=True)
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(Text)
    votes_count: Mapped[int] = mapped_column(Integer, default=0)


class PollVoter(Base):
    """Who voted in a poll: one row per account, so a single-choice poll takes one vote."""

    __tablename__ = "poll_voters"
    poll_id: Mapped[int] = _fk("polls.id", primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PollVote(Base):
    """One chosen option: unique per account and option, so a choice counts once."""

    __tablename__ = "poll_votes"
    poll_id: Mapped[int] = _fk("polls.id", primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True, index=True)
    choice: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ThreadFetch(Base):
    """When a remote post's thread was last fetched from its servers (at most once per 15
    minutes: social/reading/remote_threads.py)."""

    __tablename__ = "thread_fetches"
    post_id: Mapped[int] = _fk("posts.id", primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CustomEmoji(Base):
    """A custom emoji (`:shortcode:`): a local one (`domain` None) uploaded by an admin, its
    files in the media store (`image_key`, `static_key`), or a remote one seen in another
    server's posts and profiles, shown by its `remote_url` (social/media/custom_emojis.py)."""

    __tablename__ = "custom_emojis"
    __table_args__ = (
        UniqueConstraint("shortcode", "domain", name="uq_custom_emojis_shortcode"),
        # NULLs are distinct in the constraint above: local shortcodes are unique here.
        Index(
            "uq_custom_emojis_local_shortcode",
            "shortcode",
            unique=True,
            sqlite_where=sql_text("domain IS NULL"),
            postgresql_where=sql_text("domain IS NULL"),
        ),
    )
    id: Mapped[int] = _id_col()
    shortcode: Mapped[str] = mapped_column(String(100))
    domain: Mapped[str | None] = mapped_column(String(255))
    image_key: Mapped[str | None] = mapped_column(String(200))
    static_key: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(50), default="image/png")
    remote_url: Mapped[str | None] = mapped_column(Text)
    uri: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(100))
    visible_in_picker: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
