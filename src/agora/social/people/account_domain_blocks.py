"""A person's blocks of whole servers (Mastodon's `/api/v1/domain_blocks`).

A person who blocks a domain no longer sees its accounts' posts in any listing nor gets their
notifications (visibility.hidden_by_domain_blocks, asked by `timeline_filter`, search and
notifications._suppressed: the rule is there, not here), and loses their followers on that
domain at once (as Mastodon does); the relationship says `domain_blocking`. The block names
exactly one domain (not its subdomains, as on Mastodon).
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, AccountDomainBlock, Follow, FollowRequest
from agora.db.upsert import insert_ignore
from agora.ids import new_id
from agora.social.people import relationships
from agora.social.people.domain_blocks import other_domain
from agora.social.rules.paging import Page, Slice, apply_page, slice_of


async def block_domain(session: AsyncSession, actor: Account, text: str) -> None:
    """Block a server for `actor`: its followers there stop following, its pending follow
    requests from there are dropped; blocking twice changes nothing. In the caller's
    transaction."""
    domain = other_domain(text)
    await session.execute(
        insert_ignore(session, AccountDomainBlock).values(
            id=new_id(), account_id=actor.id, domain=domain
        )
    )
    followers = await session.scalars(
        select(Follow.account_id)
        .join(Account, Account.id == Follow.account_id)
        .where(Follow.target_account_id == actor.id, Account.domain == domain)
    )
    requesters = await session.scalars(
        select(FollowRequest.account_id)
        .join(Account, Account.id == FollowRequest.account_id)
        .where(FollowRequest.target_account_id == actor.id, Account.domain == domain)
    )
    for follower in {*followers.all(), *requesters.all()}:
        await relationships.drop_follower(session, actor.id, follower)


async def unblock_domain(session: AsyncSession, actor: Account, text: str) -> None:
    """Lift `actor`'s block of a server (nothing happens when there is none). In the caller's
    transaction."""
    domain = other_domain(text)
    await session.execute(
        delete(AccountDomainBlock).where(
            AccountDomainBlock.account_id == actor.id, AccountDomainBlock.domain == domain
        )
    )


async def blocked_domains(session: AsyncSession, account_id: int, page: Page) -> Slice[str]:
    """A page of the domains the person blocked, newest first."""
    rows = (
        await session.execute(
            apply_page(
                select(AccountDomainBlock.id, AccountDomainBlock.domain).where(
                    AccountDomainBlock.account_id == account_id
                ),
                AccountDomainBlock.id,
                page,
            )
        )
    ).all()
    return slice_of(rows, page)


async def blocking_domains(session: AsyncSession, account_id: int, domains: set[str]) -> set[str]:
    """Which of `domains` the person blocked (for relationships)."""
    if not domains:
        return set()
    rows = await session.scalars(
        select(AccountDomainBlock.domain).where(
            AccountDomainBlock.account_id == account_id, AccountDomainBlock.domain.in_(domains)
        )
    )
    return set(rows)
