"""Tables of the machinery: jobs, id nodes, instance secrets, received activities, the consent log,
dataset exports, the assistant."""

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
)
from sqlalchemy.orm import Mapped, mapped_column

from agora.db.models.base import ID, Base, UTCDateTime, _fk, _id_col


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


class InstanceSetting(Base):
    """A server setting an admin changed at run time (social/instance/instance_settings.py):
    its name (a field of `config.Settings`) and JSON value. A setting without a row keeps
    its AGORA_* / config-file value."""

    __tablename__ = "instance_settings"
    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JobQueueSample(Base):
    """The job queue's depth, sampled by the workers once per `SAMPLE_MINUTES` bucket (the
    bucket's start is the key, so several workers write it once): the admin dashboard's
    "queue depth over time"."""

    __tablename__ = "job_queue_samples"
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    pending: Mapped[int] = mapped_column(Integer)
    dead: Mapped[int] = mapped_column(Integer)


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


class IdNode(Base):
    """One row per claim of an id node (db.id_nodes.claim_node: a server or worker process
    starting); the row's number modulo 32 is the node in that process's ids."""

    __tablename__ = "id_nodes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InboxActivity(Base):
    """One row per ActivityPub activity id accepted at an inbox (SHA-256 of the id), so a
    redelivery is recognised and changes nothing (federation/inbox.py)."""

    __tablename__ = "inbox_activities"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Announcement(Base):
    """An admins' announcement to everyone on the server (Mastodon's Announcement): plain
    `text` (rendered escaped), an optional event time (`starts_at` / `ends_at`, `all_day`);
    shown while published and not ended (social/instance/announcements.py)."""

    __tablename__ = "announcements"
    id: Mapped[int] = _id_col()
    text: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AnnouncementDismissal(Base):
    """A person marked an announcement read (`POST /api/v1/announcements/:id/dismiss`)."""

    __tablename__ = "announcement_dismissals"
    announcement_id: Mapped[int] = _fk("announcements.id", primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)


class AnnouncementReaction(Base):
    """A person's emoji reaction to an announcement (one row per person and emoji)."""

    __tablename__ = "announcement_reactions"
    announcement_id: Mapped[int] = _fk("announcements.id", primary_key=True)
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
