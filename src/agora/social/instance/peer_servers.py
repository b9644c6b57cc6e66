"""The servers this one knows (Mastodon's `/api/v1/instance/peers` and the instance's
`domain_count`): the domains of the remote accounts it has stored, less those it suspends
(a suspended server is not advertised as a peer, as Mastodon leaves out blocked ones).

One query over `accounts.domain` (the partial index of remote accounts serves it)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, DomainBlock
from agora.social.people.domain_blocks import covers


async def peers(session: AsyncSession) -> list[str]:
    """The known remote domains, sorted, without those a `suspend` block covers."""
    domains = await session.scalars(
        select(Account.domain).where(Account.domain.is_not(None)).distinct()
    )
    suspended = list(
        await session.scalars(select(DomainBlock.domain).where(DomainBlock.severity == "suspend"))
    )
    return sorted(d for d in domains if d and not any(covers(blocked, d) for blocked in suspended))
