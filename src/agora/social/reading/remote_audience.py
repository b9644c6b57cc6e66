"""Whether a local change has an audience on other servers, and the jobs that send it there:
the service side of federation's outbox (federation/outbox.py works out the inboxes and
delivers). Each job is written in the transaction of the change, so nothing is sent for a
change that rolled back; and only when someone on another server is concerned, so a server
without federation runs no extra job.

Who is concerned: by a post, a remote follower of its author (unless it is direct), a remote
account it mentions, the remote author of the post it answers; by a like, the liked post's
remote author; by a boost, the booster's remote followers and the boosted post's remote
author; by a profile change, the person's remote followers; by the answer to a follow
request, the remote requester; by an account's deletion, every server where a remote account
followed it, was followed by it or asked to (the inboxes are taken in the deletion's own
transaction, before the `delete_account` job erases the follows); by an account's move, its
remote followers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, Follow, FollowRequest, Mention, Post, Visibility
from agora.jobs.job_kinds import JobKind
from agora.jobs.queue import enqueue


def _remote_follower(account_id: int | ColumnElement[int]) -> ColumnElement[bool]:
    """SQL condition: someone on another server follows the account (an id, or a bound
    parameter for a statement built once)."""
    # from the remote accounts (few; `ix_accounts_remote`) to the follows' unique key, not
    # through every follower of the author
    follows = exists().where(
        Follow.account_id == Account.id, Follow.target_account_id == account_id
    )
    return exists(select(Account.id).where(Account.domain.is_not(None), follows))


async def has_remote_follower(session: AsyncSession, account_id: int) -> bool:
    """Whether anyone on another server follows the account."""
    return bool(await session.scalar(select(_remote_follower(account_id))))


async def _is_remote(session: AsyncSession, account_id: int | None) -> bool:
    if account_id is None:
        return False
    return bool(await session.scalar(select(Account.domain).where(Account.id == account_id)))


async def has_remote_audience(session: AsyncSession, post: Post) -> bool:
    """Whether a local post has anyone on another server to go to (see the module
    docstring): `federate_post` is written only then. One statement: a remote account it
    mentions, the remote author it answers, a remote follower of its author (not for a
    direct post)."""
    remote = Account.domain.is_not(None)
    concerned: list[ColumnElement[bool]] = [
        exists().where(Mention.post_id == post.id, Mention.account_id == Account.id, remote)
    ]
    if post.visibility != Visibility.DIRECT:
        if post.in_reply_to_account_id is not None:
            concerned.append(exists().where(Account.id == post.in_reply_to_account_id, remote))
        concerned.append(_remote_follower(post.account_id))
    return bool(await session.scalar(select(or_(*concerned))))


@dataclass(frozen=True, slots=True)
class AudienceFacts:
    """What decides a new post's remote audience, as its writer learns it on the way
    (`concerns_other_servers`): whether it mentions an account of another server, whether
    it answers one, whether its author has followers there."""

    mentions_remote: bool
    answers_remote: bool
    followed_remotely: bool


def concerns_other_servers(visibility: int, facts: AudienceFacts) -> bool:
    """`has_remote_audience`'s rule on facts already known (its Python twin; the tests
    check that they agree): a remote account mentioned, and unless the post is direct a
    remote author answered or a remote follower."""
    if facts.mentions_remote:
        return True
    return visibility != Visibility.DIRECT and (facts.answers_remote or facts.followed_remotely)


def remote_reach(
    author: ColumnElement[int], answered: ColumnElement[int]
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """SQL conditions for `AudienceFacts.followed_remotely` and `answers_remote`: the
    `author` has a follower on another server; the `answered` account (NULL: none) is on
    another server. For a writer's one read of what it needs (posts/writing.py)."""
    answers = exists().where(Account.id == answered, Account.domain.is_not(None))
    return _remote_follower(author), answers


