"""Notification policies and requests (Mastodon 4.3): for each kind of sender a person chooses
`accept`, `filter` or `drop`; a filtered notification is kept aside under a request (one per
sender) until the person accepts it (its notifications join the normal list, and later ones
from that sender are accepted) or dismisses it (they are deleted).

Invariant: `verdict` is asked by `notifications.create_notification`, the one function that
creates notifications, so every door (API v1 and v2, streams, Web Push, the web page) sees
the same thing: a dropped notification never exists, a filtered one is never streamed nor
pushed and is left out of every normal list (`notifications._listable`'s callers read
`filtered` false), and it counts in the policy's summary.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import timedelta
from functools import cache
from typing import Any, Literal

from sqlalchemy import Select, and_, bindparam, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import (
    Account,
    Follow,
    Notification,
    NotificationPermission,
    NotificationPolicy,
    NotificationRequest,
    Post,
    User,
    Visibility,
    utcnow,
)
from agora.db.upsert import insert_ignore
from agora.ids import id_to_ms, new_id
from agora.social.rules.errors import Invalid, NotFound
from agora.social.rules.paging import Page, Slice, apply_page, slice_of

Action = Literal["accept", "filter", "drop"]
ACTIONS: tuple[Action, ...] = ("accept", "filter", "drop")
# what the policy may hold back; the others (polls, edits, reports, moves) always arrive
FILTERABLE = frozenset({"mention", "status", "reblog", "follow", "follow_request", "favourite"})
NEW_ACCOUNT = timedelta(days=30)  # an account younger than this is "new"
NEW_FOLLOWER = timedelta(days=3)  # a follower since less than this is not yet a follower


@dataclass(frozen=True, slots=True)
class Policy:
    """A person's policy: what happens to notifications from each kind of sender."""

    for_not_following: Action = "accept"
    for_not_followers: Action = "accept"
    for_new_accounts: Action = "accept"
    for_private_mentions: Action = "filter"
    for_limited_accounts: Action = "filter"

    @property
    def accepts_all(self) -> bool:
        """Nothing is ever filtered or dropped (no question about the sender needed)."""
        return all(getattr(self, f.name) == "accept" for f in fields(self))


FIELDS = tuple(f.name for f in fields(Policy))


async def get_policy(session: AsyncSession, account_id: int) -> Policy:
    """The person's policy (the defaults until they change it)."""
    row = await session.get(NotificationPolicy, account_id)
    if row is None:
        return Policy()
    return Policy(**{name: getattr(row, name) for name in FIELDS})


async def update_policy(session: AsyncSession, account_id: int, changes: dict[str, Any]) -> Policy:
    """Change some of the policy's fields (each `accept`, `filter` or `drop`; anything else is
    Invalid and nothing changes). Commits."""
    for name, value in changes.items():
        if name in FIELDS and value not in ACTIONS:
            raise Invalid(f"Validation failed: {name} must be one of accept, filter, drop")
    current = await get_policy(session, account_id)
    values = {name: changes.get(name, getattr(current, name)) for name in FIELDS}
    row = await session.get(NotificationPolicy, account_id)
    if row is None:
        row = NotificationPolicy(account_id=account_id, **values, updated_at=utcnow())
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
    await session.commit()
    return Policy(**values)


@dataclass(frozen=True, slots=True)
class _Sender:
    """What the policy asks about a sender, relative to the recipient."""

    permitted: bool
    staff: bool
    followed: bool
    follows_long: bool
    created_ms: int
    limited: bool
    private_mention: bool


@cache
def _sender_facts() -> Select[Any]:
    """`_sender`'s read, built once (parameters `recipient`, `sender`)."""
    recipient = bindparam("recipient", type_=Account.id.type)
    sender = bindparam("sender", type_=Account.id.type)
    follows_me = (
        select(func.max(Follow.id))
        .where(Follow.account_id == sender, Follow.target_account_id == recipient)
        .scalar_subquery()
    )
    return select(
        exists().where(
            NotificationPermission.account_id == recipient,
            NotificationPermission.from_account_id == sender,
        ),
        exists().where(User.account_id == sender, User.is_admin.is_(True)),
        exists().where(Follow.account_id == recipient, Follow.target_account_id == sender),
        follows_me,
        Account.created_at,
        Account.silenced_at.isnot(None),
    ).where(Account.id == sender)


