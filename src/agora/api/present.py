"""Hydrate and serialise in one step: what most routes return."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agora.api.entities import account_json, notification_json, status_json
from agora.db.models import Notification
from agora.social.errors import NotFound
from agora.social.hydrate import load_accounts, load_posts


async def statuses(
    session: AsyncSession, viewer_id: int | None, ids: list[int]
) -> list[dict[str, Any]]:
    """Status entities for `ids`, in order, leaving out any the viewer may not see."""
    views = await load_posts(session, viewer_id, ids)
    accounts: dict[int, dict[str, Any]] = {}  # each author's entity built once per response
    return [status_json(views[i], viewer_id, accounts) for i in ids if i in views]


async def status(session: AsyncSession, viewer_id: int | None, post_id: int) -> dict[str, Any]:
    """One Status entity; NotFound when it cannot be shown."""
    found = await statuses(session, viewer_id, [post_id])
    if not found:
        raise NotFound()
    return found[0]


async def accounts(session: AsyncSession, ids: list[int]) -> list[dict[str, Any]]:
    """Account entities for `ids`, in order."""
    return [account_json(a) for a in await load_accounts(session, ids)]


async def notifications(
    session: AsyncSession, viewer_id: int, notes: list[Notification]
) -> list[dict[str, Any]]:
    """Notification entities with their accounts and statuses, in constant queries."""
    accts = {
        a.id: a for a in await load_accounts(session, list({n.from_account_id for n in notes}))
    }
    post_ids = list({n.post_id for n in notes if n.post_id is not None})
    posts = {int(s["id"]): s for s in await statuses(session, viewer_id, post_ids)}
    out = []
    for note in notes:
        if note.from_account_id not in accts:
            continue
        post = posts.get(note.post_id) if note.post_id is not None else None
        if note.post_id is not None and post is None:
            continue
        out.append(notification_json(note, accts[note.from_account_id], post))
    return out