async def schedule_federation(
    session: AsyncSession,
    post: Post,
    verb: Literal["create", "update", "delete"],
    facts: AudienceFacts | None = None,
) -> None:
    """Write the `federate_post` job of a local post's Create ("create"), Update ("update")
    or Delete ("delete") in the caller's transaction, when it has a remote audience: asked
    of the database (`has_remote_audience`), or decided on the `facts` its writer read on
    the way (`concerns_other_servers`), no statement."""
    if facts is not None:
        concerned = concerns_other_servers(post.visibility, facts)
    else:
        concerned = await has_remote_audience(session, post)
    if concerned:
        enqueue(session, JobKind.FEDERATE_POST, {"post_id": post.id, "verb": verb})


async def schedule_reaction(
    session: AsyncSession,
    verb: Literal["like", "announce"],
    actor: Account,
    post: Post,
    activity_id: int,
    *,
    undo: bool = False,
    visibility: int = Visibility.PUBLIC,
) -> None:
    """Write the `federate_reaction` job of a local account's like or boost of `post` (the
    original), or of its undo (`activity_id`: the favourite's or the boost's id), when the
    post's author is remote or (a boost) the booster has remote followers."""
    if actor.domain is not None:
        return
    concerned = await _is_remote(session, post.account_id) or (
        verb == "announce" and await has_remote_follower(session, actor.id)
    )
    if concerned:
        enqueue(
            session,
            JobKind.FEDERATE_REACTION,
            {
                "verb": verb,
                "undo": undo,
                "account_id": actor.id,
                "post_id": post.id,
                "activity_id": activity_id,
                "visibility": int(visibility),
            },
        )


async def schedule_profile_update(session: AsyncSession, account: Account) -> None:
    """Write the `federate_profile` job (Update(Person)) of a local account whose profile
    changed, when it has remote followers."""
    if account.domain is None and await has_remote_follower(session, account.id):
        enqueue(session, JobKind.FEDERATE_PROFILE, {"account_id": account.id})


def schedule_follow_answer(
    session: AsyncSession, target: Account, requester: Account, uri: str | None, accept: bool
) -> None:
    """Write the `federate_follow_answer` job (Accept or Reject of the Follow `uri`) when a
    local account answers a remote account's follow request."""
    if target.domain is None and requester.domain is not None and uri:
        enqueue(
            session,
            JobKind.FEDERATE_FOLLOW_ANSWER,
            {
                "account_id": target.id,
                "follower_id": requester.id,
                "follow_uri": uri,
                "accept": accept,
            },
        )


async def schedule_account_deletion(session: AsyncSession, account_id: int) -> None:
    """Write the `federate_account_delete` job (Delete of the actor) of a local account being
    deleted, with the inboxes of every remote account that follows it, that it follows, or
    that asked either way (one per shared inbox), in the caller's transaction; none when
    no remote account knows it."""
    related = or_(
        Account.id.in_(select(Follow.account_id).where(Follow.target_account_id == account_id)),
        Account.id.in_(select(Follow.target_account_id).where(Follow.account_id == account_id)),
        Account.id.in_(
            select(FollowRequest.account_id).where(FollowRequest.target_account_id == account_id)
        ),
        Account.id.in_(
            select(FollowRequest.target_account_id).where(FollowRequest.account_id == account_id)
        ),
    )
    rows = await session.scalars(
        select(func.coalesce(Account.shared_inbox_url, Account.inbox_url))
        .where(Account.domain.is_not(None), related)
        .distinct()
    )
    inboxes = sorted({inbox for inbox in rows if inbox})
    if inboxes:
        enqueue(
            session,
            JobKind.FEDERATE_ACCOUNT_DELETE,
            {"account_id": account_id, "inboxes": inboxes},
        )


async def schedule_move(session: AsyncSession, account: Account, target: Account) -> None:
    """Write the `federate_move` job (Move to `target`) of a local account that moved, when
    it has remote followers."""
    if account.domain is None and await has_remote_follower(session, account.id):
        enqueue(
            session,
            JobKind.FEDERATE_MOVE,
            {"account_id": account.id, "target_account_id": target.id},
        )
