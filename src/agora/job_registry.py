"""Which function handles each kind of background job. The application registers them with
the queue when it starts (`create_app`, `agora worker`, the tests' worker and the benchmarks
call `register_all_jobs`), so that importing a service never has that side effect and the
job layer imports no service."""

from __future__ import annotations

from typing import Any

from agora.ai import mentions
from agora.federation import inbox, outbox
from agora.jobs.job_kinds import JobKind
from agora.jobs.queue import Handler, SlowJob, register_jobs
from agora.social.media import uploads
from agora.social.people import reports
from agora.social.posts import polls
from agora.social.reading import fan_out, notifications
from agora.webpush import delivery

# Each handler reads its kind's payload, the one `enqueue`'s overloads require (a test checks).
HANDLERS: dict[str, Handler] = {
    JobKind.NOTIFY: notifications.notify_job,
    JobKind.POST_DELETED: notifications.forget_deleted_post,
    JobKind.MERGE_INTO_FEED: fan_out.merge_into_feed,
    JobKind.UNMERGE_FROM_FEED: fan_out.unmerge_from_feed,
    JobKind.POST_EDITED: fan_out.post_edited,
    JobKind.POLL_EXPIRED: polls.poll_expired,
    JobKind.SWEEP_UNATTACHED_MEDIA: uploads.sweep_unattached_media,
    JobKind.DELETE_MEDIA: uploads.delete_media,
    JobKind.REPORT_FILED: reports.notify_admins,
    JobKind.AP_INBOX: inbox.process,
    JobKind.FEDERATE_POST: outbox.federate_post,
    JobKind.FEDERATE_FOLLOW: outbox.federate_follow,
    JobKind.FEDERATE_UNFOLLOW: outbox.federate_unfollow,
}
SLOW_JOBS: dict[str, SlowJob[Any, Any]] = {
    JobKind.DISTRIBUTE_POST: SlowJob(prepare=fan_out.fan_out, apply=fan_out.finish_distribution),
    JobKind.ASSISTANT_REPLY: SlowJob(
        prepare=mentions.prepare, apply=mentions.apply, on_dead=mentions.on_dead
    ),
    JobKind.AP_DELIVER: SlowJob(prepare=outbox.send_delivery, apply=outbox.delivery_sent),
    JobKind.WEB_PUSH: SlowJob(prepare=delivery.send_push, apply=delivery.push_sent),
}


def register_all_jobs() -> None:
    """Register every job kind's handler with the queue (idempotent)."""
    register_jobs(HANDLERS, SLOW_JOBS)
