"""The database schema. Ids are Snowflake-like 64-bit integers (see agora.ids)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from agora.ids import new_id

ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite INTEGER is 64-bit


def _id_col(**kw: Any) -> Mapped[int]:
    return mapped_column(ID, primary_key=True, default=new_id, autoincrement=False, **kw)


def _fk(target: str, ondelete: str = "CASCADE", **kw: Any) -> Mapped[Any]:
    return mapped_column(ID, ForeignKey(target, ondelete=ondelete), **kw)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    if TYPE_CHECKING:
        __table__: ClassVar[Table]  # every model here is mapped to a table of its own


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = _id_col()
    username: Mapped[str] = mapped_column(String(300))
    # The lower-cased acct, unique: "name" for a local account, "name@domain" for a remote
    # one (federation/actors.py), so a look-up of a local name never finds a remote account.
    username_lower: Mapped[str] = mapped_column(String(300), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    note_html: Mapped[str] = mapped_column(Text, default="")
    fields: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    bot: Mapped[bool] = mapped_column(Boolean, default=False)
    discoverable: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Silenced ("limited"): posts reach followers only, not public listings or strangers.
    silenced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    followers_count: Mapped[int] = mapped_column(Integer, default=0)
    following_count: Mapped[int] = mapped_column(Integer, default=0)
    statuses_count: Mapped[int] = mapped_column(Integer, default=0)
    last_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Current data-reuse intents, {category: {"allow": bool, "updatedAt": iso}}; a category
    # left out is unset. Written only by agora.data.consent, which also appends to consent_log.
    # The server default ('{}', from migration 0002) filled the rows that existed before it.
    data_reuse: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, server_default=sql_text("'{}'")
    )
    # Uploaded profile images, "<32 hex>.<ext>" (social/media/profile_images.py); None: the default.
    avatar_file: Mapped[str | None] = mapped_column(String(64))
    header_file: Mapped[str | None] = mapped_column(String(64))
    # Federation (agora.federation). `domain` is None for a local account; a remote account
    # has its ActivityPub id (`uri`), profile page, inboxes and public key here. A local
    # account's public key is here too once made (its private key is in `account_keys`).
    domain: Mapped[str | None] = mapped_column(String(255))
    uri: Mapped[str | None] = mapped_column(String(2048))
    url: Mapped[str | None] = mapped_column(Text)
    inbox_url: Mapped[str | None] = mapped_column(Text)
    shared_inbox_url: Mapped[str | None] = mapped_column(Text)
    followers_url: Mapped[str | None] = mapped_column(Text)
    public_key_pem: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("uq_accounts_uri", "uri", unique=True),
        # The visibility rule asks "is this author suspended?" for every post it checks; with
        # this (nearly empty) index PostgreSQL answers without scanning all accounts.
        Index(
            "ix_accounts_suspended",
            "id",
            sqlite_where=sql_text("suspended_at IS NOT NULL"),
            postgresql_where=sql_text("suspended_at IS NOT NULL"),
        ),
        Index(
            "ix_accounts_silenced",
            "id",
            sqlite_where=sql_text("silenced_at IS NOT NULL"),
            postgresql_where=sql_text("silenced_at IS NOT NULL"),
        ),
        # Accounts on other servers (few on most servers): "has this author a remote
        # follower?" walks these, not the author's followers (reading/remote_audience.py).
        Index(
            "ix_accounts_remote",
            "id",
            sqlite_where=sql_text("domain IS NOT NULL"),
            postgresql_where=sql_text("domain IS NOT NULL"),
        ),
    )


class User(Base):
    """Sign-in credentials of a local person. Accounts without a user (the assistant) cannot
    sign in."""

    __tablename__ = "users"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    approved: Mapped[bool] = mapped_column(Boolean, default=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    locale: Mapped[str] = mapped_column(String(10), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OAuthApp(Base):
    __tablename__ = "oauth_apps"
    id: Mapped[int] = _id_col()
    name: Mapped[str] = mapped_column(String(200))
    website: Mapped[str | None] = mapped_column(String(500))
    redirect_uris: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(String(1000))
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthorizationCode(Base):
    __tablename__ = "oauth_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    app_id: Mapped[int] = _fk("oauth_apps.id")
    account_id: Mapped[int] = _fk("accounts.id")
    scopes: Mapped[str] = mapped_column(String(1000))
    redirect_uri: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str | None] = mapped_column(String(200))
    code_challenge_method: Mapped[str | None] = mapped_column(String(10))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class AccessToken(Base):
    __tablename__ = "oauth_tokens"
    id: Mapped[int] = _id_col()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[int] = _fk("oauth_apps.id")
    account_id: Mapped[int | None] = _fk("accounts.id", nullable=True)
    scopes: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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


class _AccountPair:
    """Shared shape of follows, follow requests, blocks and mutes."""

    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id")
    target_account_id: Mapped[int] = _fk("accounts.id", index=True)


class Follow(_AccountPair, Base):
    __tablename__ = "follows"
    show_reblogs: Mapped[bool] = mapped_column(Boolean, default=True)
    notify: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (UniqueConstraint("account_id", "target_account_id"),)


class FollowRequest(_AccountPair, Base):
    __tablename__ = "follow_requests"
    show_reblogs: Mapped[bool] = mapped_column(Boolean, default=True)
    notify: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (UniqueConstraint("account_id", "target_account_id"),)


class Block(_AccountPair, Base):
    __tablename__ = "blocks"
    __table_args__ = (UniqueConstraint("account_id", "target_account_id"),)


class Mute(_AccountPair, Base):
    __tablename__ = "mutes"
    hide_notifications: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (UniqueConstraint("account_id", "target_account_id"),)


class HomeFeedEntry(Base):
    """A precomputed home-timeline entry (fan-out on write)."""

    __tablename__ = "home_feed"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    post_id: Mapped[int] = _fk("posts.id", primary_key=True, index=True)
    author_id: Mapped[int] = mapped_column(ID, index=True)  # for removal on unfollow / block


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
    __table_args__ = (
        UniqueConstraint("account_id", "type", "activity_id"),
        Index("ix_notifications_account_id_id", "account_id", "id"),
    )


class Marker(Base):
    __tablename__ = "markers"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    timeline: Mapped[str] = mapped_column(String(20), primary_key=True)
    last_read_id: Mapped[str] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Job(Base):
    """A durable background job (the transactional outbox)."""

    __tablename__ = "jobs"
    id: Mapped[int] = _id_col()
    kind: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (Index("ix_jobs_state_run_at", "state", "run_at"),)


class ConsentEvent(Base):
    """The append-only consent log: every change of an account's data-reuse intent
    (`post_id` null) or of a post's "no AI reuse" override (`category` = "noAiReuse").
    `allow` is True, False, or None for "unset" / override removed."""

    __tablename__ = "consent_log"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id", index=True)
    post_id: Mapped[int | None] = mapped_column(ID)
    category: Mapped[str] = mapped_column(String(40))
    allow: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DatasetExport(Base):
    """One run of `agora export dataset`: what it was for and what it contained."""

    __tablename__ = "dataset_exports"
    id: Mapped[int] = _id_col()
    purpose: Mapped[str] = mapped_column(String(30), index=True)
    snapshot_at: Mapped[datetime] = mapped_column(UTCDateTime)
    consent_position: Mapped[int] = mapped_column(ID)  # last consent_log id it honoured
    posts_count: Mapped[int] = mapped_column(Integer, default=0)
    accounts_count: Mapped[int] = mapped_column(Integer, default=0)
    withdrawn_count: Mapped[int] = mapped_column(Integer, default=0)
    directory: Mapped[str] = mapped_column(Text)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DatasetExportAccount(Base):
    """Which accounts an export included and how many of their posts (transparency)."""

    __tablename__ = "dataset_export_accounts"
    export_id: Mapped[int] = _fk("dataset_exports.id", primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True, index=True)
    posts_count: Mapped[int] = mapped_column(Integer)


class DatasetExportPost(Base):
    """Which posts an export included (the base of later withdrawal lists)."""

    __tablename__ = "dataset_export_posts"
    export_id: Mapped[int] = _fk("dataset_exports.id", primary_key=True)
    post_id: Mapped[int] = mapped_column(ID, primary_key=True)


class InstanceSecret(Base):
    """Secrets the instance keeps for itself (e.g. the salt of pseudonymous dataset ids)."""

    __tablename__ = "instance_secrets"
    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))


class AssistantReply(Base):
    """One row per post that mentioned the assistant: the guard that makes each mention
    answered exactly once (inserted in the transaction that posts the reply)."""

    __tablename__ = "assistant_replies"
    mention_post_id: Mapped[int] = mapped_column(ID, primary_key=True)
    reply_post_id: Mapped[int | None] = mapped_column(ID)
    outcome: Mapped[str] = mapped_column(String(20))  # answered / failed / skipped
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AiUsage(Base):
    """One model call: who asked, for what, and what it cost (`agora ai usage`, quotas)."""

    __tablename__ = "ai_usage"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id")
    action: Mapped[str] = mapped_column(String(20))
    provider: Mapped[str] = mapped_column(String(20))
    model: Mapped[str] = mapped_column(String(200))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (
        Index("ix_ai_usage_account_action_time", "account_id", "action", "created_at"),
    )


class AssistantConversation(Base):
    """A private chat between one person and the assistant (theirs only; deletable)."""

    __tablename__ = "assistant_conversations"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id", index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AssistantMessage(Base):
    """One turn of a chat; the assistant's turns list the posts they cite."""

    __tablename__ = "assistant_messages"
    id: Mapped[int] = _id_col()
    conversation_id: Mapped[int] = _fk("assistant_conversations.id", index=True)
    role: Mapped[str] = mapped_column(String(10))  # user / assistant
    content: Mapped[str] = mapped_column(Text)
    cited_post_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Report(Base):
    """A report a person filed about an account (and some of its posts) for the admins."""

    __tablename__ = "reports"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id", index=True)  # who reported
    target_account_id: Mapped[int] = _fk("accounts.id", index=True)
    status_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    rule_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    comment: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(20), default="other")
    forwarded: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    action_taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    action_taken_by_account_id: Mapped[int | None] = _fk(
        "accounts.id", ondelete="SET NULL", nullable=True
    )
    assigned_account_id: Mapped[int | None] = _fk("accounts.id", ondelete="SET NULL", nullable=True)
    __table_args__ = (Index("ix_reports_action_taken_at_id", "action_taken_at", "id"),)


