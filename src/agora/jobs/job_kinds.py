"""The kinds of background jobs: the contract between the code that enqueues a job and the
handler the application registers for it (agora/job_registry.py). A job row stores the
kind's value, its state's (`JobState`) and its payload as JSON: each kind's payload is one of
the TypedDicts below; `queue.enqueue`'s overloads say which, so the type checker refuses an
enqueued payload that is not the one the kind's handler reads (and tests/test_jobs.py checks
that each registered handler reads that one)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, NotRequired, TypedDict


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
    FEDERATE_BLOCK = "federate_block"
    FEDERATE_REPORT = "federate_report"
    AP_MOVE = "ap_move"
    AP_DELIVER = "ap_deliver"
    FEDERATE_REACTION = "federate_reaction"
    FEDERATE_PROFILE = "federate_profile"
    FEDERATE_FOLLOW_ANSWER = "federate_follow_answer"
    FEDERATE_VOTE = "federate_vote"
    FEDERATE_POLL_COUNTS = "federate_poll_counts"
    FETCH_REMOTE_POST = "fetch_remote_post"
    CACHE_REMOTE_MEDIA = "cache_remote_media"
    TRANSCODE_MEDIA = "transcode_media"
    FETCH_THREAD = "fetch_thread"
    SEND_MAIL = "send_mail"
    DELETE_ACCOUNT = "delete_account"
    WEB_PUSH = "web_push"
    PUBLISH_SCHEDULED = "publish_scheduled"
    FEDERATE_ACCOUNT_DELETE = "federate_account_delete"
    DROP_ACCOUNT_KEY = "drop_account_key"
    FEDERATE_MOVE = "federate_move"
    RESCORE_NOTES = "rescore_notes"
    BUILD_ARCHIVE = "build_archive"
    RUN_CSV_IMPORT = "run_csv_import"
    SWEEP_EXPIRED_ARCHIVES = "sweep_expired_archives"
    FEDERATE_QUOTE_REVOCATION = "federate_quote_revocation"
    REFRESH_TRENDS = "refresh_trends"
    REFRESH_FOR_YOU = "refresh_for_you"
    FETCH_PREVIEW_CARD = "fetch_preview_card"
    AP_SYNC_FOLLOWERS = "ap_sync_followers"


# Kinds no one waits on: a web process's own workers run them only while it answers no
# request, or once they are overdue (jobs/worker.py), and one that runs stops early when
# requests come in (jobs/courtesy.py); an `agora worker` does the same while the machine's
# other processes keep its cores busy (jobs/machine_load.py). Late, they only
# leave something precomputed older, never a request without an answer (For You reads its
# whole pipeline when the set is missing or stale; trends keep their last scores).
BACKGROUND_KINDS = frozenset({JobKind.REFRESH_FOR_YOU, JobKind.REFRESH_TRENDS})


class JobState(StrEnum):
    """Where a job row is in its life (the `jobs.state` column stores the value). A job that
    succeeds is deleted, so it has no state of its own."""

    PENDING = "pending"  # waiting for its `run_at` (new, or retried after a failure)
    RUNNING = "running"  # leased by a worker until `locked_until`
    DEAD = "dead"  # retries spent: a dead letter (`agora jobs`, `agora jobs retry`)


class PostJob(TypedDict):
    """`distribute_post`, `assistant_reply`, `fetch_preview_card`: the post to fan out / to
    answer / whose first link's preview card to fetch."""

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
    """`sweep_unattached_media`, `sweep_expired_archives`: nothing (it looks for what to
    delete)."""


class RescoreNotesJob(TypedDict):
    """`rescore_notes`: nothing (it rescores every rated Community Note, then queues itself
    an hour later)."""


class RefreshTrendsJob(TypedDict):
    """`refresh_trends`: nothing (it scores the trends of the last two days, then queues
    itself `trends.REFRESH_SECONDS` later)."""


class RefreshForYouJob(TypedDict):
    """`refresh_for_you`: nothing (it precomputes the For You candidates of the signed-in
    people whose set is oldest, then queues itself `for_you_precompute.REFRESH_SECONDS`
    later)."""


class ReportFiledJob(TypedDict):
    """`report_filed`: the report the admins are told of."""

    report_id: int


class InboxJob(TypedDict):
    """`ap_inbox`: a verified activity from another server and the remote account that
    signed it."""

    activity: dict[str, Any]
    actor_id: int


class FederatePostJob(TypedDict):
    """`federate_post`: a local post to send as Create ("create"), Update ("update", after
    an edit) or Delete ("delete")."""

    post_id: int
    verb: Literal["create", "update", "delete"]


class FederateFollowJob(TypedDict):
    """`federate_follow`: the pending follow request to send as Follow."""

    request_id: int


class FederateUnfollowJob(TypedDict):
    """`federate_unfollow`: who stopped following whom (sent as Undo(Follow))."""

    account_id: int
    target_account_id: int


