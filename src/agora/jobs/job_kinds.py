"""The kinds of background jobs: the contract between the code that enqueues a job and the
handler the application registers for it (agora/job_registry.py). A job row stores the
kind's value, its state's (`JobState`) and its payload as JSON: each kind's payload is one of
the TypedDicts below; `queue.enqueue`'s overloads say which, so the type checker refuses an
enqueued payload that is not the one the kind's handler reads (and tests/test_jobs.py checks
that each registered handler reads that one)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, TypedDict


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
    WEB_PUSH = "web_push"


class JobState(StrEnum):
    """Where a job row is in its life (the `jobs.state` column stores the value). A job that
    succeeds is deleted, so it has no state of its own."""

    PENDING = "pending"  # waiting for its `run_at` (new, or retried after a failure)
    RUNNING = "running"  # leased by a worker until `locked_until`
    DEAD = "dead"  # retries spent: a dead letter (`agora jobs`, `agora jobs retry`)


class PostJob(TypedDict):
    """`distribute_post`, `assistant_reply`: the post to fan out / to answer."""

    post_id: int


class PostEditedJob(TypedDict):
    """`post_edited`: the edited post and the edit (notifications point at the edit)."""

    post_id: int
    edit_id: int


class PostDeletedJob(TypedDict):
    """`post_deleted`: the deleted post, its author, and the boosts deleted with it as
    `[[boost id, booster id], ...]`."""

    post_id: int
    account_id: int
    reblogs: list[list[int]]


class NotifyJob(TypedDict):
    """`notify`: one notification, as `notifications.create_notification` takes it."""

    type: Literal["favourite", "reblog", "follow", "follow_request"]
    account_id: int
    from_account_id: int
    post_id: int | None
    activity_id: int


class FeedJob(TypedDict):
    """`merge_into_feed`, `unmerge_from_feed`: whose home feed, and whose posts."""

    account_id: int
    target_account_id: int


class PollExpiredJob(TypedDict):
    """`poll_expired`: the poll that closes."""

    poll_id: int


class DeleteMediaJob(TypedDict):
    """`delete_media`: the attachments to delete."""

    media_ids: list[int]


class SweepJob(TypedDict):
    """`sweep_unattached_media`: nothing (it looks for what to delete)."""


class ReportFiledJob(TypedDict):
    """`report_filed`: the report the admins are told of."""

    report_id: int


class InboxJob(TypedDict):
    """`ap_inbox`: a verified activity from another server and the remote account that
    signed it."""

    activity: dict[str, Any]
    actor_id: int


class FederatePostJob(TypedDict):
    """`federate_post`: a local post to send as Create ("create") or Delete ("delete")."""

    post_id: int
    verb: Literal["create", "delete"]


class FederateFollowJob(TypedDict):
    """`federate_follow`: the pending follow request to send as Follow."""

    request_id: int


class FederateUnfollowJob(TypedDict):
    """`federate_unfollow`: who stopped following whom (sent as Undo(Follow))."""

    account_id: int
    target_account_id: int


class DeliveryJob(TypedDict):
    """`ap_deliver`: one signed delivery of `activity` by `account_id` to one inbox."""

    inbox: str
    account_id: int
    activity: dict[str, Any]


class WebPushJob(TypedDict):
    """`web_push`: one notification pushed to one subscription (Web Push)."""

    subscription_id: int
    notification_id: int
