"""Tables of people: accounts (local and remote), sign-in credentials and tokens, relationships,
web sessions, reports and moderation, federation keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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
    # Mastodon's `hide_collections`: the followers and following lists are not shown to
    # others (the ActivityPub collections give their counts only).
    hide_collections: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The account asked bots to leave it alone (`#nobot` in a remote profile, read by
    # federation/remote_consent.py): the assistant never answers or mentions it.
    no_bot: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Silenced ("limited"): posts reach followers only, not public listings or strangers.
    silenced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An account that moved (a local person's move, or an ActivityPub Move): the account it
    # moved to, and when (social/people/remote_accounts.py: the 30-day cool-down).
    moved_to_account_id: Mapped[int | None] = mapped_column(ID)
    moved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An account's other identities (actor URIs): a local account's, set by its owner and
    # published as `alsoKnownAs`, so an account elsewhere may move here; a remote account's,
    # read from its actor document (a Move to it is checked against them).
    also_known_as: Mapped[list[str] | None] = mapped_column(JSON)
    # Deleted by its owner (social/people/account_deletion.py): suspended at once, its data
    # erased by a job; the row stays as a tombstone so that the username is never reused.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    followers_count: Mapped[int] = mapped_column(Integer, default=0)
    following_count: Mapped[int] = mapped_column(Integer, default=0)
    statuses_count: Mapped[int] = mapped_column(Integer, default=0)
    last_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Current data-reuse intents, {category: {"allow": bool, "updatedAt": iso}}; a category
    # left out is unset. A local person's are written only by agora.data.consent, which also
    # appends to consent_log; a remote author's are what their server and profile state, in the
    # shape consent.remote_data_reuse builds (plus "source"), replaced on every fetch.
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
    # a remote account's profile pictures, as its actor document gives them (`icon`, `image`)
    avatar_remote_url: Mapped[str | None] = mapped_column(Text)
    header_remote_url: Mapped[str | None] = mapped_column(Text)
    # The custom emoji its name, bio and field values use, as taken when they were written
    # (social/media/custom_emojis.py `used_in`); None: none.
    emojis: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    # Bumped by a database trigger (migration 0015) whenever a column other than the counters
    # changes (api/status_cache.py keys rendered accounts by it).
    render_version: Mapped[int] = mapped_column(Integer, default=0, server_default=sql_text("0"))
    # Grows on every update of the row, counters included (trigger, migration 0042): what a
    # cached page showing the account or its posts is checked against (api/page_cache.py).
    change_stamp: Mapped[int] = mapped_column(BigInteger, default=0, server_default=sql_text("0"))

    __table_args__ = (
        Index("uq_accounts_uri", "uri", unique=True),
        # the accounts above the fan-out threshold (api/page_cache.py), migration 0042
        Index("ix_accounts_followers_count", "followers_count"),
        # The accounts using custom emoji (re-taken when one changes: custom_emojis.py).
        Index(
            "ix_accounts_with_emojis",
            "id",
            sqlite_where=sql_text("emojis IS NOT NULL"),
            postgresql_where=sql_text("emojis IS NOT NULL"),
        ),
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
    # When the person proved they read `email` (auth/email_confirmation.py); None: not yet,
    # and the account may not act (auth/standing.py). Accounts made without a mail server
    # are confirmed at once.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Two-factor sign-in (auth/two_factor.py): the TOTP secret (base32), set when setting up
    # and in force once `otp_enabled_at` is set; the last time step a code was accepted for,
    # so that no code works twice.
    otp_secret: Mapped[str | None] = mapped_column(String(64))
    otp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    otp_last_step: Mapped[int | None] = mapped_column(Integer)
    # Who may quote this person's new posts unless a post says otherwise (QuotePolicy).
    default_quote_policy: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")


class RecoveryCode(Base):
    """A single-use two-factor recovery code (SHA-256 only), ten per account."""

    __tablename__ = "recovery_codes"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id", index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EmailToken(Base):
    """A link sent by e-mail: confirm an address (`purpose` "confirm", also for a changed
    address, which `email` holds until then) or reset a password ("reset"). Only the token's
    SHA-256 is stored; it works once (`used_at`) and until `expires_at`
    (auth/email_tokens.py)."""

    __tablename__ = "email_tokens"
    id: Mapped[int] = _id_col()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = _fk("accounts.id", index=True)
    purpose: Mapped[str] = mapped_column(String(10))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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
    # the id of the Follow a remote follower sent (a later Reject names it)
    uri: Mapped[str | None] = mapped_column(String(2048))
    __table_args__ = (UniqueConstraint("account_id", "target_account_id"),)


class FollowRequest(_AccountPair, Base):
    __tablename__ = "follow_requests"
    show_reblogs: Mapped[bool] = mapped_column(Boolean, default=True)
    notify: Mapped[bool] = mapped_column(Boolean, default=False)
    # the id of the Follow a remote requester sent (its Accept or Reject names it)
    uri: Mapped[str | None] = mapped_column(String(2048))
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
    or a report (`target_account_id`), or to a whole server (`target_domain`), and why."""

    __tablename__ = "moderation_actions"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int | None] = _fk("accounts.id", ondelete="SET NULL", nullable=True)
    target_account_id: Mapped[int | None] = _fk("accounts.id", index=True, nullable=True)
    target_domain: Mapped[str | None] = mapped_column(String(255))
    report_id: Mapped[int | None] = _fk("reports.id", ondelete="SET NULL", nullable=True)
    action: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DomainBlock(Base):
    """A block of another server by this one (Mastodon's DomainBlock): `severity` is
    `suspend`, `silence` or `noop`; `reject_media` and `reject_reports` stand on their own.
    It covers the domain and its subdomains (social/people/domain_blocks.py)."""

    __tablename__ = "domain_blocks"
    id: Mapped[int] = _id_col()
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    severity: Mapped[str] = mapped_column(String(20), default="silence")
    reject_media: Mapped[bool] = mapped_column(Boolean, default=False)
    reject_reports: Mapped[bool] = mapped_column(Boolean, default=False)
    private_comment: Mapped[str] = mapped_column(Text, default="")
    public_comment: Mapped[str] = mapped_column(Text, default="")
    obfuscate: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccountDomainBlock(Base):
    """A person's block of a whole server (Mastodon's `/api/v1/domain_blocks`)."""

    __tablename__ = "account_domain_blocks"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id")
    domain: Mapped[str] = mapped_column(String(255))
    __table_args__ = (UniqueConstraint("account_id", "domain"),)


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
