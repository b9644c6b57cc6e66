"""Hydrate and serialise in one step: what most routes return."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from agora.api.account_cache import account_entities
from agora.api.account_cache import shown as shown_account
from agora.api.account_cache import shown_partial as shown_partial_account
from agora.api.entities import (
    account_json,
    admin_account_json,
    admin_report_json,
    conversation_json,
    notification_group_json,
    notification_json,
    report_json,
    scheduled_status_json,
    status_json,
)
from agora.api.page_cache import note_rows
from agora.api.status_cache import status_fragments
from agora.db.models import Account, Notification, Report, ScheduledPost
from agora.social.people.moderation import get_member, load_members
from agora.social.people.reports import load_reports
from agora.social.posts.hydrate import load_accounts, load_posts, moved_targets
from agora.social.posts.scheduled_posts import attachments
from agora.social.reading.conversations import Conversation
from agora.social.reading.notification_groups import Group
from agora.social.reading.notifications import ADMIN_REPORT, MOVE, NoteRow
from agora.social.rules.errors import NotFound


async def statuses(
    session: AsyncSession, viewer_id: int | None, ids: list[int], *, context: str | None = None
) -> list[dict[str, Any]]:
    """Status entities for `ids`, in order, leaving out any the viewer may not see or that
    the viewer's filters hide in `context` (where they are shown: home, notifications,
    public, thread, account; None for a post looked up by id)."""
    views = await load_posts(session, viewer_id, ids, context=context)
    accounts: dict[int, dict[str, Any]] = {}  # each author's entity built once per response
    return [status_json(views[i], viewer_id, accounts) for i in ids if i in views]


async def status(session: AsyncSession, viewer_id: int | None, post_id: int) -> dict[str, Any]:
    """One Status entity; NotFound when it cannot be shown."""
    found = await statuses(session, viewer_id, [post_id])
    if not found:
        raise NotFound()
    return found[0]


async def shown_statuses(
    session: AsyncSession,
    viewer_id: int | None,
    ids: list[int],
    *,
    context: str | None = None,
    extensions: dict[int, dict[str, Any]] | None = None,
) -> list[orjson.Fragment]:
    """What `statuses` renders (the viewer's filters for `context` included), joined from
    renderings cached per post version (api/status_cache.py): what the routes send.
    `extensions`: what to add to a post's `agora` object in this response (by post id)."""
    found = await status_fragments(session, viewer_id, ids, context=context, extensions=extensions)
    return list(found.values())


async def shown_status(
    session: AsyncSession, viewer_id: int | None, post_id: int
) -> orjson.Fragment:
    """What `status` renders, through the render cache; NotFound when it cannot be shown."""
    found = await status_fragments(session, viewer_id, [post_id])
    if post_id not in found:
        raise NotFound()
    return found[post_id]


async def accounts(session: AsyncSession, ids: list[int]) -> list[dict[str, Any]]:
    """Account entities for `ids`, in order."""
    found = await load_accounts(session, ids)
    moved = await moved_targets(session, found)
    return [account_json(a, moved=moved.get(a.id)) for a in found]


async def account(session: AsyncSession, shown: Account, **options: Any) -> dict[str, Any]:
    """One Account entity, with the account it moved to (`moved`); `options` are
    `account_json`'s."""
    moved = await moved_targets(session, [shown])
    return account_json(shown, moved=moved.get(shown.id), **options)


async def notifications(
    session: AsyncSession, viewer_id: int, notes: list[Notification]
) -> list[dict[str, Any]]:
    """Notification entities with their accounts and statuses, in constant queries."""
    people = {n.from_account_id for n in notes} | {n.activity_id for n in notes if n.type == MOVE}
    accts = {a.id: a for a in await load_accounts(session, list(people))}
    note_rows({}, {a.id: a.change_stamp for a in accts.values()})
    post_ids = list({n.post_id for n in notes if n.post_id is not None})
    posts = await status_fragments(session, viewer_id, post_ids, context="notifications")
    reported = await _notified_reports(session, notes)
    out = []
    for note in notes:
        if note.from_account_id not in accts:
            continue
        post = posts.get(note.post_id) if note.post_id is not None else None
        if note.post_id is not None and post is None:
            continue
        report = reported.get(note.activity_id) if note.type == ADMIN_REPORT else None
        if note.type == ADMIN_REPORT and report is None:
            continue
        moved_to = accts.get(note.activity_id) if note.type == MOVE else None
        if note.type == MOVE and moved_to is None:
            continue
        out.append(notification_json(note, accts[note.from_account_id], post, report, moved_to))
    return out


async def notification_groups(
    session: AsyncSession, viewer_id: int, groups: list[Group], *, partial: bool = False
) -> dict[str, Any]:
    """The GroupedNotificationsResults entity: `notification_groups`, and the `accounts` and
    `statuses` they name, each listed once (with `partial`, Mastodon's `partial_avatars`:
    each group's most recent account in full, the others in `partial_accounts`). Groups whose
    post the viewer may no longer see, or whose accounts are gone, are left out; constant
    queries. The accounts are joined from cached renderings (api/account_cache.py: with
    `moved`, as everywhere an Account entity is shown)."""
    accts = await account_entities(session, (i for g in groups for i in g.sample_account_ids))
    post_ids = list({g.notification.post_id for g in groups if g.notification.post_id})
    posts = await status_fragments(session, viewer_id, post_ids, context="notifications")
    reported = await _notified_reports(session, [g.notification for g in groups])
    shown: list[dict[str, Any]] = []
    full: dict[int, bool] = {}
    partial_ids: dict[int, bool] = {}
    shown_posts: dict[int, bool] = {}
    for group in groups:
        note = group.notification
        samples = [i for i in group.sample_account_ids if i in accts]
        if not samples or (note.post_id is not None and note.post_id not in posts):
            continue
        if note.type == ADMIN_REPORT and note.activity_id not in reported:
            continue
        group.sample_account_ids = samples
        entity = notification_group_json(group, note.post_id)
        if note.type == ADMIN_REPORT:
            entity["report"] = reported[note.activity_id]
        shown.append(entity)
        if note.post_id is not None:
            shown_posts[note.post_id] = True
        for position, account_id in enumerate(samples):
            if not partial or position == 0:
                full[account_id] = True
            else:
                partial_ids[account_id] = True
    result: dict[str, Any] = {
        "accounts": [shown_account(accts[i]) for i in full],
        "statuses": [posts[i] for i in shown_posts],
        "notification_groups": shown,
    }
    if partial:
        result["partial_accounts"] = [
            shown_partial_account(accts[i]) for i in partial_ids if i not in full
        ]
    return result


async def conversations(
    session: AsyncSession, viewer_id: int, found: list[Conversation]
) -> list[dict[str, Any]]:
    """Conversation entities, leaving out any whose last message the viewer may not see (a
    block, a suspension), in constant queries."""
    people = {
        a.id: a for a in await load_accounts(session, [i for c in found for i in c.participant_ids])
    }
    last = [c.entry.last_post_id for c in found]
    posts = await status_fragments(session, viewer_id, last)
    return [
        conversation_json(
            c.entry.id,
            c.entry.unread,
            [account_json(people[i]) for i in c.participant_ids if i in people],
            posts[c.entry.last_post_id],
        )
        for c in found
        if c.entry.last_post_id in posts
    ]


async def scheduled_statuses(
    session: AsyncSession, viewer_id: int, found: list[ScheduledPost]
) -> list[dict[str, Any]]:
    """ScheduledStatus entities with their media (the viewer's own scheduled posts)."""
    media = await attachments(session, found)
    return [scheduled_status_json(row, media[row.id], viewer_id) for row in found]


async def _notified_reports(
    session: AsyncSession, notes: Sequence[Notification] | Sequence[NoteRow]
) -> dict[int, dict[str, Any]]:
    """Report entities for the `admin.report` notifications of a page (none: no query)."""
    ids = [n.activity_id for n in notes if n.type == ADMIN_REPORT]
    found = await load_reports(session, ids)
    members = await load_members(session, [r.target_account_id for r in found.values()])
    return {
        rid: report_json(r, account_json(members[r.target_account_id].account))
        for rid, r in found.items()
        if r.target_account_id in members
    }


async def report(session: AsyncSession, found: Report) -> dict[str, Any]:
    """The Report entity for its reporter."""
    member = (await load_members(session, [found.target_account_id]))[found.target_account_id]
    return report_json(found, account_json(member.account))


async def admin_account(session: AsyncSession, account_id: int) -> dict[str, Any]:
    """One Admin::Account entity (suspended accounts included); NotFound otherwise."""
    member = await get_member(session, account_id)
    return admin_account_json(member.account, member.user)


async def admin_reports(session: AsyncSession, found: list[Report]) -> list[dict[str, Any]]:
    """Admin::Report entities. The reported posts are shown as their reporter sees them,
    through the visibility rule; one hydration per distinct reporter."""
    people = {
        i
        for r in found
        for i in (
            r.account_id,
            r.target_account_id,
            r.assigned_account_id,
            r.action_taken_by_account_id,
        )
        if i is not None
    }
    members = await load_members(session, list(people))
    accts = {i: admin_account_json(m.account, m.user) for i, m in members.items()}
    shown: dict[int, dict[int, dict[str, Any]]] = {}
    for reporter in {r.account_id for r in found}:
        ids = [i for r in found if r.account_id == reporter for i in r.status_ids]
        shown[reporter] = {int(s["id"]): s for s in await statuses(session, reporter, ids)}
    return [
        admin_report_json(
            r, accts, [shown[r.account_id][i] for i in r.status_ids if i in shown[r.account_id]]
        )
        for r in found
    ]
