"""The kinds of background jobs: the contract between the code that enqueues a job and the
handler the application registers for it (agora/job_registry.py). A job row stores the
kind's value, and its state's (`JobState`)."""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    NOTIFY = "notify"
    POST_DELETED = "post_deleted"
    DISTRIBUTE_POST = "distribute_post"
    MERGE_INTO_FEED = "merge_into_feed"
    UNMERGE_FROM_FEED = "unmerge_from_feed"
    POST_EDITED = "post_edited"
    POLL_EXPIRED = "poll_expired"
    SWEEP_UNATTACHED_MEDIA = "sweep_unattached_media"
    DELETE_MEDIA = "delete_media"
    REPORT_FILED = "report_filed"
    ASSISTANT_REPLY = "assistant_reply"


class JobState(StrEnum):
    """Where a job row is in its life (the `jobs.state` column stores the value). A job that
    succeeds is deleted, so it has no state of its own."""

    PENDING = "pending"  # waiting for its `run_at` (new, or retried after a failure)
    RUNNING = "running"  # leased by a worker until `locked_until`
    DEAD = "dead"  # retries spent: a dead letter (`agora jobs`, `agora jobs retry`)