@cache
def _private_mention() -> Select[Any]:
    """Whether the post `post_id` is a direct post that does not answer `recipient`, built
    once."""
    return select(Post.id).where(
        Post.id == bindparam("post_id", type_=Post.id.type),
        Post.visibility == int(Visibility.DIRECT),
        Post.in_reply_to_account_id.is_distinct_from(bindparam("recipient", type_=Account.id.type)),
    )


async def _sender(
    session: AsyncSession, recipient_id: int, sender_id: int, type: str, post_id: int | None
) -> _Sender:
    """One query: the recipient's relation to the sender and the sender's standing."""
    private = False
    if type == "mention" and post_id is not None:
        found = await session.scalar(
            _private_mention(), {"post_id": post_id, "recipient": recipient_id}
        )
        private = bool(found)
    facts = {"recipient": recipient_id, "sender": sender_id}
    row = (await session.execute(_sender_facts(), facts)).one()
    values: tuple[Any, ...] = tuple(row)
    permitted, staff, followed, follow_id, created_at, limited = values
    since = (utcnow() - NEW_FOLLOWER).timestamp() * 1000
    long_ago = follow_id is not None and id_to_ms(follow_id) < since
    return _Sender(
        permitted=bool(permitted),
        staff=bool(staff),
        followed=bool(followed),
        follows_long=long_ago,
        created_ms=int(created_at.timestamp() * 1000),
        limited=bool(limited),
        private_mention=private,
    )


async def verdict(
    session: AsyncSession, recipient_id: int, sender_id: int, type: str, post_id: int | None
) -> Action:
    """What the recipient's policy does with this notification: `drop` if any condition the
    sender meets says drop, else `filter` if any says filter, else `accept`. Never for a
    type outside FILTERABLE, one's own doing, staff, or a sender the recipient accepted."""
    if type not in FILTERABLE or recipient_id == sender_id:
        return "accept"
    policy = await get_policy(session, recipient_id)
    if policy.accepts_all:
        return "accept"
    sender = await _sender(session, recipient_id, sender_id, type, post_id)
    if sender.permitted or sender.staff:
        return "accept"
    new_since = (utcnow() - NEW_ACCOUNT).timestamp() * 1000
    applying = [
        policy.for_not_following if not sender.followed else "accept",
        policy.for_not_followers if not sender.follows_long else "accept",
        policy.for_new_accounts if sender.created_ms > new_since else "accept",
        policy.for_private_mentions if sender.private_mention and not sender.followed else "accept",
        policy.for_limited_accounts if sender.limited and not sender.followed else "accept",
    ]
    if "drop" in applying:
        return "drop"
    return "filter" if "filter" in applying else "accept"


async def record_request(session: AsyncSession, recipient_id: int, sender_id: int) -> None:
    """A filtered notification from `sender_id`: its request exists (made once, touched)."""
    now = utcnow()
    await session.execute(
        insert_ignore(session, NotificationRequest).values(
            id=new_id(), account_id=recipient_id, from_account_id=sender_id, updated_at=now
        )
    )
    await session.execute(
        update(NotificationRequest)
        .where(
            NotificationRequest.account_id == recipient_id,
            NotificationRequest.from_account_id == sender_id,
        )
        .values(updated_at=now)
    )


@dataclass(frozen=True, slots=True)
class RequestView:
    """A notification request with its filtered notifications' count and newest post."""

    request: NotificationRequest
    notifications_count: int
    last_post_id: int | None


def _filtered_from(recipient_id: int, sender: Any) -> Any:
    return and_(
        Notification.account_id == recipient_id,
        Notification.from_account_id == sender,
        Notification.filtered.is_(True),
    )


