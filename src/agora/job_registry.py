"""Which function handles each kind of background job. The application registers them with
the queue when it starts (`create_app`, `agora worker`, the tests' worker and the benchmarks
call `register_all_jobs`), so that importing a service never has that side effect and the
job layer imports no service."""

from __future__ import annotations

from typing import Any

from agora.ai import mentions
from agora.federation import (
    archive_documents,
    card_fetch,
    csv_import_runs,
    followers_sync,
    inbound_moderation,
    inbox,
    media_fetch,
    outbound_moderation,
    outbound_polls,
    outbox,
    post_fetch,
    thread_fetch,
)
from agora.jobs.job_kinds import JobKind
from agora.jobs.queue import Backoff, Grouping, Handler, SlowJob, Together, register_jobs
from agora.mail import outgoing
from agora.social.community_notes import note_rescoring
from agora.social.media import av_uploads, uploads
from agora.social.people import account_archives, account_deletion, reports
from agora.social.posts import polls, scheduled_posts
from agora.social.reading import fan_out, for_you_precompute, notifications, trends
from agora.webpush import delivery

# Each handler reads its kind's payload, the one `enqueue`'s overloads require (a test checks).
HANDLERS: dict[str, Handler] = {
    JobKind.NOTIFY: notifications.notify_job,
    JobKind.POST_DELETED: fan_out.post_deleted,
    JobKind.MERGE_INTO_FEED: fan_out.merge_into_feed,
    JobKind.UNMERGE_FROM_FEED: fan_out.unmerge_from_feed,
    JobKind.POST_EDITED: fan_out.post_edited,
    JobKind.POLL_EXPIRED: polls.poll_expired,
    JobKind.PUBLISH_SCHEDULED: scheduled_posts.publish_scheduled,
    JobKind.SWEEP_UNATTACHED_MEDIA: uploads.sweep_unattached_media,
    JobKind.SWEEP_EXPIRED_ARCHIVES: account_archives.sweep_expired_archives,
    JobKind.DELETE_MEDIA: uploads.delete_media,
    JobKind.REPORT_FILED: reports.notify_admins,
    JobKind.FEDERATE_POST: outbox.federate_post,
    JobKind.FEDERATE_FOLLOW: outbox.federate_follow,
    JobKind.FEDERATE_UNFOLLOW: outbox.federate_unfollow,
    JobKind.FEDERATE_REACTION: outbox.federate_reaction,
    JobKind.FEDERATE_QUOTE_REVOCATION: outbox.federate_quote_revocation,
    JobKind.FEDERATE_PROFILE: outbox.federate_profile,
    JobKind.FEDERATE_FOLLOW_ANSWER: outbox.federate_follow_answer,
    JobKind.FEDERATE_VOTE: outbound_polls.federate_vote,
    JobKind.FEDERATE_POLL_COUNTS: outbound_polls.federate_poll_counts,
    JobKind.FEDERATE_BLOCK: outbound_moderation.federate_block,
    JobKind.FEDERATE_REPORT: outbound_moderation.federate_report,
    JobKind.FEDERATE_ACCOUNT_DELETE: outbox.federate_account_delete,
    JobKind.DROP_ACCOUNT_KEY: outbox.drop_account_key,
    JobKind.FEDERATE_MOVE: outbox.federate_move,
}
SLOW_JOBS: dict[str, SlowJob[Any, Any]] = {
    JobKind.DISTRIBUTE_POST: SlowJob(prepare=fan_out.fan_out, apply=fan_out.finish_distribution),
    JobKind.ASSISTANT_REPLY: SlowJob(
        prepare=mentions.prepare, apply=mentions.apply, on_dead=mentions.on_dead
    ),
    JobKind.AP_DELIVER: SlowJob(prepare=outbox.send_delivery, apply=outbox.delivery_sent),
    JobKind.AP_INBOX: SlowJob(prepare=inbox.prepare, apply=inbox.apply),
    JobKind.FETCH_PREVIEW_CARD: SlowJob(prepare=card_fetch.fetch_card, apply=card_fetch.keep_card),
    JobKind.CACHE_REMOTE_MEDIA: SlowJob(
        prepare=media_fetch.fetch_image, apply=media_fetch.keep_image, on_dead=media_fetch.give_up
    ),
    JobKind.TRANSCODE_MEDIA: SlowJob(
        prepare=av_uploads.transcode_job,
        apply=av_uploads.keep_transcoded,
        on_dead=av_uploads.transcode_failed,
    ),
    JobKind.FETCH_THREAD: SlowJob(
        prepare=thread_fetch.fetch_thread, apply=thread_fetch.store_thread
    ),
    JobKind.FETCH_REMOTE_POST: SlowJob(
        prepare=post_fetch.fetch_post, apply=post_fetch.store_fetched_post
    ),
    JobKind.AP_MOVE: SlowJob(
        prepare=inbound_moderation.verify_move, apply=inbound_moderation.apply_move
    ),
    JobKind.AP_SYNC_FOLLOWERS: SlowJob(
        prepare=followers_sync.fetch_partial, apply=followers_sync.reconcile
    ),
    JobKind.SEND_MAIL: SlowJob(prepare=outgoing.send_mail, apply=outgoing.mail_sent),
    JobKind.DELETE_ACCOUNT: SlowJob(prepare=account_deletion.erase, apply=account_deletion.erased),
    JobKind.WEB_PUSH: SlowJob(prepare=delivery.send_push, apply=delivery.push_sent),
    JobKind.RESCORE_NOTES: SlowJob(prepare=note_rescoring.compute, apply=note_rescoring.store),
    JobKind.BUILD_ARCHIVE: SlowJob(
        prepare=archive_documents.build_archive,
        apply=account_archives.archive_built,
        on_dead=account_archives.archive_failed,
    ),
    JobKind.REFRESH_TRENDS: SlowJob(prepare=trends.compute, apply=trends.store),
    JobKind.REFRESH_FOR_YOU: SlowJob(
        prepare=for_you_precompute.compute, apply=for_you_precompute.store
    ),
    JobKind.RUN_CSV_IMPORT: SlowJob(
        prepare=csv_import_runs.run_import, apply=csv_import_runs.import_finished
    ),
}


