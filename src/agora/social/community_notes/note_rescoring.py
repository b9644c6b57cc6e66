"""Rescoring Community Notes: every hour (the `rescore_notes` job, which queues its next run
an hour later) and on demand (`agora notes rescore`, `POST /api/v1/admin/agora/notes/rescore`).

The job is two-phase (`SlowJob`): `compute` reads every rating in one read transaction and
fits the model (note_scoring.py) in a worker thread, outside any write transaction; `store`
then writes, in the transaction that deletes the job, each note's scores and, where a note's
status changed, the new status, a row of `community_note_status_history` and a bump of its
post's `render_version` (the Status entity carries the shown note, `agora.community_note`, and
is cached by version). Statuses are only ever written here.

Invariants: at most one pending `rescore_notes` job (`ensure_scheduled` adds one only when
none is queued); a note with no rating keeps `needs_more_ratings` and is not scored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import Database
from agora.db.models import (
    CommunityNote,
    CommunityNoteRating,
    CommunityNoteStatusChange,
    Job,
    Post,
    utcnow,
)
from agora.jobs.job_kinds import JobKind, JobState, RescoreNotesJob
from agora.jobs.queue import enqueue
from agora.social.community_notes.note_scoring import RATING_VALUES, NoteStatus, Ratings, score

RESCORE_EVERY_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class NoteScore:
    """One note's outcome of a rescoring."""

    note_id: int
    intercept: float
    factor: float
    ratings_count: int
    status: NoteStatus


@dataclass(frozen=True, slots=True)
class Rescored:
    """What a rescoring computed (every rated note) and, once stored, what changed."""

    notes: list[NoteScore]
    ratings: int


async def ensure_scheduled(session: AsyncSession, delay: float = RESCORE_EVERY_SECONDS) -> None:
    """Queue the rescoring job in the caller's transaction unless one is already pending."""
    pending = await session.scalar(
        select(Job.id).where(Job.kind == JobKind.RESCORE_NOTES, Job.state != JobState.DEAD).limit(1)
    )
    if pending is None:
        enqueue(session, JobKind.RESCORE_NOTES, {}, delay=delay)


async def compute(db: Database, payload: RescoreNotesJob) -> Rescored:
    """Read every rating and score every rated note (the job's slow phase; read-only)."""
    async with db.session() as session:
        found = await session.execute(
            select(
                CommunityNoteRating.note_id,
                CommunityNoteRating.account_id,
                CommunityNoteRating.helpfulness,
            )
        )
        rows = [(note_id, rater_id, value) for note_id, rater_id, value in found]
        statuses = await session.execute(
            select(CommunityNote.id, CommunityNote.status).where(CommunityNote.ratings_count > 0)
        )
        previous: dict[int, str] = {note_id: status for note_id, status in statuses}
    if not rows:
        return Rescored([], 0)
    return await asyncio.to_thread(_score_rows, rows, previous)


def _score_rows(rows: Sequence[tuple[int, int, str]], previous: dict[int, str]) -> Rescored:
    """Ratings as arrays (ids mapped to indices), scored against the previous statuses."""
    note_ids, note_index = np.unique(np.array([r[0] for r in rows], np.int64), return_inverse=True)
    rater_ids, rater_index = np.unique(
        np.array([r[1] for r in rows], np.int64), return_inverse=True
    )
    values = np.array([RATING_VALUES[r[2]] for r in rows], dtype=np.float64)
    ratings = Ratings(rater_index, note_index, values, len(rater_ids), len(note_ids))
    before: list[NoteStatus | None] = [
        NoteStatus(previous[int(n)]) if int(n) in previous else None for n in note_ids
    ]
    scores = score(ratings, before)
    notes = [
        NoteScore(int(n), float(i), float(f), int(c), s)
        for n, i, f, c, s in zip(
            note_ids,
            scores.note_intercept,
            scores.note_factor,
            scores.ratings_count,
            scores.statuses,
            strict=True,
        )
    ]
    return Rescored(notes, len(rows))


async def store(session: AsyncSession, payload: RescoreNotesJob, result: Rescored) -> None:
    """The job's apply phase: write the outcome, then queue the next run an hour later."""
    await write_scores(session, result)
    await ensure_scheduled(session)


async def write_scores(session: AsyncSession, result: Rescored) -> int:
    """Write a rescoring's outcome (module docstring); the number of notes whose status
    changed."""
    now = utcnow()
    by_id = {s.note_id: s for s in result.notes}
    if not by_id:
        return 0
    current = (
        await session.execute(
            select(CommunityNote.id, CommunityNote.post_id, CommunityNote.status).where(
                CommunityNote.id.in_(list(by_id))
            )
        )
    ).all()
    moved_posts: set[int] = set()
    changed = 0
    rows: list[dict[str, object]] = []
    for note_id, post_id, status in current:
        new = by_id[note_id]
        row: dict[str, object] = {
            "id": note_id,
            "intercept": new.intercept,
            "factor": new.factor,
            "ratings_count": new.ratings_count,
            "status": new.status.value,
        }
        if new.status.value != status:
            changed += 1
            moved_posts.add(post_id)
            row["status_changed_at"] = now
            session.add(
                CommunityNoteStatusChange(
                    note_id=note_id,
                    post_id=post_id,
                    status=new.status.value,
                    intercept=new.intercept,
                    factor=new.factor,
                    ratings_count=new.ratings_count,
                    created_at=now,
                )
            )
        rows.append(row)
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        same = [r for r in chunk if "status_changed_at" not in r]
        moved = [r for r in chunk if "status_changed_at" in r]
        if same:
            await session.execute(update(CommunityNote), same)
        if moved:
            await session.execute(update(CommunityNote), moved)
    if moved_posts:
        await session.execute(
            update(Post)
            .where(Post.id.in_(sorted(moved_posts)))
            .values(render_version=Post.render_version + 1)
        )
    return changed


async def rescore_now(db: Database) -> tuple[int, int, int]:
    """Rescore at once (the CLI and the admin API): (ratings read, notes scored, statuses
    changed)."""
    result = await compute(db, {})
    async with db.transaction() as session:
        changed = await write_scores(session, result)
    return result.ratings, len(result.notes), changed
