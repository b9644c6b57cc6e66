"""Announcements: what the admins tell everyone on the server (Mastodon's announcements),
with each person's "read" mark (dismissal) and emoji reactions.

Invariants:
- Only admins write announcements (`create` / `update` / `delete`, each logged in the
  moderation log); the doors check the admin role before calling.
- A person sees the announcements that are `shown`: not ended (`ends_at` unset or later than
  now); one that is not shown is NotFound for dismissing and reacting, as an unknown id.
- The text is plain: `views` renders it escaped (instance_documents.paragraphs), so an
  admin's markup never reaches a page or a client unescaped.
- A reaction's name is one emoji (`reaction_name`: at most `MAX_NAME` characters, none of
  them ASCII, since custom emoji are not served); a person has at most one reaction of a
  name, and an announcement at most `MAX_REACTIONS` distinct names.
- Every change publishes its live event after the commit (`announcement`,
  `announcement.reaction` with the name's new count, `announcement.delete`), streamed to
  every `user` stream.
- `views` is the one hydration of an announcement for a viewer (API entity and web page):
  its HTML, whether the viewer dismissed it, and its reactions with counts and `me`, in two
  queries whatever the number of announcements.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, case, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import (
    Account,
    Announcement,
    AnnouncementDismissal,
    AnnouncementReaction,
    utcnow,
)
from agora.db.upsert import affected_rows, insert_ignore_one
from agora.events.event_kinds import AnnouncementEvent, EventName
from agora.events.publishing import publish_after_commit
from agora.social.instance.instance_documents import paragraphs
from agora.social.people.moderation import log_server_action
from agora.social.rules.errors import Invalid, NotFound

MAX_TEXT = 5000
MAX_NAME = 16
MAX_REACTIONS = 8  # distinct emoji per announcement


@dataclass(frozen=True, slots=True)
class AnnouncementInput:
    """What an admin writes: the text and, optionally, the time of the event it announces."""

    text: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    all_day: bool = False


@dataclass(frozen=True, slots=True)
class Reaction:
    """One emoji's reactions: how many, and whether the viewer is among them."""

    name: str
    count: int
    me: bool


@dataclass(frozen=True, slots=True)
class AnnouncementView:
    """An announcement as one viewer sees it."""

    announcement: Announcement
    content: str  # HTML
    read: bool
    reactions: list[Reaction]


def _checked(given: AnnouncementInput) -> AnnouncementInput:
    text = given.text.strip()
    if not text:
        raise Invalid("Validation failed: Text can't be blank")
    if len(text) > MAX_TEXT:
        raise Invalid(f"Validation failed: Text is at most {MAX_TEXT} characters")
    if given.starts_at and given.ends_at and given.ends_at < given.starts_at:
        raise Invalid("Validation failed: ends_at must be after starts_at")
    return AnnouncementInput(text, given.starts_at, given.ends_at, given.all_day)