# Kinds that retry on their own schedule (the others: queue.backoff_seconds).
BACKOFFS: dict[str, Backoff] = {JobKind.AP_DELIVER: outbox.delivery_backoff}


# Kinds claimed and run in batches (jobs/queue.py `run_batch`), with their batch size: received
# activities and deliveries, many small independent jobs, each in a savepoint of the batch's
# transaction.
DELIVERIES_AT_ONCE = 8
BATCHES: dict[str, int] = {JobKind.AP_INBOX: 50, JobKind.AP_DELIVER: DELIVERIES_AT_ONCE}
# Batched kinds whose slow phases run at once, and what groups them: deliveries (their POSTs)
# by domain, so a slow or dead server holds up only its own deliveries, at most
# `DELIVERIES_AT_ONCE` per worker and one at a time per domain (its circuit breaker sees each
# outcome before the next try, as when they ran one after the other).
CONCURRENT: dict[str, Grouping] = {JobKind.AP_DELIVER: outbox.delivery_domain}
# Batched kinds whose consecutive jobs of a batch are applied at once, in one savepoint (each
# alone in its own when that fails): received Creates, stored and fanned out together.
TOGETHER: dict[str, Together] = {
    JobKind.AP_INBOX: Together(joins=inbox.joins, apply=inbox.process_many)
}


def register_all_jobs() -> None:
    """Register every job kind's handler with the queue (idempotent)."""
    register_jobs(HANDLERS, SLOW_JOBS, BACKOFFS, BATCHES, CONCURRENT, TOGETHER)
