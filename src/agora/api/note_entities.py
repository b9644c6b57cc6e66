"""The Agora extension's Community Note entity (`/api/v1/agora/notes`, social/community_notes/).
Authors are not named, as on X; `mine` and `my_rating` are the reader's own."""

from __future__ import annotations

from typing import Any

from agora.api.entities import iso
from agora.social.community_notes.note_reading import NoteView


def note_json(view: NoteView) -> dict[str, Any]:
    """One note as its reader sees it."""
    note = view.note
    return {
        "id": str(note.id),
        "status_id": str(note.post_id),
        "classification": note.classification,
        "text": note.text,
        "sources": list(note.sources or []),
        "drafted_with_assistant": note.drafted_with_assistant,
        "status": note.status,
        "intercept": note.intercept,
        "factor": note.factor,
        "ratings_count": note.ratings_count,
        "created_at": iso(note.created_at),
        "status_changed_at": iso(note.status_changed_at),
        "mine": view.mine,
        "my_rating": view.my_rating,
    }