async def _views(
    session: AsyncSession, recipient_id: int, rows: list[NotificationRequest]
) -> list[RequestView]:
    """Counts and newest posts of these requests, in one query."""
    senders = [r.from_account_id for r in rows]
    if not senders:
        return []
    stats = await session.execute(
        select(
            Notification.from_account_id,
            func.count(),
            func.max(Notification.post_id),
        )
        .where(
            Notification.account_id == recipient_id,
            Notification.filtered.is_(True),
            Notification.from_account_id.in_(senders),
        )
        .group_by(Notification.from_account_id)
    )
    found = {sender: (int(count), post) for sender, count, post in stats.all()}
    return [
        RequestView(r, *found.get(r.from_account_id, (0, None)))
        for r in rows
        if r.from_account_id in found
    ]


async def list_requests(session: AsyncSession, recipient_id: int, page: Page) -> Slice[RequestView]:
    """The person's pending requests, newest first (paged by request id)."""
    query = select(NotificationRequest.id, NotificationRequest).where(
        NotificationRequest.account_id == recipient_id
    )
    found = slice_of(
        (await session.execute(apply_page(query, NotificationRequest.id, page))).all(), page
    )
    views = await _views(session, recipient_id, found.items)
    return Slice(views, found.cursors)


async def get_request(session: AsyncSession, recipient_id: int, request_id: int) -> RequestView:
    """One of the person's requests, or NotFound (someone else's too)."""
    row = await session.scalar(
        select(NotificationRequest).where(
            NotificationRequest.id == request_id, NotificationRequest.account_id == recipient_id
        )
    )
    views = await _views(session, recipient_id, [row] if row is not None else [])
    if not views:
        raise NotFound()
    return views[0]


async def _owned(session: AsyncSession, recipient_id: int, ids: list[int]) -> list[int]:
    """The senders of those of `ids` that are the person's requests."""
    rows = await session.scalars(
        select(NotificationRequest.from_account_id).where(
            NotificationRequest.id.in_(ids), NotificationRequest.account_id == recipient_id
        )
    )
    return list(rows.all())


async def accept_requests(session: AsyncSession, recipient_id: int, ids: list[int]) -> int:
    """Accept these requests (others' ids are ignored): their notifications join the normal
    list and later ones from those senders are accepted. Commits; how many were accepted."""
    senders = await _owned(session, recipient_id, ids)
    for sender in senders:
        await session.execute(
            insert_ignore(session, NotificationPermission).values(
                account_id=recipient_id, from_account_id=sender, created_at=utcnow()
            )
        )
        await session.execute(
            update(Notification).where(_filtered_from(recipient_id, sender)).values(filtered=False)
        )
    await _forget(session, recipient_id, senders)
    await session.commit()
    return len(senders)


async def dismiss_requests(session: AsyncSession, recipient_id: int, ids: list[int]) -> int:
    """Dismiss these requests (others' ids are ignored): their filtered notifications are
    deleted. Commits; how many were dismissed."""
    senders = await _owned(session, recipient_id, ids)
    for sender in senders:
        await session.execute(delete(Notification).where(_filtered_from(recipient_id, sender)))
    await _forget(session, recipient_id, senders)
    await session.commit()
    return len(senders)


async def _forget(session: AsyncSession, recipient_id: int, senders: list[int]) -> None:
    if senders:
        await session.execute(
            delete(NotificationRequest).where(
                NotificationRequest.account_id == recipient_id,
                NotificationRequest.from_account_id.in_(senders),
            )
        )


@dataclass(frozen=True, slots=True)
class Summary:
    """The policy's summary: pending requests and the notifications they hold."""

    pending_requests_count: int
    pending_notifications_count: int


async def summary(session: AsyncSession, recipient_id: int) -> Summary:
    """How many requests wait, and how many filtered notifications they hold (one query)."""
    senders, notes = (
        await session.execute(
            select(func.count(func.distinct(Notification.from_account_id)), func.count()).where(
                Notification.account_id == recipient_id, Notification.filtered.is_(True)
            )
        )
    ).one()
    return Summary(int(senders), int(notes))
