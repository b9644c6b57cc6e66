"""Received Block, Undo(Block), Flag, Move and Delete of an actor: moderation across servers.

- Block: a remote account blocks a local one: `relationships.block` (follows end both ways,
  neither sees the other); Undo(Block) lifts it.
- Flag: a report from another server naming local accounts (and posts of theirs) lands in
  the admins' queue through `reports.receive_report`, with the sending actor (usually the
  other server's instance actor) as the reporter; dropped when this server rejects reports
  from that domain (`domain_blocks.accepts_reports`).
- Move: the actor says it moved to `target`. A remote target is not believed yet: an
  `ap_move` job fetches it outside any transaction (`verify_move`), which must name the actor
  in its `alsoKnownAs`; a local target must have the actor among its aliases (set by its
  owner, published as its `alsoKnownAs`), and is moved to at once. Either way the local
  followers move with `remote_accounts.move_followers`, the one function a local person's
  own move (social/people/account_moves.py) uses too. An actor that moved less than 30 days
  ago (`remote_accounts.may_move`) is not moved again: the Move is dropped (logged).
- Delete whose object is the actor itself: the account is gone (`remote_accounts
  .forget_deleted`); any other Delete is a post's and goes to inbound_posts.

A server this one suspended never gets here: inbox.receive refuses its deliveries.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import Database
from agora.db.models import Account
from agora.federation import inbound_posts
from agora.federation.actors import fetch_signed, parse_actor, store_actor
from agora.federation.client import FederationError
from agora.federation.inbound_common import Handler, id_of, local_account
from agora.jobs.job_kinds import JobKind, MoveJob
from agora.jobs.queue import enqueue
from agora.social.people import domain_blocks, relationships, remote_accounts, reports
from agora.social.posts.post_uris import is_local_uri, local_post_ref

log = logging.getLogger("agora.federation")
MOVE_ATTEMPTS = 5


async def _block(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    target = await local_account(session, id_of(activity.get("object")))
    if target is not None:
        await relationships.block(session, actor, target.id)


async def _undo_block(session: AsyncSession, actor: Account, undone: dict[str, Any]) -> None:
    target = await local_account(session, id_of(undone.get("object")))
    if target is not None:
        await relationships.unblock(session, actor, target.id)


def _objects(activity: dict[str, Any]) -> list[str]:
    value = activity.get("object")
    items = value if isinstance(value, list) else [value]
    return [i for i in (id_of(v) for v in items[:200]) if i]


async def _flag(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    if not await domain_blocks.accepts_reports(session, actor.domain):
        log.info("inbox: a report from %s is rejected by a domain block", actor.domain)
        return
    uris = _objects(activity)
    post_ids = [ref[1] for ref in (local_post_ref(u) for u in uris) if ref is not None]
    content = activity.get("content")
    comment = content if isinstance(content, str) else ""
    targets = [a for a in [await local_account(session, u) for u in uris] if a is not None]
    for target in {t.id: t for t in targets}.values():
        await reports.receive_report(session, actor, target, post_ids, comment)


async def _move(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    target = id_of(activity.get("target"))
    if id_of(activity.get("object")) != actor.uri or not target or target == actor.uri:
        return
    if is_local_uri(target):
        local = await local_account(session, target)
        if local is None or actor.uri not in (local.also_known_as or []):
            log.info("inbox: %s does not name %s as an alias; Move ignored", target, actor.uri)
            return
        if local.suspended_at is None and local.id != actor.id and _may_move(actor):
            await remote_accounts.move_followers(session, actor, local)
        return
    if not _may_move(actor):
        return
    payload: MoveJob = {"account_id": actor.id, "target": target}
    enqueue(session, JobKind.AP_MOVE, payload, max_attempts=MOVE_ATTEMPTS)


def _may_move(actor: Account) -> bool:
    if remote_accounts.may_move(actor):
        return True
    log.info("inbox: %s moved less than 30 days ago; Move ignored", actor.uri)
    return False


async def _delete(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    if id_of(activity.get("object")) == actor.uri:
        await remote_accounts.forget_deleted(session, actor)
    else:
        await inbound_posts.HANDLERS["Delete"](session, actor, activity)


HANDLERS: dict[str, Handler] = {"Block": _block, "Flag": _flag, "Move": _move, "Delete": _delete}
UNDO_HANDLERS: dict[str, Handler] = {"Block": _undo_block}


# --- the `ap_move` job ---------------------------------------------------------------------


async def verify_move(db: Database, payload: MoveJob) -> int | None:
    """Fetch the Move's target (outside any transaction) and store it; its account id when its
    `alsoKnownAs` names the moving account, None otherwise (the Move is then ignored)."""
    async with db.session() as session:
        old = await session.get(Account, payload["account_id"])
        refused = await domain_blocks.refuses(session, urlsplit(payload["target"]).netloc.lower())
    if old is None or old.uri is None or refused:
        return None
    try:
        actor = parse_actor(await fetch_signed(db, payload["target"]), payload["target"])
    except FederationError as exc:
        log.info("inbox: the target of a Move cannot be fetched: %s", exc)
        raise
    if old.uri not in actor.also_known_as:
        log.info("inbox: %s does not name %s in alsoKnownAs; Move ignored", actor.uri, old.uri)
        return None
    async with db.session(write=True) as session:
        account = await store_actor(session, actor)
        await session.commit()
        return account.id


async def apply_move(session: AsyncSession, payload: MoveJob, new_id: int | None) -> None:
    """Move the local followers of the old account to the verified new one."""
    if new_id is None:
        return
    old = await session.get(Account, payload["account_id"])
    new = await session.get(Account, new_id)
    if old is None or new is None or old.id == new.id or new.suspended_at is not None:
        return
    if _may_move(old):
        await remote_accounts.move_followers(session, old, new)
