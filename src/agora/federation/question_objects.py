"""Polls as ActivityPub objects (Mastodon's dialect): a post with a poll is a `Question`, a
vote is a `Create(Note)` with the option's title as `name`, new counts go out as
`Update(Question)`.

A `Question` carries `oneOf` (single choice) or `anyOf` (multiple choice), each option a
`Note` with `name` and `replies.totalItems` (its votes), `endTime`, `closed` once it has
ended, and `votersCount`. A poll whose totals are hidden until the end publishes zero counts
until then. Reading one back (`read_question`) takes at most `MAX_OPTIONS` options with
distinct titles of at most `MAX_TITLE` characters; a poll without an end time stays open for
`OPEN_ENDED_DAYS`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from agora.db.models import utcnow
from agora.federation.actors import CONTEXT
from agora.social.posts.polls import PollView
from agora.social.posts.remote_polls import RemotePoll

MAX_OPTIONS = 20
MAX_TITLE = 200
OPEN_ENDED_DAYS = 3650


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def as_question(note: dict[str, Any], poll: PollView) -> dict[str, Any]:
    """A local post's Note with its poll: a Question (see the module docstring)."""
    ended = poll.expired()
    hidden = poll.hide_totals and not ended
    choices = [
        {
            "type": "Note",
            "name": title,
            "replies": {"type": "Collection", "totalItems": 0 if hidden else votes},
        }
        for title, votes in poll.options
    ]
    question = {
        **note,
        "type": "Question",
        ("anyOf" if poll.multiple else "oneOf"): choices,
        "endTime": _iso(poll.expires_at),
        "votersCount": 0 if hidden else poll.voters_count,
    }
    if ended:
        question["closed"] = _iso(poll.expires_at)
    return question


def _when(value: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def read_question(obj: dict[str, Any]) -> RemotePoll | None:
    """The poll a received Question describes, or None when it has fewer than two usable
    options."""
    multiple = isinstance(obj.get("anyOf"), list)
    raw = obj.get("anyOf") if multiple else obj.get("oneOf")
    options: list[tuple[str, int]] = []
    for choice in raw if isinstance(raw, list) else []:
        name = choice.get("name") if isinstance(choice, dict) else None
        if not isinstance(name, str) or not name.strip():
            continue
        title = name.strip()[:MAX_TITLE]
        if title in dict(options):
            continue
        replies = choice.get("replies")
        votes = _count(replies.get("totalItems")) if isinstance(replies, dict) else 0
        options.append((title, votes))
    if len(options) < 2:
        return None
    options = options[:MAX_OPTIONS]
    expires_at = _when(obj.get("endTime")) or _when(obj.get("closed"))
    voters = obj.get("votersCount")
    return RemotePoll(
        options=options,
        expires_at=expires_at or utcnow() + timedelta(days=OPEN_ENDED_DAYS),
        multiple=multiple,
        voters_count=_count(voters) if voters is not None else sum(v for _, v in options),
    )


def vote_activity(
    voter_uri: str, question_uri: str, author_uri: str, poll_id: int, choice: int, title: str
) -> dict[str, Any]:
    """One vote (one chosen option) as Create(Note), addressed to the poll's author only."""
    note_id = f"{voter_uri}#votes/{poll_id}/{choice}"
    return {
        "@context": CONTEXT,
        "id": f"{note_id}/activity",
        "type": "Create",
        "actor": voter_uri,
        "to": [author_uri],
        "object": {
            "id": note_id,
            "type": "Note",
            "name": title,
            "attributedTo": voter_uri,
            "inReplyTo": question_uri,
            "to": [author_uri],
        },
    }


def update_activity(question: dict[str, Any]) -> dict[str, Any]:
    """Update(Question) with a poll's current counts, addressed as its post is."""
    now = utcnow()
    return {
        "@context": CONTEXT,
        "id": f"{question['id']}#updates/{int(now.timestamp() * 1000)}",
        "type": "Update",
        "actor": question["attributedTo"],
        "published": _iso(now),
        "to": question["to"],
        "cc": question["cc"],
        "object": question,
    }
