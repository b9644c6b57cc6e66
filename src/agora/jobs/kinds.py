"""The kinds of background jobs: the contract between the code that enqueues a job and the
handler the application registers for it (agora/job_registry.py). A job row stores the
kind's value."""

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
    AP_INBOX = "ap_inbox"
    FEDERATE_POST = "federate_post"
    FEDERATE_FOLLOW = "federate_follow"
    FEDERATE_UNFOLLOW = "federate_unfollow"
    AP_DELIVER = "ap_deliver"
