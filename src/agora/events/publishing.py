"""Events leave only when the transaction that produced them commits: `publish_after_commit`
keeps them on the session and SQLAlchemy's commit hook hands them to the process's bus; a
rollback forgets them, so a change that was rolled back is never announced; the rollback of a
savepoint forgets those published since it began (a job of a batch that failed,
jobs/queue.py)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from agora.events.event_kinds import LiveEvent
from agora.events.process_bus import get_bus

log = logging.getLogger("agora.events")
PENDING_KEY = "agora_live_events"
MARKS_KEY = "agora_live_event_marks"  # savepoint -> how many events were pending when it began


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
    forgets what it would have announced; a savepoint's rollback, what was published since it
    began."""
    if not previous_transaction.nested:
        session.info.pop(PENDING_KEY, None)
        return
    mark = session.info.get(MARKS_KEY, {}).get(previous_transaction)
    pending = session.info.get(PENDING_KEY)
    if mark is not None and pending is not None:
        del pending[mark:]


@sa_event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: Any) -> None:
    """Remember how many events were pending when a savepoint began."""
    if transaction.nested:
        marks = session.info.setdefault(MARKS_KEY, {})
        marks[transaction] = len(session.info.get(PENDING_KEY, ()))


@sa_event.listens_for(Session, "after_transaction_end")
def _unmark_savepoints(session: Session, transaction: Any) -> None:
    """Forget the savepoints' marks when the outermost transaction ends (a savepoint's own end
    comes before its `after_soft_rollback`, which needs its mark)."""
    if transaction.parent is None:
        session.info.pop(MARKS_KEY, None)