class FederateBlockJob(TypedDict):
    """`federate_block`: a local account blocked (or, `undo`, unblocked) a remote one."""

    account_id: int
    target_account_id: int
    undo: bool


class FederateReportJob(TypedDict):
    """`federate_report`: a report about a remote account to forward to its server as Flag."""

    report_id: int


class MoveJob(TypedDict):
    """`ap_move`: a remote account (`account_id`) said it moved to `target` (an actor URI),
    to be verified by fetching the target before its local followers move."""

    account_id: int
    target: str


class DeliveryJob(TypedDict):
    """`ap_deliver`: one signed delivery of `activity` by `account_id` (a local account, or
    None: the instance actor, which sends forwarded reports) to one inbox;
    `synchronize_followers`: with FEP-8fcf's `Collection-Synchronization` header (the
    sender's followers on the inbox's server, taken when it is sent)."""

    inbox: str
    account_id: int | None
    activity: dict[str, Any]
    synchronize_followers: NotRequired[bool]


class FollowersSyncJob(TypedDict):
    """`ap_sync_followers`: a remote account (`account_id`) whose followers here disagree with
    the digest its server sent (FEP-8fcf): its partial followers collection (`url`, on its
    host) is fetched and the local follows reconciled with it."""

    account_id: int
    url: str


class FederateQuoteRevocationJob(TypedDict):
    """`federate_quote_revocation`: a local author revoked the quote a remote post (`post_id`)
    makes of their post: its QuoteAuthorization is deleted (FEP-044f)."""

    post_id: int


class FederateReactionJob(TypedDict):
    """`federate_reaction`: a local account's like ("like") or boost ("announce") of a post,
    or its undo, to send as Like / Announce / Undo. `activity_id` is the favourite's or the
    boost's id (the activity's id is made from it, so an Undo names the very activity);
    `visibility` is the boost's."""

    verb: Literal["like", "announce"]
    undo: bool
    account_id: int
    post_id: int
    activity_id: int
    visibility: int


class FederateProfileJob(TypedDict):
    """`federate_profile`: a local account whose profile changed (sent as Update(Person))."""

    account_id: int


class FederateFollowAnswerJob(TypedDict):
    """`federate_follow_answer`: a locked local account (`account_id`) answered the follow
    request of a remote account (`follower_id`): Accept or Reject of its Follow
    (`follow_uri`)."""

    account_id: int
    follower_id: int
    follow_uri: str
    accept: bool


class FederateVoteJob(TypedDict):
    """`federate_vote`: a local account's vote in a remote poll (the chosen positions)."""

    poll_id: int
    account_id: int
    choices: list[int]


class PollCountsJob(TypedDict):
    """`federate_poll_counts`: the local poll whose new counts go out as Update(Question)."""

    poll_id: int


class FetchPostJob(TypedDict):
    """`fetch_remote_post`: a remote post to fetch by its ActivityPub id and store, and the
    stored post that quotes it (None when nothing waits for it)."""

    uri: str
    quoted_by: int | None


class TranscodeMediaJob(TypedDict):
    """`transcode_media`: the video, audio or GIF upload to transcode."""

    media_id: int


class RemoteMediaJob(TypedDict):
    """`cache_remote_media`: the remote post's image to fetch into the media store."""

    media_id: int


class ThreadJob(TypedDict):
    """`fetch_thread`: the remote post whose missing ancestors and replies to fetch."""

    post_id: int


class MailJob(TypedDict):
    """`send_mail`: one composed mail (agora/mail/outgoing.py) to one address."""

    to: str
    subject: str
    text: str
    html: str


class AccountJob(TypedDict):
    """`delete_account`: the account whose data is erased; `drop_account_key`: the deleted
    account whose private key goes once its Delete deliveries are done."""

    account_id: int


class ScheduledPostJob(TypedDict):
    """`publish_scheduled`: the scheduled post that is due (social/posts/scheduled_posts.py)."""

    scheduled_id: int


class AccountDeleteJob(TypedDict):
    """`federate_account_delete`: a deleted local account and the inboxes (one per server)
    of the remote accounts that followed it or that it followed, taken when it was deleted,
    to send Delete(Actor) to."""

    account_id: int
    inboxes: list[str]


class FederateMoveJob(TypedDict):
    """`federate_move`: a local account that moved to another (`target_account_id`), to send
    as Move to its remote followers' servers."""

    account_id: int
    target_account_id: int


class WebPushJob(TypedDict):
    """`web_push`: one notification pushed to one subscription (Web Push)."""

    subscription_id: int
    notification_id: int


class ArchiveJob(TypedDict):
    """`build_archive`: the archive (an `account_archives` row) whose zip to write."""

    archive_id: int


class CsvImportJob(TypedDict):
    """`run_csv_import`: the import (a `csv_imports` row) whose rows to apply."""

    import_id: int
