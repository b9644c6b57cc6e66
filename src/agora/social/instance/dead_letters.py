"""The admins' side of the job queue (the console's queue page): counts per kind, the dead
letters with their errors, and retrying or discarding one. The queue itself is
jobs/queue.py (the CLI's `agora jobs retry` uses the same `requeue_dead`); this module adds
the moderation log entry each admin action leaves, in the action's own transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, Job
from agora.jobs.job_kinds import JobState
from agora.jobs.queue import counts_by_kind, dead_letters, discard_dead, requeue_dead
from agora.social.people.moderation import log_server_action
from agora.social.rules.errors import NotFound

__all__ = ["counts_by_kind", "dead_letters", "discard", "retry"]


async def retry(session: AsyncSession, job_id: int, *, by: Account | None) -> None:
    """Put one dead letter back in the queue with a fresh attempt budget; logged
    (`job_retry`). NotFound when it is not a dead job (already retried, or done). Commits."""
    job = await session.get(Job, job_id)
    if job is None or job.state != JobState.DEAD or not await requeue_dead(session, job_id):
        raise NotFound("No such dead job")
    log_server_action(session, by, "job_retry", f"job {job_id} ({job.kind})")
    await session.commit()


async def discard(session: AsyncSession, job_id: int, *, by: Account | None) -> None:
    """Delete one dead letter for good; logged (`job_discard`, with its last error). NotFound
    when it is not a dead job. Commits."""
    job = await discard_dead(session, job_id)
    if job is None:
        raise NotFound("No such dead job")
    error = (job.last_error or "").splitlines()[-1:] or [""]
    log_server_action(session, by, "job_discard", f"job {job_id} ({job.kind}): {error[0]}"[:5000])
    await session.commit()
