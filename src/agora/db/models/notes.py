"""Tables of Community Notes (social/community_notes/): notes people write on public posts,
the ratings others give them, and every change of a note's status (public history, as X's).

Invariants: one note per author per post and one rating per rater per note (unique keys);
`status` and the scores are written only by the rescoring job (`note_rescoring.py`), which
records each change in `community_note_status_history`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from agora.db.models.base import Base, UTCDateTime, _fk, _id_col


class CommunityNote(Base):
    """A note on a public post: text with at least one source link, a classification, and
    the status and scores of the last rescoring."""

    __tablename__ = "community_notes"
    id: Mapped[int] = _id_col()
    post_id: Mapped[int] = _fk("posts.id", index=True)
    account_id: Mapped[int] = _fk("accounts.id", index=True)  # the author
    classification: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    sources: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The person started from the assistant's draft (labelled wherever the note is shown).
    drafted_with_assistant: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    status: Mapped[str] = mapped_column(String(30), default="needs_more_ratings")
    intercept: Mapped[float | None] = mapped_column(Float)
    factor: Mapped[float | None] = mapped_column(Float)
    ratings_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    __table_args__ = (
        UniqueConstraint("post_id", "account_id"),
        Index("ix_community_notes_status_post_id", "status", "post_id"),
    )


class CommunityNoteRating(Base):
    """One person's rating of a note (`helpfulness`: helpful / somewhat_helpful /
    not_helpful) with the reasons they ticked."""

    __tablename__ = "community_note_ratings"
    id: Mapped[int] = _id_col()
    note_id: Mapped[int] = _fk("community_notes.id", index=True)
    account_id: Mapped[int] = _fk("accounts.id", index=True)  # the rater
    helpfulness: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (UniqueConstraint("note_id", "account_id"),)


class CommunityNoteStatusChange(Base):
    """A note's status as one rescoring set it (kept forever: the public history)."""

    __tablename__ = "community_note_status_history"
    id: Mapped[int] = _id_col()
    note_id: Mapped[int] = _fk("community_notes.id", index=True)
    post_id: Mapped[int] = _fk("posts.id", index=True)
    status: Mapped[str] = mapped_column(String(30))
    intercept: Mapped[float | None] = mapped_column(Float)
    factor: Mapped[float | None] = mapped_column(Float)
    ratings_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