class ModerationAction(Base):
    """The moderation log: what an admin (`account_id`; null from the CLI) did to an account
    or a report, and why."""

    __tablename__ = "moderation_actions"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int | None] = _fk("accounts.id", ondelete="SET NULL", nullable=True)
    target_account_id: Mapped[int] = _fk("accounts.id", index=True)
    report_id: Mapped[int | None] = _fk("reports.id", ondelete="SET NULL", nullable=True)
    action: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A browser signed in to the web app. The cookie holds a random token; only its SHA-256
    is stored, so a copy of the database signs no one in."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = _id_col()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = _fk("accounts.id", index=True)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


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


class MediaAttachment(Base):
    """An uploaded image: unattached (only its uploader may see it) until a post uses it, then
    as visible as that post. `key` (128 random bits, hex) names its files and URLs;
    `access_secret` signs the per-viewer URLs of media that is not public (see media_files)."""

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


class IdNode(Base):
    """One row per claim of an id node (db.id_nodes.claim_node: a server or worker process
    starting); the row's number modulo 32 is the node in that process's ids."""

    __tablename__ = "id_nodes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccountKey(Base):
    """A local account's RSA private key (PEM), made when first needed
    (federation/keys.py); its public half is `accounts.public_key_pem`."""

    __tablename__ = "account_keys"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    private_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InboxActivity(Base):
    """One row per ActivityPub activity id accepted at an inbox (SHA-256 of the id), so a
    redelivery is recognised and changes nothing (federation/inbox.py)."""

    __tablename__ = "inbox_activities"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
