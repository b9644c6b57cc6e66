"""Events leave only when the transaction that produced them commits: `publish_after_commit`
keeps them on the session and SQLAlchemy's commit hook hands them to the process's bus; a
rollback forgets them, so a change that was rolled back is never announced."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from agora.events.event_kinds import LiveEvent
from agora.events.process_bus import get_bus

log = logging.getLogger("agora.events")
PENDING_KEY = "agora_live_events"


def publish_after_commit(session: Any, event: LiveEvent) -> None:
    """Publish `event` when the session's current transaction commits; forget it if the
    transaction rolls back. `session` is a Session or an AsyncSession; without a transaction
    in progress one is begun (no I/O), so the event belongs to the transaction that follows."""
    sync = getattr(session, "sync_session", session)
    if not sync.in_transaction():
        sync.begin()
    sync.info.setdefault(PENDING_KEY, []).append(event)


@sa_event.listens_for(Session, "after_commit")
def _publish_pending(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if not pending:
        return
    bus = get_bus()
    for item in pending:
        try:
            bus.publish(item)
        except Exception:  # a live event must never break the write that caused it
            log.exception("could not publish a live event")


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_pending(session: Session, previous_transaction: Any) -> None:
    """Any rollback of the outermost transaction (also one that never reached the database)
    forgets what it would have announced."""
    if not previous_transaction.nested:
        session.info.pop(PENDING_KEY, None)
