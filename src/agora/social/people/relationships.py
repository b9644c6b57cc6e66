"""Follows (and follow requests for locked accounts), blocks, mutes.

A follow request from a remote account keeps the id of its Follow (`uri`), and so does the
follow it becomes: when the locked local account answers the request, or later removes the
follower, the Accept or Reject naming that Follow is written in the same transaction
(`remote_audience.schedule_follow_answer`).

A block or unblock of a remote account by a local one writes a `federate_block` job in its
transaction (federation sends Block / Undo(Block) to the account's server); a block received
from another server (`block` with a remote actor) writes none.

None of these functions commits: the caller owns the transaction (an API or web door commits
once after the call; a job handler, such as a received Follow or Block or a CSV import's batch,
commits with its own bookkeeping), so a failure after the call leaves nothing half-done.

A local person following an account that moved follows the account it moved to instead
(`moved_target`: the end of the chain of moves, at most `MOVE_HOPS` long, skipping nothing
suspended), so the old profile's Follow button and the API land on the new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.locks import lock_account
from agora.db.models import (
    Account,
    AccountDomainBlock,
    Block,
    Follow,
    FollowRequest,
    Mute,
    Notification,
    utcnow,
)
from agora.db.upsert import affected_rows, insert_ignore
from agora.ids import new_id
from agora.jobs.job_kinds import JobKind, NotifyJob
from agora.jobs.queue import enqueue
from agora.social.people.endorsements import endorsed_among, notes_on
from agora.social.people.lookup import get_account
from agora.social.reading.remote_audience import schedule_follow_answer
from agora.social.rules.errors import DomainError, Forbidden, Invalid, NotFound

MAX_MUTE_SECONDS = 100 * 365 * 24 * 3600  # longer would overflow dates; 0 means forever


@dataclass(slots=True)
class Relationship:
    """How the viewer and one other account relate (Mastodon's Relationship entity)."""

    id: int
    following: bool = False
    showing_reblogs: bool = False
    notifying: bool = False
    followed_by: bool = False
    blocking: bool = False
    blocked_by: bool = False
    muting: bool = False
    muting_notifications: bool = False
    domain_blocking: bool = False  # the viewer blocked the account's server
    requested: bool = False
    requested_by: bool = False
    endorsed: bool = False
    note: str = ""
    languages: list[str] | None = field(default=None)


async def relationships(
    session: AsyncSession, viewer_id: int, ids: list[int]
) -> list[Relationship]:
    """Relationships of the viewer with each of `ids`, in a constant number of queries."""
    rels = {i: Relationship(id=i) for i in ids}
    if not ids:
        return []
    out_f = await session.execute(
        select(Follow.target_account_id, Follow.show_reblogs, Follow.notify).where(
            Follow.account_id == viewer_id, Follow.target_account_id.in_(ids)
        )
    )
    for target, reblogs, notify in out_f:
        rels[target].following, rels[target].showing_reblogs, rels[target].notifying = (
            True,
            reblogs,
            notify,
        )
    for (src,) in await session.execute(
        select(Follow.account_id).where(
            Follow.target_account_id == viewer_id, Follow.account_id.in_(ids)
        )
    ):
        rels[src].followed_by = True
    for (target,) in await session.execute(
        select(FollowRequest.target_account_id).where(
            FollowRequest.account_id == viewer_id, FollowRequest.target_account_id.in_(ids)
        )
    ):
        rels[target].requested = True
    for (src,) in await session.execute(
        select(FollowRequest.account_id).where(
            FollowRequest.target_account_id == viewer_id, FollowRequest.account_id.in_(ids)
        )
    ):
        rels[src].requested_by = True
    for src, target in await session.execute(
        select(Block.account_id, Block.target_account_id).where(
            or_(
                and_(Block.account_id == viewer_id, Block.target_account_id.in_(ids)),
                and_(Block.target_account_id == viewer_id, Block.account_id.in_(ids)),
            )
        )
    ):
        if src == viewer_id:
            rels[target].blocking = True
        else:
            rels[src].blocked_by = True
    now = utcnow()
    for target, hide in await session.execute(
        select(Mute.target_account_id, Mute.hide_notifications).where(
            Mute.account_id == viewer_id,
            Mute.target_account_id.in_(ids),
            or_(Mute.expires_at.is_(None), Mute.expires_at > now),
        )
    ):
        rels[target].muting, rels[target].muting_notifications = True, hide
    domains = dict(
        (await session.execute(select(Account.id, Account.domain).where(Account.id.in_(ids)))).all()
    )
    blocked = await session.scalars(
        select(AccountDomainBlock.domain).where(
            AccountDomainBlock.account_id == viewer_id,
            AccountDomainBlock.domain.in_({d for d in domains.values() if d}),
        )
    )
    for domain in set(blocked):
        for account_id, of in domains.items():
            if of == domain:
                rels[account_id].domain_blocking = True
    for target in await endorsed_among(session, viewer_id, ids):
        rels[target].endorsed = rels[target].following
    for target, comment in (await notes_on(session, viewer_id, ids)).items():
        rels[target].note = comment
    return [rels[i] for i in ids]


async def _adjust_follow_counts(
    session: AsyncSession, follower: int, target: int, delta: int
) -> None:
    await session.execute(
        update(Account)
        .where(Account.id == follower)
        .values(following_count=Account.following_count + delta)
    )
    await session.execute(
        update(Account)
        .where(Account.id == target)
        .values(followers_count=Account.followers_count + delta)
    )


MOVE_HOPS = 5


async def moved_target(session: AsyncSession, account: Account) -> Account:
    """Where `account` moved to, following the chain of moves (at most `MOVE_HOPS`) while
    the next account exists and is not suspended; `account` itself when it did not move."""
    current = account
    for _ in range(MOVE_HOPS):
        if current.moved_to_account_id is None:
            break
        following = await session.get(Account, current.moved_to_account_id)
        if following is None or following.suspended_at is not None:
            break
        current = following
    return current


async def follow(
    session: AsyncSession,
    actor: Account,
    target_id: int,
    *,
    reblogs: bool = True,
    notify: bool = False,
    uri: str | None = None,
) -> int:
    """Follow an account, or ask to when it is locked. Re-following updates the options.
    `uri` is the id of the Follow a remote actor sent (kept with its request). A local
    person asking to follow an account that moved follows the account it moved to. The id
    of the account followed. In the caller's transaction."""
    target = await get_account(session, target_id)
    if actor.domain is None:
        target = await moved_target(session, target)
    await start_follow(session, actor, target, reblogs=reblogs, notify=notify, uri=uri)
    return target.id


async def start_follow(
    session: AsyncSession,
    actor: Account,
    target: Account,
    *,
    reblogs: bool = True,
    notify: bool = False,
    uri: str | None = None,
) -> None:
    """`follow`, in the caller's transaction (a moved account's followers follow its new
    account this way)."""
    refused = await start_follows(session, actor, [FollowWish(target, reblogs, notify, uri)])
    if refused:
        raise refused[target.id]


@dataclass(frozen=True, slots=True)
class FollowWish:
    """One account to follow (or ask to), with the follow's options."""

    target: Account
    reblogs: bool = True
    notify: bool = False
    uri: str | None = None


async def start_follows(
    session: AsyncSession, actor: Account, wishes: list[FollowWish]
) -> dict[int, DomainError]:
    """Follow many accounts at once (a CSV import's batch), every rule of `follow` kept, in a
    constant number of statements for the accounts followed at once (requests to locked or
    remote accounts are one each). In the caller's transaction; nothing is written for a
    refused one. Returns the refusals by target id: yourself (Invalid), a block either way
    (Forbidden)."""
    ids = {w.target.id for w in wishes}
    blocked = await _blocked_either_way(session, actor.id, ids)
    existing = {
        f.target_account_id: f
        for f in await session.scalars(
            select(Follow).where(Follow.account_id == actor.id, Follow.target_account_id.in_(ids))
        )
    }
    refused: dict[int, DomainError] = {}
    creating: list[FollowWish] = []
    for wish in wishes:
        target = wish.target
        if target.id == actor.id:
            refused[target.id] = Invalid("Validation failed: You cannot follow yourself")
        elif target.id in blocked:
            refused[target.id] = Forbidden("This action is not allowed")
        elif target.id in existing:
            existing[target.id].show_reblogs = wish.reblogs
            existing[target.id].notify = wish.notify
        elif target.locked or target.domain is not None:  # a remote account answers with Accept
            await _request_follow(session, actor, wish)
        else:
            creating.append(wish)
    rows = [FollowRow(actor.id, w.target.id, w.reblogs, w.notify, w.uri) for w in creating]
    await _create_follows(session, rows)
    return refused


async def _blocked_either_way(session: AsyncSession, actor_id: int, ids: set[int]) -> set[int]:
    """Those of `ids` that block the actor or that the actor blocks."""
    rows = await session.execute(
        select(Block.account_id, Block.target_account_id).where(
            or_(
                and_(Block.account_id == actor_id, Block.target_account_id.in_(ids)),
                and_(Block.target_account_id == actor_id, Block.account_id.in_(ids)),
            )
        )
    )
    return {target if src == actor_id else src for src, target in rows}


async def _request_follow(session: AsyncSession, actor: Account, wish: FollowWish) -> None:
    target, request_id = wish.target, new_id()
    inserted = await session.execute(
        insert_ignore(session, FollowRequest).values(
            id=request_id,
            account_id=actor.id,
            target_account_id=target.id,
            show_reblogs=wish.reblogs,
            notify=wish.notify,
            uri=wish.uri,
        )
    )
    if affected_rows(inserted) and target.domain is not None:  # sent by federation/outbox.py
        enqueue(session, JobKind.FEDERATE_FOLLOW, {"request_id": request_id})
    elif affected_rows(inserted):
        enqueue(
            session,
            JobKind.NOTIFY,
            _follow_notice("follow_request", target.id, actor.id, request_id),
        )


def _follow_notice(
    kind: Literal["follow", "follow_request"], to: int, by: int, activity_id: int
) -> NotifyJob:
    return {
        "type": kind,
        "account_id": to,
        "from_account_id": by,
        "post_id": None,
        "activity_id": activity_id,
    }


@dataclass(frozen=True, slots=True)
class FollowRow:
    """A follow to create: who follows whom, with its options."""

    follower: int
    target: int
    reblogs: bool
    notify: bool
    uri: str | None = None


async def _create_follow(
    session: AsyncSession,
    follower: int,
    target: int,
    reblogs: bool,
    notify: bool,
    *,
    announce: bool = True,
    uri: str | None = None,
) -> None:
    await _create_follows(session, [FollowRow(follower, target, reblogs, notify, uri)], announce)


async def _create_follows(
    session: AsyncSession, rows: list[FollowRow], announce: bool = True
) -> None:
    """Create the follows not there yet (one INSERT), then their counts (one UPDATE per
    distinct change), feed merges and `follow` notifications (unless `announce` is False)."""
    if not rows:
        return
    values = [
        {
            "id": new_id(),
            "account_id": r.follower,
            "target_account_id": r.target,
            "show_reblogs": r.reblogs,
            "notify": r.notify,
            "uri": r.uri,
        }
        for r in rows
    ]
    result = await session.execute(
        insert_ignore(session, Follow)
        .values(values)
        .returning(Follow.id, Follow.account_id, Follow.target_account_id)
    )
    rows_back: list[Any] = list(result)  # (follow id, follower, target) of each inserted
    inserted: list[tuple[int, int, int]] = [(r[0], r[1], r[2]) for r in rows_back]
    following: dict[int, int] = {}
    followers: dict[int, int] = {}
    for follow_id, follower, target in sorted(inserted):
        following[follower] = following.get(follower, 0) + 1
        followers[target] = followers.get(target, 0) + 1
        enqueue(
            session, JobKind.MERGE_INTO_FEED, {"account_id": follower, "target_account_id": target}
        )
        if announce:
            enqueue(session, JobKind.NOTIFY, _follow_notice("follow", target, follower, follow_id))
    await _add_to_counts(session, Account.following_count, following)
    await _add_to_counts(session, Account.followers_count, followers)


async def _add_to_counts(session: AsyncSession, column: Any, deltas: dict[int, int]) -> None:
    """Add each account's delta to `column`: one UPDATE per distinct delta."""
    by_delta: dict[int, list[int]] = {}
    for account_id, delta in deltas.items():
        by_delta.setdefault(delta, []).append(account_id)
    for delta, ids in sorted(by_delta.items()):
        await session.execute(
            update(Account).where(Account.id.in_(ids)).values({column: column + delta})
        )


async def _remove_follow(session: AsyncSession, follower: int, target: int) -> bool:
    removed = await session.execute(
        delete(Follow).where(Follow.account_id == follower, Follow.target_account_id == target)
    )
    if affected_rows(removed):
        await _adjust_follow_counts(session, follower, target, -1)
        enqueue(
            session,
            JobKind.UNMERGE_FROM_FEED,
            {"account_id": follower, "target_account_id": target},
        )
    return bool(affected_rows(removed))


async def unfollow(session: AsyncSession, actor: Account, target_id: int) -> None:
    """Stop following (or withdraw a follow request). In the caller's transaction."""
    await stop_following(session, actor, await get_account(session, target_id))


async def stop_following(session: AsyncSession, actor: Account, target: Account) -> None:
    """`unfollow`, in the caller's transaction."""
    await _remove_follow(session, actor.id, target.id)
    await _drop_requests(session, (actor.id, target.id))
    if target.domain is not None and actor.domain is None:  # Undo(Follow), federation/outbox.py
        enqueue(
            session,
            JobKind.FEDERATE_UNFOLLOW,
            {"account_id": actor.id, "target_account_id": target.id},
        )


async def remove_from_followers(session: AsyncSession, actor: Account, follower_id: int) -> None:
    """Make `follower_id` stop following the actor (a remote follower is sent Reject of its
    Follow, as Mastodon does). In the caller's transaction."""
    follower = await get_account(session, follower_id)
    uri = await session.scalar(
        select(Follow.uri).where(
            Follow.account_id == follower.id, Follow.target_account_id == actor.id
        )
    )
    if await _remove_follow(session, follower.id, actor.id):
        schedule_follow_answer(session, actor, follower, uri, accept=False)


async def drop_follower(session: AsyncSession, account_id: int, follower_id: int) -> None:
    """End `follower_id`'s follow of (or request to) `account_id`, in the caller's
    transaction (a domain block, a moved account)."""
    await _remove_follow(session, follower_id, account_id)
    await _drop_requests(session, (follower_id, account_id))


async def answer_follow_request(
    session: AsyncSession, actor: Account, requester_id: int, accept: bool
) -> None:
    """Accept or reject a pending follow request addressed to the actor. In the caller's
    transaction."""
    request = await session.scalar(
        select(FollowRequest).where(
            FollowRequest.account_id == requester_id, FollowRequest.target_account_id == actor.id
        )
    )
    if request is None:
        raise NotFound()
    reblogs, notify = request.show_reblogs, request.notify
    await _answer_remote(session, actor, request, accept)
    await _drop_requests(session, (requester_id, actor.id))
    if accept:  # the target said yes: no `follow` notification for it, as on Mastodon
        await _create_follow(
            session, requester_id, actor.id, reblogs, notify, announce=False, uri=request.uri
        )


async def accept_all_requests(session: AsyncSession, account: Account) -> int:
    """Accept every pending request to `account` (it was unlocked, as Mastodon does). Does not
    commit: runs in the caller's transaction. Returns how many were accepted."""
    requests = (
        await session.scalars(
            select(FollowRequest).where(FollowRequest.target_account_id == account.id)
        )
    ).all()
    for request in requests:
        reblogs, notify = request.show_reblogs, request.notify
        await _answer_remote(session, account, request, True)
        await _drop_requests(session, (request.account_id, account.id))
        await _create_follow(
            session,
            request.account_id,
            account.id,
            reblogs,
            notify,
            announce=False,
            uri=request.uri,
        )
    return len(requests)


async def _answer_remote(
    session: AsyncSession, target: Account, request: FollowRequest, accept: bool
) -> None:
    """Tell a remote requester the answer to its Follow (nothing for a local one)."""
    if request.uri:
        requester = await session.get(Account, request.account_id)
        if requester is not None:
            schedule_follow_answer(session, target, requester, request.uri, accept)


async def pending_requests_count(session: AsyncSession, account_id: int, cap: int = 40) -> int:
    """Follow requests waiting for the account's answer, counted up to `cap` as Mastodon does."""
    waiting = (
        select(FollowRequest.id)
        .where(FollowRequest.target_account_id == account_id)
        .limit(cap)
        .subquery()
    )
    return int(await session.scalar(select(func.count()).select_from(waiting)) or 0)


async def _drop_requests(session: AsyncSession, *pairs: tuple[int, int]) -> None:
    """Delete the pending requests (requester, target) and their `follow_request`
    notifications, so clients offer no accept button for a request that is gone."""
    for requester, target in pairs:
        match = and_(
            FollowRequest.account_id == requester, FollowRequest.target_account_id == target
        )
        await session.execute(
            delete(Notification).where(
                Notification.account_id == target,
                Notification.type == "follow_request",
                Notification.activity_id.in_(select(FollowRequest.id).where(match)),
            )
        )
        await session.execute(delete(FollowRequest).where(match))


async def block(session: AsyncSession, actor: Account, target_id: int) -> None:
    """Block an account: follows both ways end, and neither sees the other. In the caller's
    transaction."""
    target = await get_account(session, target_id)
    if target.id == actor.id:
        raise Invalid("Validation failed: You cannot block yourself")
    await _remove_follow(session, actor.id, target.id)
    await _remove_follow(session, target.id, actor.id)
    await _drop_requests(session, (actor.id, target.id), (target.id, actor.id))
    await session.execute(
        insert_ignore(session, Block).values(
            id=new_id(), account_id=actor.id, target_account_id=target.id
        )
    )
    for owner, author in ((actor.id, target.id), (target.id, actor.id)):
        enqueue(
            session, JobKind.UNMERGE_FROM_FEED, {"account_id": owner, "target_account_id": author}
        )
    _federate_block(session, actor, target, undo=False)


def _federate_block(session: AsyncSession, actor: Account, target: Account, *, undo: bool) -> None:
    """Block / Undo(Block) to a remote account's server (federation/outbound_moderation.py)."""
    if actor.domain is None and target.domain is not None:
        enqueue(
            session,
            JobKind.FEDERATE_BLOCK,
            {"account_id": actor.id, "target_account_id": target.id, "undo": undo},
        )


async def unblock(session: AsyncSession, actor: Account, target_id: int) -> None:
    """Lift a block. In the caller's transaction."""
    target = await get_account(session, target_id)
    removed = await session.execute(
        delete(Block).where(Block.account_id == actor.id, Block.target_account_id == target.id)
    )
    if affected_rows(removed):
        _federate_block(session, actor, target, undo=True)


async def mute(
    session: AsyncSession,
    actor: Account,
    target_id: int,
    *,
    notifications: bool = True,
    duration: int = 0,
) -> None:
    """Mute an account (optionally its notifications, optionally for `duration` seconds).
    In the caller's transaction."""
    target = await get_account(session, target_id)
    if target.id == actor.id:
        raise Invalid("Validation failed: You cannot mute yourself")
    if duration < 0:
        raise Invalid("Validation failed: duration must be positive")
    if duration > MAX_MUTE_SECONDS:
        raise Invalid("Validation failed: duration is too long (use 0 to mute indefinitely)")
    expires: datetime | None = utcnow() + timedelta(seconds=duration) if duration else None
    await lock_account(session, actor.id)  # one mute per target, also when requests race
    existing = await session.scalar(
        select(Mute).where(Mute.account_id == actor.id, Mute.target_account_id == target.id)
    )
    if existing is None:
        session.add(
            Mute(
                account_id=actor.id,
                target_account_id=target.id,
                hide_notifications=notifications,
                expires_at=expires,
            )
        )
    else:
        existing.hide_notifications, existing.expires_at = notifications, expires
    enqueue(
        session, JobKind.UNMERGE_FROM_FEED, {"account_id": actor.id, "target_account_id": target.id}
    )


async def unmute(session: AsyncSession, actor: Account, target_id: int) -> None:
    """Lift a mute. In the caller's transaction."""
    target = await get_account(session, target_id)
    await session.execute(
        delete(Mute).where(Mute.account_id == actor.id, Mute.target_account_id == target.id)
    )
