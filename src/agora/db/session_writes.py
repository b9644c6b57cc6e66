"""Whether a session has written in its open transaction: what a cache asks before keeping
anything it read there (a rendering or a page of a change that is then rolled back could be
found later under the versions or stamps the next real change takes).

Also what `engine.end_read_transaction` asks before committing a transaction early.

Set by SQLAlchemy's events on every ORM flush and every INSERT / UPDATE / DELETE executed
through the session; cleared when the session's outermost transaction ends (commit,
rollback or close), never by a savepoint's end."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

WROTE_KEY = "agora_wrote_uncommitted"


def has_written(session: AsyncSession | Session) -> bool:
    """Whether `session` has written in its open transaction (not committed yet)."""
    held = session.sync_session if isinstance(session, AsyncSession) else session
    return bool(held.info.get(WROTE_KEY))


@sa_event.listens_for(Session, "after_flush")
def _flushed(session: Session, flush_context: Any) -> None:
    session.info[WROTE_KEY] = True


@sa_event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[WROTE_KEY] = True


@sa_event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(WROTE_KEY, None)