def event_time(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 time an admin sent (None when empty; no offset means UTC; Invalid)."""
    if not value or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"Validation failed: {name} is not a time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def reaction_name(name: str) -> str:
    """A reaction's name, checked: one emoji (Invalid otherwise)."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME or any(ord(c) < 128 for c in cleaned):
        raise Invalid("Validation failed: Name is not a recognized emoji")
    return cleaned


def _event(
    kind: EventName, announcement_id: int, name: str | None = None, count: int | None = None
) -> AnnouncementEvent:
    return {
        "event": kind,  # type: ignore[typeddict-item]
        "announcement_id": announcement_id,
        "name": name,
        "count": count,
    }


def _is_shown(now: datetime) -> ColumnElement[bool]:
    return or_(Announcement.ends_at.is_(None), Announcement.ends_at > now)


async def create(session: AsyncSession, given: AnnouncementInput, *, by: Account) -> Announcement:
    """Publish an announcement (Invalid for an empty or too long text); logged; commits."""
    checked = _checked(given)
    now = utcnow()
    found = Announcement(
        text=checked.text,
        starts_at=checked.starts_at,
        ends_at=checked.ends_at,
        all_day=checked.all_day,
        published_at=now,
        updated_at=now,
    )
    session.add(found)
    await session.flush()
    log_server_action(session, by, "announcement", f"published: {checked.text}"[:5000])
    publish_after_commit(session, _event(EventName.ANNOUNCEMENT, found.id))
    await session.commit()
    return found


async def update(
    session: AsyncSession, announcement_id: int, given: AnnouncementInput, *, by: Account
) -> Announcement:
    """Change an announcement's text and times (NotFound, Invalid); logged; commits."""
    found = await session.get(Announcement, announcement_id)
    if found is None:
        raise NotFound()
    checked = _checked(given)
    found.text, found.starts_at, found.ends_at = checked.text, checked.starts_at, checked.ends_at
    found.all_day, found.updated_at = checked.all_day, utcnow()
    log_server_action(session, by, "announcement", f"changed: {checked.text}"[:5000])
    publish_after_commit(session, _event(EventName.ANNOUNCEMENT, found.id))
    await session.commit()
    return found


async def delete_announcement(session: AsyncSession, announcement_id: int, *, by: Account) -> None:
    """Delete an announcement with its dismissals and reactions (NotFound); logged;
    commits."""
    found = await session.get(Announcement, announcement_id)
    if found is None:
        raise NotFound()
    for model in (AnnouncementDismissal, AnnouncementReaction):
        await session.execute(delete(model).where(model.announcement_id == announcement_id))
    await session.delete(found)
    log_server_action(session, by, "announcement", f"deleted: {found.text}"[:5000])
    publish_after_commit(session, _event(EventName.ANNOUNCEMENT_DELETE, announcement_id))
    await session.commit()


async def all_announcements(session: AsyncSession) -> list[Announcement]:
    """Every announcement, ended ones too, newest first (the admin console)."""
    return list(
        await session.scalars(select(Announcement).order_by(Announcement.published_at.desc()))
    )


async def shown(
    session: AsyncSession, viewer_id: int, *, with_dismissed: bool = False
) -> list[Announcement]:
    """The announcements shown now, oldest first (as Mastodon lists them), without those the
    viewer dismissed unless `with_dismissed`."""
    query = select(Announcement).where(_is_shown(utcnow()))
    if not with_dismissed:
        dismissed = select(AnnouncementDismissal.announcement_id).where(
            AnnouncementDismissal.account_id == viewer_id
        )
        query = query.where(Announcement.id.not_in(dismissed))
    return list(await session.scalars(query.order_by(Announcement.published_at)))


async def shown_one(session: AsyncSession, announcement_id: int) -> Announcement:
    """An announcement shown now (NotFound for one ended or unknown)."""
    found: Announcement | None = await session.scalar(
        select(Announcement).where(
            Announcement.id == announcement_id,
            _is_shown(utcnow()),
        )
    )
    if found is None:
        raise NotFound()
    return found


async def dismiss(session: AsyncSession, viewer_id: int, announcement_id: int) -> None:
    """Mark an announcement read for the viewer (idempotent; NotFound); commits."""
    await shown_one(session, announcement_id)
    await insert_ignore_one(
        session, AnnouncementDismissal, announcement_id=announcement_id, account_id=viewer_id
    )
    await session.commit()


async def _count(session: AsyncSession, announcement_id: int, name: str) -> int:
    found = await session.scalar(
        select(func.count()).where(
            AnnouncementReaction.announcement_id == announcement_id,
            AnnouncementReaction.name == name,
        )
    )
    return int(found or 0)


async def react(session: AsyncSession, viewer_id: int, announcement_id: int, name: str) -> None:
    """Add the viewer's reaction (idempotent; NotFound; Invalid for a name that is not an
    emoji or a new name past `MAX_REACTIONS`); publishes the new count; commits."""
    await shown_one(session, announcement_id)
    checked = reaction_name(name)
    names = set(
        await session.scalars(
            select(AnnouncementReaction.name)
            .where(AnnouncementReaction.announcement_id == announcement_id)
            .distinct()
        )
    )
    if checked not in names and len(names) >= MAX_REACTIONS:
        raise Invalid(f"Validation failed: at most {MAX_REACTIONS} different reactions")
    added = await insert_ignore_one(
        session,
        AnnouncementReaction,
        announcement_id=announcement_id,
        account_id=viewer_id,
        name=checked,
        created_at=utcnow(),
    )
    if added:
        count = await _count(session, announcement_id, checked)
        event = _event(EventName.ANNOUNCEMENT_REACTION, announcement_id, checked, count)
        publish_after_commit(session, event)
    await session.commit()


async def unreact(session: AsyncSession, viewer_id: int, announcement_id: int, name: str) -> None:
    """Remove the viewer's reaction (nothing when there is none; NotFound for the
    announcement); publishes the new count; commits."""
    await shown_one(session, announcement_id)
    removed = await session.execute(
        delete(AnnouncementReaction).where(
            AnnouncementReaction.announcement_id == announcement_id,
            AnnouncementReaction.account_id == viewer_id,
            AnnouncementReaction.name == name.strip(),
        )
    )
    if affected_rows(removed):
        count = await _count(session, announcement_id, name.strip())
        event = _event(EventName.ANNOUNCEMENT_REACTION, announcement_id, name.strip(), count)
        publish_after_commit(session, event)
    await session.commit()


async def views(
    session: AsyncSession, found: list[Announcement], viewer_id: int | None
) -> list[AnnouncementView]:
    """The announcements as `viewer_id` sees them (None: nobody in particular, as streamed):
    HTML, read mark and reactions, in two queries."""
    ids = [a.id for a in found]
    if not ids:
        return []
    mine = AnnouncementReaction.account_id == (viewer_id or 0)
    rows = await session.execute(
        select(
            AnnouncementReaction.announcement_id,
            AnnouncementReaction.name,
            func.count(),
            func.max(case((mine, 1), else_=0)),
        )
        .where(AnnouncementReaction.announcement_id.in_(ids))
        .group_by(AnnouncementReaction.announcement_id, AnnouncementReaction.name)
        .order_by(AnnouncementReaction.announcement_id, func.min(AnnouncementReaction.created_at))
    )
    reactions: dict[int, list[Reaction]] = {}
    for announcement_id, name, count, me in rows:
        reactions.setdefault(announcement_id, []).append(Reaction(name, int(count), bool(me)))
    read: set[int] = set()
    if viewer_id is not None:
        read = set(
            await session.scalars(
                select(AnnouncementDismissal.announcement_id).where(
                    AnnouncementDismissal.account_id == viewer_id,
                    AnnouncementDismissal.announcement_id.in_(ids),
                )
            )
        )
    return [
        AnnouncementView(a, paragraphs(a.text), a.id in read, reactions.get(a.id, []))
        for a in found
    ]
