"""Reading Community Notes: the notes on a post, the notes a person may rate, recent notes.

Invariants: a note is shown only to someone who may see its post (the visibility rule,
`plain_visible_to`, on the note's post); authors are not named (as on X: a note is judged by
its text); the reader learns which notes are theirs and how they rated each.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import CommunityNote, CommunityNoteRating, Post
from agora.social.community_notes.note_scoring import NoteStatus
from agora.social.posts.writing import get_visible_post
from agora.social.rules.errors import Invalid
from agora.social.rules.visibility import plain_visible_to

MAX_PAGE = 40
STATUS_ORDER = {NoteStatus.HELPFUL: 0, NoteStatus.NEEDS_MORE_RATINGS: 1, NoteStatus.NOT_HELPFUL: 2}


@dataclass(frozen=True, slots=True)
class NoteView:
    """A note as one reader sees it: theirs or not, and their own rating of it."""

    note: CommunityNote
    mine: bool
    my_rating: str | None


async def _views(
    session: AsyncSession, viewer_id: int | None, notes: list[CommunityNote]
) -> list[NoteView]:
    rated: dict[int, str] = {}
    if viewer_id is not None and notes:
        rows = await session.execute(
            select(CommunityNoteRating.note_id, CommunityNoteRating.helpfulness).where(
                CommunityNoteRating.account_id == viewer_id,
                CommunityNoteRating.note_id.in_([n.id for n in notes]),
            )
        )
        rated = {note_id: value for note_id, value in rows}
    return [NoteView(n, n.account_id == viewer_id, rated.get(n.id)) for n in notes]


async def notes_on_post(
    session: AsyncSession, viewer_id: int | None, post_id: int
) -> list[NoteView]:
    """Every note on a post the viewer may see (NotFound otherwise): Helpful first, then
    those that need ratings, then Not Helpful; newest first within each."""
    post = await get_visible_post(session, viewer_id, post_id)
    notes = list(
        (
            await session.scalars(
                select(CommunityNote)
                .where(CommunityNote.post_id == post.id)
                .order_by(CommunityNote.id.desc())
            )
        ).all()
    )
    notes.sort(key=lambda n: STATUS_ORDER.get(NoteStatus(n.status), 1))
    return await _views(session, viewer_id, notes)


async def recent_notes(
    session: AsyncSession,
    viewer_id: int | None,
    *,
    status: str | None = None,
    to_rate: bool = False,
    max_id: int | None = None,
    limit: int = 20,
) -> list[NoteView]:
    """Notes on posts the viewer may see, newest first, by `status`; `to_rate`: those the
    viewer may rate and has not (needing ratings, not their own)."""
    query = (
        select(CommunityNote)
        .join(Post, Post.id == CommunityNote.post_id)
        .where(plain_visible_to(viewer_id, Post))
        .order_by(CommunityNote.id.desc())
        .limit(max(1, min(limit, MAX_PAGE)))
    )
    if status is not None:
        if status not in {s.value for s in NoteStatus}:
            raise Invalid("Validation failed: unknown status")
        query = query.where(CommunityNote.status == status)
    if max_id is not None:
        query = query.where(CommunityNote.id < max_id)
    if to_rate and viewer_id is not None:
        rated = exists().where(
            CommunityNoteRating.note_id == CommunityNote.id,
            CommunityNoteRating.account_id == viewer_id,
        )
        query = query.where(
            CommunityNote.status == NoteStatus.NEEDS_MORE_RATINGS.value,
            CommunityNote.account_id != viewer_id,
            ~rated,
        )
    notes = list((await session.scalars(query)).all())
    return await _views(session, viewer_id, notes)


async def one_note(session: AsyncSession, viewer_id: int | None, note: CommunityNote) -> NoteView:
    """A note the caller already checked the viewer may see, as they see it."""
    (view,) = await _views(session, viewer_id, [note])
    return view
