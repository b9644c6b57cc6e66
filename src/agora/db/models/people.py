"""Tables of people: accounts (local and remote), sign-in credentials and tokens, relationships,
web sessions, reports and moderation, federation keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.orm import Mapped, mapped_column

from agora.db.models.base import Base, UTCDateTime, _fk, _id_col


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
    # Bumped by a database trigger (migration 0015) whenever a column other than the counters
    # changes (api/status_cache.py keys rendered accounts by it).
    render_version: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))

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


class AccountKey(Base):
    """A local account's RSA private key (PEM), made when first needed
    (federation/keys.py); its public half is `accounts.public_key_pem`."""

    __tablename__ = "account_keys"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    private_key_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
