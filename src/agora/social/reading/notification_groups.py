"""Grouped notifications (Mastodon 4.3's `/api/v2/notifications`): a page of groups, each the
notifications that share a group key (set at creation, notifications._group_key) among the
types asked to be grouped; every other notification is a group of its own, `ungrouped-<id>`.

A page is found as Mastodon finds it: walking the viewer's notifications from the cursor, the
first `limit` distinct groups, each represented by its first notification met. Its counts and
sample accounts are then read for the notifications of the group up to the page's newest
representative (older ones included), its `page_min_id` / `page_max_id` within the page's
range. Invariant: every notification read here passes `notifications.list_notifications`'
rule (`_listable`, filtered ones left out unless asked), walk and group data alike.

Cost (what a page pays; bench/grouped_notifications.py): the walk reads plain columns
(`notifications.list_note_rows`, no ORM objects), WALK_BATCH pages' worth at first, then
what the missing groups need at the rate groups were met (`_next_read`), so most pages take
one read and the rest a short second; the group read is one statement over the groups'
members (up to a thousand rows a page) in (group_key, id) order, which SQLite serves from
the (account_id, group_key) index; `_listable`'s sender part is checked on each member (one
look-up of the sender's row), its post part once per group's post (`known_posts`: the
groups' posts bound); no `created_at` (only the few groups whose newest notification is not
their representative read theirs, `_latest_times`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import column_rows
from agora.db.locks import lock_account
from agora.db.models import ID, Marker, Notification, utcnow
from agora.ids import min_id_for_ms, parse_id
from agora.social.reading.notifications import (
    GROUPABLE,
    VIEWER,
    NoteRow,
    _listable,
    list_note_rows,
)
from agora.social.rules.errors import NotFound
from agora.social.rules.paging import Page, Slice

SAMPLE_ACCOUNTS = 8  # Mastodon's sample size
MAX_WALK = 2000  # notifications one page may walk through (a bound on the work of a request)
WALK_BATCH = 4  # the walk's first read, in page sizes: enough for most pages in one statement
WALK_MIN = 40  # the fewest notifications a later read of the walk asks for


@dataclass(slots=True)
class Group:
    """A notification group as the page shows it."""

    key: str
    notification: NoteRow  # the most recent of the group in the page
    count: int = 1
    sample_account_ids: list[int] = field(default_factory=list)
    page_min_id: int = 0
    page_max_id: int = 0
    latest_at: datetime | None = None

    @property
    def type(self) -> str:
        return self.notification.type


@dataclass(frozen=True, slots=True)
class GroupFilters:
    """What a grouped list is restricted to (the v1 list's filters and `grouped_types`)."""

    grouped_types: tuple[str, ...] = GROUPABLE
    types: tuple[str, ...] = ()
    exclude_types: tuple[str, ...] = ()
    from_account_id: int | None = None
    include_filtered: bool = False


def key_of(note: NoteRow, grouped_types: Iterable[str]) -> str:
    """The group a notification belongs to in a list grouping `grouped_types`."""
    if note.group_key and note.type in grouped_types:
        return note.group_key
    return f"ungrouped-{note.id}"


async def list_groups(
    session: AsyncSession, viewer_id: int, page: Page, filters: GroupFilters
) -> Slice[Group]:
    """A page of the viewer's notification groups, newest first; cursors are the ids of the
    groups' representatives (the next page starts below the oldest)."""
    groups: dict[str, Group] = {}
    batch_page = Page(
        limit=max(page.limit * WALK_BATCH, 40),
        max_id=page.max_id,
        since_id=page.since_id,
        min_id=page.min_id,
    )
    walked = 0
    while len(groups) < page.limit and walked < MAX_WALK:
        batch = await list_note_rows(
            session,
            viewer_id,
            batch_page,
            types=list(filters.types) or None,
            exclude_types=list(filters.exclude_types) or None,
            from_account_id=filters.from_account_id,
            include_filtered=filters.include_filtered,
        )
        notes = batch.items if not page.ascending else list(reversed(batch.items))
        for note in notes:
            key = key_of(note, filters.grouped_types)
            if key not in groups:
                groups[key] = Group(key, note)
                if len(groups) >= page.limit:
                    break
        walked += len(batch.items)
        if len(batch.items) < batch_page.limit:
            break
        edge = notes[-1].id
        limit = min(
            _next_read(page.limit - len(groups), len(groups), walked, batch_page.limit),
            MAX_WALK - walked,
        )
        batch_page = (
            Page(limit=limit, min_id=edge)
            if page.ascending
            else Page(limit=limit, max_id=edge, since_id=page.since_id)
        )
    found = sorted(groups.values(), key=lambda g: g.notification.id, reverse=True)
    if found:
        low = found[-1].notification.id
        if len(found) < page.limit and not page.ascending:  # the last page: down to the end
            low = (page.since_id or 0) + 1
        await _fill(session, viewer_id, found, low)
    return Slice(found, [g.notification.id for g in found])


def _next_read(missing: int, found: int, walked: int, last: int) -> int:
    """How many notifications the walk's next read asks for: enough for the `missing` groups
    at the rate groups were met so far (`found` in `walked`), half as many again, at least
    WALK_MIN, at most twice the `last` read (so a walk meeting few groups still doubles).
    A page short of a few groups reads a few dozen more, not twice its first read."""
    if not found:
        return last * 2
    wanted = -(-missing * walked * 3 // (found * 2))  # ceil(missing * walked / found * 1.5)
    return max(WALK_MIN, min(wanted, last * 2))


async def _fill(session: AsyncSession, viewer_id: int, found: list[Group], low: int) -> None:
    """Counts, samples and page ranges of the page's groups (one query for all of them):
    the page's range runs from `low` to its newest representative."""
    high = found[0].notification.id
    grouped = {g.key: g for g in found if not g.key.startswith("ungrouped-")}
    for group in found:
        note = group.notification
        group.sample_account_ids = [note.from_account_id]
        group.page_min_id = group.page_max_id = note.id
        group.latest_at = note.created_at
    if not grouped:
        return
    params = {
        "viewer_id": viewer_id,
        "keys": list(grouped),
        "post_ids": list({g.notification.post_id for g in grouped.values()} - {None}),
        "high": high,
        "low": min_id_for_ms(min(_bucket_ms(k) for k in grouped)),
    }
    rows: Sequence[Any] = await column_rows(session, _members_statement(), params)
    for key, members in groupby(rows, itemgetter(0)):  # by group, newest first in each
        group, batch = grouped[key], list(members)
        group.count = len(batch)
        group.page_max_id = batch[0][1]
        group.page_min_id = _oldest_from(batch, low)
        group.sample_account_ids = _senders(batch)
    await _latest_times(session, grouped.values())


def _oldest_from(members: Sequence[Any], low: int) -> int:
    """The oldest of a group's members (newest first) from `low` on, or its newest when none
    is (the group's page range)."""
    if members[-1][1] >= low:
        return int(members[-1][1])
    first_below = bisect_right(members, -low, key=lambda row: -row[1])
    return int(members[max(first_below - 1, 0)][1])


def _senders(members: Sequence[Any]) -> list[int]:
    """The SAMPLE_ACCOUNTS most recent distinct senders of a group's members (newest first);
    most groups are done in their first rows."""
    senders: list[int] = []
    for member in members:
        if member[2] not in senders:
            senders.append(member[2])
            if len(senders) == SAMPLE_ACCOUNTS:
                break
    return senders


async def _latest_times(session: AsyncSession, groups: Iterable[Group]) -> None:
    """`latest_at` of the groups whose newest notification is not their representative (on
    a page found oldest first, or through a filter; none on a plain page: no query)."""
    others = {g.page_max_id: g for g in groups if g.page_max_id != g.notification.id}
    if not others:
        return
    rows: Sequence[Any] = await column_rows(session, _TIMES, {"ids": list(others)})
    for note_id, created_at in rows:
        others[note_id].latest_at = created_at


_TIMES = select(Notification.id, Notification.created_at).where(
    Notification.id.in_(bindparam("ids", expanding=True))
)


@cache
def _members_statement() -> Select[Any]:
    """`_fill`'s read, built once (building and keying the rule's tree cost more than running
    it): the listable notifications of the groups `keys` from `low` to `high`, by group,
    newest first in each (the order of the (account_id, group_key, id) index, which SQLite
    then reads, instead of walking every notification of the range by id).
    The groups' posts are bound (`post_ids`: a group's members share its post, the key
    names it), so the rule checks each post once, not each member (`_listable`'s
    `known_posts`). No `created_at`: a page reads some hundred rows, and turning each one's
    into a datetime cost a millisecond (`_latest_times` reads the few needed)."""
    columns: list[Any] = [Notification.group_key, Notification.id, Notification.from_account_id]
    return (
        select(*columns)
        .where(
            _listable(VIEWER, known_posts=True),
            Notification.filtered.is_(False),
            Notification.group_key.in_(bindparam("keys", expanding=True)),
            Notification.id <= bindparam("high", type_=ID),
            # a group's notifications are all made after its bucket began: a bound that keeps
            # the read short whichever index the planner takes
            Notification.id >= bindparam("low", type_=ID),
        )
        .order_by(Notification.group_key, Notification.id.desc())
    )


def _bucket_ms(group_key: str) -> int:
    """When a group's hour bucket began (its key's last part), in ms; 0 if unreadable."""
    bucket = group_key.rsplit("-", 1)[-1]
    return int(bucket) * 3_600_000 if bucket.isdigit() else 0


async def get_group(session: AsyncSession, viewer_id: int, group_key: str) -> Group:
    """One of the viewer's groups by key (`ungrouped-<id>` or a group key), or NotFound."""
    query = select(Notification).where(_listable(viewer_id), Notification.filtered.is_(False))
    if group_key.startswith("ungrouped-"):
        raw = group_key.removeprefix("ungrouped-")
        if not raw.isdigit():
            raise NotFound()
        query = query.where(Notification.id == int(raw))
    else:
        query = query.where(Notification.group_key == group_key)
    latest = await session.scalar(query.order_by(Notification.id.desc()).limit(1))
    if latest is None:
        raise NotFound()
    note = NoteRow.of(latest)
    group = Group(key_of(note, GROUPABLE), note)
    await _fill(session, viewer_id, [group], 0)
    return group


async def group_account_ids(session: AsyncSession, viewer_id: int, group_key: str) -> list[int]:
    """Every account in one of the viewer's groups, most recent first (NotFound if none)."""
    group = await get_group(session, viewer_id, group_key)
    if group.key.startswith("ungrouped-"):
        return [group.notification.from_account_id]
    rows = await session.execute(
        select(Notification.from_account_id, func.max(Notification.id).label("latest"))
        .where(
            _listable(viewer_id),
            Notification.filtered.is_(False),
            Notification.group_key == group_key,
        )
        .group_by(Notification.from_account_id)
        .order_by(func.max(Notification.id).desc())
    )
    return [sender for sender, _ in rows.all()]


async def dismiss_group(session: AsyncSession, viewer_id: int, group_key: str) -> None:
    """Dismiss every notification of one of the viewer's groups (NotFound if none). Commits."""
    group = await get_group(session, viewer_id, group_key)
    condition = (
        Notification.id == group.notification.id
        if group.key.startswith("ungrouped-")
        else Notification.group_key == group_key
    )
    await session.execute(
        delete(Notification).where(Notification.account_id == viewer_id, condition)
    )
    await session.commit()


async def unread_count(
    session: AsyncSession,
    viewer_id: int,
    after_id: int | None,
    limit: int,
    *,
    grouped_types: tuple[str, ...] | None = None,
) -> int:
    """How many notifications (or, with `grouped_types`, groups) newer than `after_id` (the
    notifications marker) the viewer has, counted up to `limit`."""
    query = select(Notification.id, Notification.group_key, Notification.type).where(
        _listable(viewer_id), Notification.filtered.is_(False)
    )
    if after_id is not None:
        query = query.where(Notification.id > after_id)
    if grouped_types is None:
        inner = query.order_by(Notification.id.desc()).limit(limit).subquery()
        return int(await session.scalar(select(func.count()).select_from(inner)) or 0)
    keys: set[str] = set()
    rows = await session.execute(query.order_by(Notification.id.desc()).limit(MAX_WALK))
    for note_id, key, type in rows.all():
        keys.add(key if key and type in grouped_types else f"ungrouped-{note_id}")
        if len(keys) >= limit:
            break
    return len(keys)


async def read_up_to(session: AsyncSession, account_id: int, last_read_id: int) -> None:
    """Move the person's notifications marker forward to `last_read_id` (never back), as the
    web page does when it shows the newest notifications. Commits."""
    await lock_account(session, account_id)  # one marker, versions counted exactly
    marker = await session.get(Marker, (account_id, "notifications"))
    if marker is None:
        marker = Marker(account_id=account_id, timeline="notifications", version=0)
        session.add(marker)
    elif (parse_id(marker.last_read_id) or 0) >= last_read_id:
        return
    marker.last_read_id = str(last_read_id)
    marker.version = (marker.version or 0) + 1
    marker.updated_at = utcnow()
    await session.commit()
