"""Moderation sent to other servers: Block / Undo(Block) when a local person blocks or unblocks
a remote account, and Flag when a local report about a remote account is forwarded.

Both are jobs written in the transaction of the change (`federate_block` by
relationships.block / unblock, `federate_report` by reports.create_report with `forward`);
they write the signed `ap_deliver` jobs, which send nothing to a server this one suspended
(outbox.send_delivery asks domain_blocks.refuses).

Who sends a Flag: the instance actor (`/actor`, federation/instance_actor.py), as on
Mastodon, so the reporter stays anonymous to the other server: the activity names no local
person and its deliveries are keyed to no account (`account_id` None: the instance actor's
key signs them, outbox.send_delivery).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, Post, Report
from agora.federation import activities
from agora.federation.actors import base_url
from agora.federation.keys import instance_actor_uri
from agora.federation.outbox import deliver
from agora.ids import new_id
from agora.jobs.job_kinds import FederateBlockJob, FederateReportJob


def _inbox(account: Account) -> set[str]:
    return {account.shared_inbox_url or account.inbox_url or ""} - {""}


async def federate_block(session: AsyncSession, payload: FederateBlockJob) -> None:
    """Send Block (or Undo(Block)) from a local account to a remote one's server."""
    actor = await session.get(Account, payload["account_id"])
    target = await session.get(Account, payload["target_account_id"])
    if actor is None or target is None or actor.domain is not None or target.domain is None:
        return
    block = activities.block_activity(f"{base_url()}/blocks/{new_id()}", actor, target)
    activity = activities.undo_activity(actor, block) if payload["undo"] else block
    deliver(session, actor, _inbox(target), activity)


async def federate_report(session: AsyncSession, payload: FederateReportJob) -> None:
    """Forward a report about a remote account to its server as Flag: the account, the
    reported posts of it (by their ids there) and the comment."""
    report = await session.get(Report, payload["report_id"])
    if report is None or not report.forwarded:
        return
    target = await session.get(Account, report.target_account_id)
    if target is None or target.domain is None:
        return
    uris = [
        uri
        for uri in await session.scalars(
            select(Post.uri).where(Post.id.in_(report.status_ids), Post.account_id == target.id)
        )
        if uri
    ]
    flag = activities.flag_activity(
        f"{base_url()}/reports/{report.id}",
        instance_actor_uri(),
        target,
        sorted(uris),
        report.comment,
    )
    deliver(session, None, _inbox(target), flag)
