"""Endorsements (Mastodon's account pins): accounts a person features on their profile, and
private notes a person keeps on other accounts.

Invariants: only an account one follows may be endorsed (422 otherwise), at most
`limits.ENDORSEMENTS` per person; an endorsement whose follow has ended is kept but never
listed (every reader joins the follow), so unfollowing, blocking or a move hides it at once.
A note is the writer's alone: it is read only into the writer's own Relationship.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, AccountEndorsement, AccountNote, Follow, utcnow
from agora.db.upsert import insert_ignore
from agora.social.people.lookup import get_account
from agora.social.rules import limits
from agora.social.rules.errors import Invalid

MAX_NOTE = 2000


async def endorse(session: AsyncSession, account_id: int, target_id: int) -> None:
    """Feature an account one follows on one's profile (idempotent). Commits."""
    await get_account(session, target_id)
    follows = await session.scalar(
        select(Follow.id).where(
            Follow.account_id == account_id, Follow.target_account_id == target_id
        )
    )
    if follows is None:
        raise Invalid(
            "Validation failed: You must be already following the person you want to feature"
        )
    already = await session.scalar(
        select(AccountEndorsement.id).where(
            AccountEndorsement.account_id == account_id,
            AccountEndorsement.target_account_id == target_id,
        )
    )
    if already is None:
        await limits.enforce(session, limits.ENDORSEMENTS, account_id)
        await session.execute(
            insert_ignore(session, AccountEndorsement).values(
                account_id=account_id, target_account_id=target_id, created_at=utcnow()
            )
        )
    await session.commit()


async def unendorse(session: AsyncSession, account_id: int, target_id: int) -> None:
    """Stop featuring an account (idempotent; NotFound for an unknown account). Commits."""
    await get_account(session, target_id)
    await session.execute(
        delete(AccountEndorsement).where(
            AccountEndorsement.account_id == account_id,
            AccountEndorsement.target_account_id == target_id,
        )
    )
    await session.commit()


async def endorsed_ids(session: AsyncSession, account_id: int) -> list[int]:
    """The accounts a person features and still follows, oldest endorsement first, never a
    suspended one."""
    rows = await session.scalars(
        select(AccountEndorsement.target_account_id)
        .join(
            Follow,
            (Follow.account_id == AccountEndorsement.account_id)
            & (Follow.target_account_id == AccountEndorsement.target_account_id),
        )
        .join(Account, Account.id == AccountEndorsement.target_account_id)
        .where(AccountEndorsement.account_id == account_id, Account.suspended_at.is_(None))
        .order_by(AccountEndorsement.id)
    )
    return list(rows)


async def endorsed_among(session: AsyncSession, account_id: int, ids: list[int]) -> set[int]:
    """Which of `ids` the person endorses (for the Relationship's `endorsed`)."""
    rows = await session.scalars(
        select(AccountEndorsement.target_account_id).where(
            AccountEndorsement.account_id == account_id,
            AccountEndorsement.target_account_id.in_(ids),
        )
    )
    return set(rows)


async def set_note(session: AsyncSession, account_id: int, target_id: int, comment: str) -> None:
    """Keep (or, with an empty comment, remove) one's private note on an account. Commits."""
    await get_account(session, target_id)
    comment = (comment or "").strip()
    if len(comment) > MAX_NOTE:
        raise Invalid(f"Validation failed: Comment is too long (maximum is {MAX_NOTE} characters)")
    await session.execute(
        delete(AccountNote).where(
            AccountNote.account_id == account_id, AccountNote.target_account_id == target_id
        )
    )
    if comment:
        session.add(
            AccountNote(
                account_id=account_id,
                target_account_id=target_id,
                comment=comment,
                updated_at=utcnow(),
            )
        )
    await session.commit()


async def notes_on(session: AsyncSession, account_id: int, ids: list[int]) -> dict[int, str]:
    """The person's notes on each of `ids` that has one."""
    rows = await session.execute(
        select(AccountNote.target_account_id, AccountNote.comment).where(
            AccountNote.account_id == account_id, AccountNote.target_account_id.in_(ids)
        )
    )
    return {target: comment for target, comment in rows}
