"""Tables of discovery: what a person features on their profile (hashtags, endorsed
accounts), private notes on other accounts, suggestions a person dismissed, and trends.

Invariants: one row per (owner, thing) in every table (unique keys); featured tags and
endorsements are capped per owner by `social/rules/limits.py`. A `trends` row is written only
by the trends job (scores) and the admins' review (`review`); its `review` outlives the score
going to zero, so a rejected item stays rejected when it trends again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agora.db.models.base import Base, UTCDateTime, _fk, _id_col


class FeaturedTag(Base):
    """A hashtag a person shows on their profile (Mastodon's featured tags)."""

    __tablename__ = "featured_tags"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id")
    tag_id: Mapped[int] = _fk("tags.id", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (UniqueConstraint("account_id", "tag_id"),)


class AccountEndorsement(Base):
    """An account a person endorses on their profile (Mastodon's account pins); only an
    account they follow."""

    __tablename__ = "account_endorsements"
    id: Mapped[int] = _id_col()
    account_id: Mapped[int] = _fk("accounts.id")
    target_account_id: Mapped[int] = _fk("accounts.id", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (UniqueConstraint("account_id", "target_account_id"),)


class AccountNote(Base):
    """A person's private note on another account (`note` in the Relationship)."""

    __tablename__ = "account_notes"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    target_account_id: Mapped[int] = _fk("accounts.id", primary_key=True, index=True)
    comment: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SuggestionDismissal(Base):
    """An account a person does not want suggested again."""

    __tablename__ = "suggestion_dismissals"
    account_id: Mapped[int] = _fk("accounts.id", primary_key=True)
    target_account_id: Mapped[int] = _fk("accounts.id", primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Trend(Base):
    """A trending hashtag (`item` = tag id), post (post id) or link (URL), with its score from
    the last run of the trends job and the admins' review (pending / approved / rejected)."""

    __tablename__ = "trends"
    id: Mapped[int] = _id_col()  # a link's id in the admin API (hashtags and posts use theirs)
    kind: Mapped[str] = mapped_column(String(10))
    item: Mapped[str] = mapped_column(String(2048))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    # The highest score and when (hashtags and links decay from it, as on Mastodon).
    max_score: Mapped[float] = mapped_column(Float, default=0.0)
    max_score_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review: Mapped[str] = mapped_column(String(10), default="pending")
    title: Mapped[str | None] = mapped_column(Text)  # a link's title, when known
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (
        UniqueConstraint("kind", "item"),
        Index("ix_trends_kind_score", "kind", "score"),
    )
