"""Deleting one's account for good.

`delete_own_account` (settings, with the password and, when it is on, a two-factor code), and
`delete_by_admin` (the admin console and API, logged as the admin's action), are
instant where they matter: the account is suspended (no door lets it act, its posts and
profile disappear from every door: auth/standing.py, the visibility rule), every sign-in ends,
and a `delete_account` job is written in the same transaction. The job (`erase`) then deletes
its data in short transactions of at most `BATCH` posts (media files first, then posts with
their edits, mentions, tags, polls, likes, bookmarks, feed entries and notifications, and
the boosts others made of them, then the account's own likes), then the rest table by table
(`ERASE_STEPS`). Each step
deletes what it counts, in one transaction, so a job that dies and runs again neither loses
nor double-counts anything. Counters of other accounts and posts (followers, following,
likes, boosts, replies, poll votes) are brought down as the rows behind them go.

Other servers are told: `begin_deletion` writes, in the same transaction, a
`federate_account_delete` job naming the inboxes of every server whose accounts follow it,
are followed by it or asked to (taken before the job erases the follows): one Delete(Actor)
per server, signed with the account's key. That key outlives the erasure: the job's last
transaction writes `drop_account_key`, which waits until no delivery signed by the account
is left, then drops it (federation/outbox.py).

The `accounts` row stays as a tombstone (username, suspended, `deleted_at`; every profile
field cleared), so the username is never reused. `FATE` says, for every table, what
deletion does with it; a test fails when a table is missing from it, and checks that after
the job no row of a "deleted" table refers to the account or its posts. The posts' ids stay
in `dataset_export_posts`, which is how the next dataset export of a purpose lists them in
its withdrawal list; a deleted account is in no later export (no posts, suspended).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable

from sqlalchemy import ColumnElement, case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from agora.auth import two_factor
from agora.auth.credentials import check_password
from agora.auth.sign_outs import end_every_sign_in
from agora.db.engine import Database
from agora.db.models import (
    AccessToken,
    Account,
    AccountDomainBlock,
    AccountEndorsement,
    AccountNote,
    AiUsage,
    AnnouncementDismissal,
    AnnouncementReaction,
    AssistantConversation,
    AssistantReply,
    AuthorizationCode,
    Block,
    Bookmark,
    CommunityNote,
    CommunityNoteRating,
    ConsentEvent,
    ConversationEntry,
    ConversationMute,
    DatasetExportAccount,
    EmailToken,
    Favourite,
    FeaturedTag,
    Filter,
    FilterKeyword,
    FilterStatus,
    Follow,
    FollowedTag,
    FollowRequest,
    ForYouCandidate,
    ForYouFeedback,
    ForYouSet,
    ForYouSettings,
    HomeFeedEntry,
    HomeFeedSize,
    IdempotencyKey,
    ListMember,
    Marker,
    Mention,
    ModerationAction,
    Mute,
    Notification,
    NotificationPermission,
    NotificationPolicy,
    NotificationRequest,
    Pin,
    Poll,
    PollOption,
    PollVote,
    PollVoter,
    Post,
    PushSubscription,
    RecoveryCode,
    Report,
    ScheduledPost,
    SuggestionDismissal,
    TagHistoryAccount,
    User,
    UserList,
    Visibility,
    WebSession,
)
from agora.jobs.job_kinds import AccountJob, JobKind
from agora.jobs.queue import enqueue
from agora.social.media.profile_images import remove_profile_images
from agora.social.media.uploads import delete_media_of
from agora.social.people import account_archives, csv_imports, moderation
from agora.social.reading.fan_out import batch_transaction
from agora.social.reading.remote_audience import schedule_account_deletion
from agora.social.rules.errors import Invalid

BATCH = 500
DELETED = "deleted"
# What deletion does with each table ("deleted": every row of the account, or about its
# posts, goes; otherwise why it stays). tests/test_account_deletion.py holds every table to it.
FATE: dict[str, str] = {
    "account_archives": DELETED,  # and their files
    "csv_imports": DELETED,
    "csv_import_rows": DELETED,  # with their imports
    "accounts": "kept as a tombstone: username (never reused), suspended_at, deleted_at",
    "users": DELETED,
    "account_keys": "dropped by the drop_account_key job once its Delete deliveries end",
    "ai_usage": DELETED,
    "assistant_conversations": DELETED,
    "assistant_messages": DELETED,  # with their conversations
    "assistant_replies": DELETED,  # the records of the assistant answering the account
    "announcements": "kept: the admins' announcements to everyone, no account",
    "announcement_dismissals": DELETED,
    "announcement_reactions": DELETED,  # the counts go down with them
    "blocks": DELETED,
    "bookmarks": DELETED,
    "community_note_ratings": DELETED,  # the account's ratings, and all of its notes'
    "community_note_status_history": DELETED,  # of its notes and of notes on its posts
    "community_notes": DELETED,  # its notes, and others' notes on its posts
    "consent_log": DELETED,
    "dataset_export_accounts": DELETED,
    "dataset_export_posts": "kept: post ids only, the source of the next withdrawal lists",
    "dataset_exports": "kept: no account in it (counts only)",
    "domain_blocks": "kept: the server's blocks of other servers, no account",
    "account_domain_blocks": DELETED,
    "account_endorsements": DELETED,  # its own and those of it
    "account_notes": DELETED,  # its own and others' on it
    "featured_tags": DELETED,
    "suggestion_dismissals": DELETED,
    "trends": "kept: scores of hashtags and links name no account; a post's trend ends with "
    "the next run of the trends job (the post is gone) and is never shown meanwhile",
    "account_conversations": DELETED,  # its own; others' ending in its posts go with them
    "email_tokens": DELETED,
    "favourites": DELETED,
    "filter_keywords": DELETED,  # with the account's filters
    "filter_statuses": DELETED,  # the account's filters', and others' naming its posts
    "filters": DELETED,
    "follow_requests": DELETED,
    "for_you_candidates": DELETED,  # the account's set, and others' rows of its posts
    "for_you_feedback": DELETED,  # the account's, and others' about its posts (by author)
    "for_you_sets": DELETED,
    "for_you_settings": DELETED,
    "followed_tags": DELETED,
    "follows": DELETED,
    "federation_domains": "kept: other servers' delivery health, no account",
    "home_feed": DELETED,
    "home_feed_sizes": DELETED,
    "view_stamps": "kept: one growing number per account (api/page_cache.py), no content",
    "id_nodes": "kept: server processes, no account",
    "idempotency_keys": DELETED,
    "inbox_activities": "kept: ids of remote activities, no local account",
    "instance_secrets": "kept: the server's own",
    "instance_settings": "kept: the server's own settings, no account",
    "job_queue_samples": "kept: counts of queued jobs, no account",
    "instance_keys": "kept: the instance actor's key, no account",
    "jobs": "kept: transient work; jobs about the account find nothing and end",
    "list_accounts": DELETED,
    "lists": DELETED,
    "markers": DELETED,
    "media_attachments": DELETED,  # and their files
    "mentions": DELETED,
    "moderation_actions": "kept: the moderation log names the account (the tombstone)",
    "mutes": DELETED,
    "notifications": DELETED,
    "conversation_mutes": DELETED,
    "notification_permissions": DELETED,
    "notification_policies": DELETED,
    "notification_requests": DELETED,
    "oauth_apps": "kept: applications belong to no account",
    "oauth_codes": DELETED,
    "oauth_tokens": DELETED,
    "pins": DELETED,
    "push_subscriptions": DELETED,
    "poll_options": DELETED,  # with the account's polls; its votes are taken off the counts
    "poll_voters": DELETED,
    "poll_votes": DELETED,
    "polls": DELETED,
    "post_edits": DELETED,
    "post_tags": DELETED,
    "posts": DELETED,  # others' replies keep in_reply_to_account_id, as on Mastodon
    "recovery_codes": DELETED,
    "scheduled_posts": DELETED,  # its media with the account's media
    "reports": "reports the account filed are deleted; reports about it are kept for the admins",
    "tag_history": "kept: daily counts per hashtag, no account",
    "tag_history_accounts": DELETED,
    "tags": "kept: hashtags belong to no account",
    "custom_emojis": "kept: the server's and other servers' emoji, no account",
    "preview_cards": "kept: a card describes a web page, not a person (docs/DATA.md)",
    "thread_fetches": "kept: none names a local account's post (only remote threads are fetched)",
    "web_sessions": DELETED,
}
WRONG_PASSWORD = "Current password is wrong"


async def delete_own_account(
    session: AsyncSession, account: Account, password: str, code: str | None = None
) -> None:
    """Delete the caller's account, after checking the password (and the two-factor code
    when it is on): suspended and signed out everywhere now, erased by a job. Invalid for a
    wrong password or code (nothing changes). Commits."""
    user = await session.get(User, account.id)
    if user is None or not await check_password(session, user.password_hash, password or ""):
        raise Invalid(WRONG_PASSWORD)
    user = await session.get(User, account.id)  # the read transaction ended for argon2
    if user and two_factor.enabled(user) and not await two_factor.verify(session, user, code or ""):
        raise Invalid(two_factor.WRONG_CODE)
    await begin_deletion(session, account.id)
    await session.commit()


async def delete_by_admin(session: AsyncSession, target_id: int, by: Account) -> None:
    """An admin deletes an account (the console, `DELETE /api/v1/admin/accounts/:id`): the
    same deletion as the owner's own, logged in the moderation log as the admin's `delete`.
    Forbidden for one's own account or an admin's; Invalid for a remote or deleted one.
    Commits."""
    target = await moderation.get_member(session, target_id)
    moderation.check_deletable(target, by)
    await begin_deletion(session, target_id, by=by)
    await session.commit()


async def reject_sign_up(session: AsyncSession, target_id: int, by: Account) -> None:
    """An admin turns down a sign-up waiting for approval (Mastodon's reject): the account is
    deleted as any other, logged as the admin's `reject`. Forbidden when it is not pending.
    Commits."""
    target = await moderation.get_member(session, target_id)
    moderation.check_rejectable(target, by)
    await begin_deletion(session, target_id, by=by, action="reject")
    await session.commit()


async def begin_deletion(
    session: AsyncSession, account_id: int, *, by: Account | None = None, action: str = "delete"
) -> None:
    """Suspend the account, end every sign-in and write the `delete_account` job, and the
    Delete of the actor for the servers that know it (`federate_account_delete`), in the
    caller's transaction (`by`: the admin deleting it, logged as their `action`; None: its
    owner)."""
    await moderation.close_own_account(session, account_id, by=by, action=action)
    await end_every_sign_in(session, account_id)
    await schedule_account_deletion(session, account_id)
    enqueue(session, JobKind.DELETE_ACCOUNT, {"account_id": account_id})


async def erase(db: Database, payload: AccountJob) -> None:
    """The `delete_account` job's slow phase: the account's data, in short transactions
    (module docstring); safe to run again."""
    account_id = payload["account_id"]
    while await _in_transaction(db, _media_batch, account_id):
        pass
    while await _in_transaction(db, _posts_batch, account_id):
        pass
    while await _in_transaction(db, _likes_batch, account_id):
        pass
    for step in ERASE_STEPS:
        await _in_transaction(db, step, account_id)


async def erased(session: AsyncSession, payload: AccountJob, result: None) -> None:
    """The job's last transaction: the sign-in credentials go, the profile is cleared, the
    row stays as the username's tombstone; the `drop_account_key` job is written (the private
    key stays until the Delete deliveries signed with it are done)."""
    account = await session.get(Account, payload["account_id"])
    if account is None:
        return
    await session.execute(delete(User).where(User.account_id == account.id))
    await remove_profile_images(session, account)
    account.display_name = account.note = account.note_html = ""
    account.fields = []
    account.emojis = None
    account.data_reuse = {}
    account.followers_count = account.following_count = account.statuses_count = 0
    account.locked, account.discoverable = False, False
    account.last_status_at = None
    enqueue(session, JobKind.DROP_ACCOUNT_KEY, {"account_id": account.id})


async def _in_transaction(
    db: Database, step: Callable[[AsyncSession, int], Awaitable[bool | None]], account_id: int
) -> bool:
    """One step in a write transaction of its own, paced as fan-out's batches are (on SQLite
    a pause as long as the lock was held, so requests get their turn between batches)."""
    async with batch_transaction(db) as session:
        return bool(await step(session, account_id))


async def _media_batch(session: AsyncSession, account_id: int) -> bool:
    return await delete_media_of(session, account_id, BATCH) > 0


def _minus(column: InstrumentedAttribute[int], by: int) -> ColumnElement[int]:
    """`column - by`, never below zero."""
    return case((column > by, column - by), else_=0)


async def _decrement(
    session: AsyncSession, column: InstrumentedAttribute[int], counts: Counter[int]
) -> None:
    """Take `counts[post id]` off `column` (a Post counter) of each post."""
    for post_id, by in counts.items():
        await session.execute(
            update(Post).where(Post.id == post_id).values({column: _minus(column, by)})
        )


async def _posts_batch(session: AsyncSession, account_id: int) -> bool:
    """Delete up to BATCH of the account's posts (boosts included) and what hangs on them;
    False when none is left."""
    rows = (
        await session.execute(
            select(
                Post.id, Post.in_reply_to_id, Post.reblog_of_id, Post.visibility, Post.deleted_at
            )
            .where(Post.account_id == account_id)
            .limit(BATCH)
        )
    ).all()
    if not rows:
        return False
    ids = [r.id for r in rows]
    live = [r for r in rows if r.deleted_at is None]
    listed = (Visibility.PUBLIC, Visibility.UNLISTED)
    replies = Counter(
        r.in_reply_to_id for r in live if r.in_reply_to_id is not None and r.visibility in listed
    )
    boosts = Counter(r.reblog_of_id for r in live if r.reblog_of_id is not None)
    await _decrement(session, Post.replies_count, replies)
    await _decrement(session, Post.reblogs_count, boosts)
    others_boosts = select(Post.id).where(Post.reblog_of_id.in_(ids), Post.account_id != account_id)
    await session.execute(delete(Post).where(Post.id.in_(others_boosts)))
    await session.execute(delete(AssistantReply).where(AssistantReply.mention_post_id.in_(ids)))
    named = or_(FilterStatus.post_id.in_(ids), FilterStatus.post_id.in_(others_boosts))
    await session.execute(delete(FilterStatus).where(named))  # others' filters naming them
    await session.execute(delete(Post).where(Post.id.in_(ids)))
    return True


async def _likes_batch(session: AsyncSession, account_id: int) -> bool:
    """Take back up to BATCH of the account's likes (the posts' counts come down); False
    when none is left."""
    liked = (
        await session.scalars(
            select(Favourite.post_id).where(Favourite.account_id == account_id).limit(BATCH)
        )
    ).all()
    if not liked:
        return False
    await _decrement(session, Post.favourites_count, Counter(liked))
    await session.execute(
        delete(Favourite).where(Favourite.account_id == account_id, Favourite.post_id.in_(liked))
    )
    return True


async def _marks(session: AsyncSession, account_id: int) -> None:
    for model in (
        Bookmark,
        Pin,
        FollowedTag,
        Marker,
        HomeFeedEntry,
        HomeFeedSize,
        ForYouCandidate,  # others' rows of its posts go with the posts (foreign key)
        ForYouSet,
        AccountDomainBlock,
        ConversationEntry,
        ConversationMute,
        ScheduledPost,
        AnnouncementDismissal,
        AnnouncementReaction,
    ):
        await session.execute(delete(model).where(model.account_id == account_id))
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.account_id == account_id))
    await session.execute(delete(Mention).where(Mention.account_id == account_id))


async def _votes(session: AsyncSession, account_id: int) -> None:
    votes = (
        await session.execute(
            select(PollVote.poll_id, PollVote.choice).where(PollVote.account_id == account_id)
        )
    ).all()
    for poll_id, choice in votes:
        await session.execute(
            update(PollOption)
            .where(PollOption.poll_id == poll_id, PollOption.position == choice)
            .values(votes_count=_minus(PollOption.votes_count, 1))
        )
    for poll_id, chosen in Counter(poll_id for poll_id, _ in votes).items():
        await session.execute(
            update(Poll)
            .where(Poll.id == poll_id)
            .values(
                votes_count=_minus(Poll.votes_count, chosen),
                voters_count=_minus(Poll.voters_count, 1),
            )
        )
    await session.execute(delete(PollVote).where(PollVote.account_id == account_id))
    await session.execute(delete(PollVoter).where(PollVoter.account_id == account_id))


async def _relationships(session: AsyncSession, account_id: int) -> None:
    followed = select(Follow.target_account_id).where(Follow.account_id == account_id)
    following = select(Follow.account_id).where(Follow.target_account_id == account_id)
    await session.execute(
        update(Account)
        .where(Account.id.in_(followed))
        .values(followers_count=_minus(Account.followers_count, 1))
    )
    await session.execute(
        update(Account)
        .where(Account.id.in_(following))
        .values(following_count=_minus(Account.following_count, 1))
    )
    await session.execute(delete(UserList).where(UserList.account_id == account_id))
    await session.execute(delete(ListMember).where(ListMember.account_id == account_id))
    for model in (Follow, FollowRequest, Block, Mute, AccountEndorsement, SuggestionDismissal):
        await session.execute(
            delete(model).where(
                or_(model.account_id == account_id, model.target_account_id == account_id)
            )
        )


async def _notifications(session: AsyncSession, account_id: int) -> None:
    await session.execute(
        delete(Notification).where(
            or_(Notification.account_id == account_id, Notification.from_account_id == account_id)
        )
    )
    for model in (NotificationRequest, NotificationPermission):
        await session.execute(
            delete(model).where(
                or_(model.account_id == account_id, model.from_account_id == account_id)
            )
        )
    await session.execute(
        delete(NotificationPolicy).where(NotificationPolicy.account_id == account_id)
    )


async def _credentials_and_records(session: AsyncSession, account_id: int) -> None:
    await end_every_sign_in(session, account_id)
    await session.execute(
        delete(ForYouFeedback).where(
            or_(ForYouFeedback.account_id == account_id, ForYouFeedback.author_id == account_id)
        )
    )
    filters = select(Filter.id).where(Filter.account_id == account_id)
    for part in (FilterKeyword, FilterStatus):
        await session.execute(delete(part).where(part.filter_id.in_(filters)))
    for model in (
        PushSubscription,  # before the tokens and sessions it belongs to
        Filter,
        ForYouSettings,
        AccessToken,
        AuthorizationCode,
        WebSession,
        EmailToken,
        RecoveryCode,
        ConsentEvent,
        AiUsage,
        AssistantConversation,
        DatasetExportAccount,
        TagHistoryAccount,
        FeaturedTag,
    ):
        await session.execute(delete(model).where(model.account_id == account_id))
    await session.execute(
        delete(AccountNote).where(
            or_(AccountNote.account_id == account_id, AccountNote.target_account_id == account_id)
        )
    )


async def _archives_and_imports(session: AsyncSession, account_id: int) -> None:
    await account_archives.remove_archives_of(session, account_id)
    await csv_imports.remove_imports_of(session, account_id)


async def _moderation(session: AsyncSession, account_id: int) -> None:
    await session.execute(delete(Report).where(Report.account_id == account_id))
    for column in (Report.action_taken_by_account_id, Report.assigned_account_id):
        await session.execute(update(Report).where(column == account_id).values({column: None}))
    await session.execute(
        update(ModerationAction)
        .where(ModerationAction.account_id == account_id)
        .values(account_id=None)
    )


async def _community_notes(session: AsyncSession, account_id: int) -> None:
    """Its ratings and its notes (their ratings and history go with them, by cascade; notes
    on its posts went with the posts)."""
    await session.execute(
        delete(CommunityNoteRating).where(CommunityNoteRating.account_id == account_id)
    )
    await session.execute(delete(CommunityNote).where(CommunityNote.account_id == account_id))


ERASE_STEPS: tuple[Callable[[AsyncSession, int], Awaitable[None]], ...] = (
    _marks,
    _community_notes,
    _votes,
    _relationships,
    _notifications,
    _credentials_and_records,
    _archives_and_imports,
    _moderation,
)
