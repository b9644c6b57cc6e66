"""Notifications: created by jobs, filtered by the visibility rule, blocks and mutes; each
new one is announced on the streams and pushed (Web Push jobs written in its transaction,
push_subscriptions.py).

Invariant: every read of notifications (the API's list and single GET, the web page and its
live fragment, the streamed payload) goes through `_listable`, which checks at read time what
was true at creation: the post is still visible, nothing now stands between the two accounts,
and the reader still holds the role the notification's type needs (`admin.report` reaches
admins only: a demoted admin no longer reads reports' reporters and comments).

The recipient's notification policy (notification_policies.py) is asked here, at creation:
a dropped notification is never written; a filtered one is written with `filtered` set, no
group key, a request for its sender, and is neither streamed nor pushed; the lists leave
filtered ones out unless asked (`include_filtered`). Groupable types (favourite, reblog,
follow) get Mastodon's group key once, at creation (`_group_key`)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, bindparam, delete, exists, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import column_rows
from agora.db.models import (
    ID,
    Account,
    Block,
    Follow,
    FollowRequest,
    Mention,
    Mute,
    Notification,
    Post,
    QuoteState,
    User,
    utcnow,
)
from agora.db.upsert import affected_rows, insert_ignore
from agora.ids import new_id
from agora.jobs.job_kinds import NotifyJob, PostDeletedJob
from agora.social.live.streams import announce_deletion, announce_notification
from agora.social.reading.conversation_mutes import muted_thread
from agora.social.reading.notification_policies import record_request, verdict
from agora.social.reading.push_subscriptions import enqueue_pushes
from agora.social.rules.errors import NotFound
from agora.social.rules.paging import (
    Page,
    Slice,
    bind_page,
    keyed_slice,
    page_params,
    page_shape,
)
from agora.social.rules.visibility import (
    hidden_by_domain_blocks,
    plain_visible_to,
    suspended_or_silenced_for,
)

TYPES = (
    "mention",
    "status",
    "reblog",
    "quote",
    "quoted_update",
    "follow",
    "follow_request",
    "favourite",
    "poll",
    "update",
    "admin.report",
    "move",
)
MOVE = "move"  # `from_account_id` moved to the account `activity_id` (a followed remote account)
ADMIN_REPORT = "admin.report"  # reaches admins whatever stands between them and the reporter


def _suppressed(recipient: Any, sender: Any) -> Any:
    """SQL: a block either way, or a notification-hiding mute, stands between the two, or the
    recipient blocked the sender's server, or the sender is suspended, or silenced and not
    followed by the recipient."""
    now = bindparam("now", callable_=utcnow, type_=Mute.expires_at.type, unique=True)
    return or_(
        exists().where(
            or_(
                and_(Block.account_id == recipient, Block.target_account_id == sender),
                and_(Block.account_id == sender, Block.target_account_id == recipient),
            )
        ),
        exists().where(
            Mute.account_id == recipient,
            Mute.target_account_id == sender,
            Mute.hide_notifications.is_(True),
            or_(Mute.expires_at.is_(None), Mute.expires_at > now),
        ),
        hidden_by_domain_blocks(recipient, sender),
        suspended_or_silenced_for(recipient, sender),
    )


@cache
def _deliverable(about_a_post: bool) -> Select[Any]:
    """The statement deciding whether a notification may be made at all (one read, built
    once per shape; parameters `recipient`, `sender`, `post_id`): nothing `_suppressed`
    stands between the two and, `about_a_post`, the recipient may see the post
    (`plain_visible_to`) and has not muted its thread. A row (true, or the post's id) when
    it may."""
    recipient = bindparam("recipient", type_=Account.id.type)
    sender = bindparam("sender", type_=Account.id.type)
    allowed = not_(_suppressed(recipient, sender))
    if not about_a_post:
        return select(allowed)
    post_id = bindparam("post_id", type_=Post.id.type)
    return select(Post.id).where(
        Post.id == post_id,
        plain_visible_to(recipient, Post),
        not_(muted_thread(recipient, post_id)),
        allowed,
    )


async def create_notification(
    session: AsyncSession,
    *,
    type: str,
    account_id: int,
    from_account_id: int,
    post_id: int | None,
    activity_id: int,
    to_self: bool = False,
) -> bool:
    """Record a notification once (deduplicated on its cause); True when one was created.
    Nobody is notified of their own doing, except with `to_self` (the end of one's own poll),
    nor about a post in a thread they muted (conversation_mutes)."""
    if account_id == from_account_id and not to_self:
        return False
    facts = {"recipient": account_id, "sender": from_account_id, "post_id": post_id}
    if not await session.scalar(_deliverable(post_id is not None), facts):
        return False
    action = await verdict(session, account_id, from_account_id, type, post_id)
    if action == "drop":
        return False
    filtered = action == "filter"
    now = utcnow()
    note_id = new_id()
    result = await session.execute(
        insert_ignore(session, Notification).values(
            id=note_id,
            account_id=account_id,
            from_account_id=from_account_id,
            type=type,
            post_id=post_id,
            activity_id=activity_id,
            created_at=now,
            filtered=filtered,
            group_key=None
            if filtered
            else await _group_key(session, account_id, type, post_id, now),
        )
    )
    if affected_rows(result) and filtered:
        await record_request(session, account_id, from_account_id)
    elif affected_rows(result):
        announce_notification(session, account_id, note_id)  # streamed once this commits
        await enqueue_pushes(session, account_id, from_account_id, type, note_id)
    return bool(affected_rows(result))


GROUPABLE = ("favourite", "reblog", "follow")  # Mastodon's groupable types
GROUP_SPAN_HOURS = 12  # a group spans at most this many hour buckets


def group_prefix(type: str, post_id: int | None) -> str:
    """The group key without its hour bucket: `follow`, or `<type>-<post id>`."""
    return type if type == "follow" else f"{type}-{post_id}"


async def _group_key(
    session: AsyncSession, account_id: int, type: str, post_id: int | None, now: datetime
) -> str | None:
    """Mastodon's group key for a new notification of a groupable type: `<prefix>-<hour
    bucket>`, the bucket of the recipient's latest group with this prefix when it began less
    than GROUP_SPAN_HOURS ago (so a group spans at most that long), else this hour's."""
    if type not in GROUPABLE:
        return None
    prefix = group_prefix(type, post_id)
    bucket = int(now.timestamp()) // 3600
    recent = [f"{prefix}-{b}" for b in range(bucket - GROUP_SPAN_HOURS + 1, bucket + 1)]
    latest = await session.scalar(
        select(Notification.group_key)
        .where(Notification.account_id == account_id, Notification.group_key.in_(recent))
        .order_by(Notification.group_key.desc())
        .limit(1)
    )
    return latest or recent[-1]


async def notify_job(session: AsyncSession, payload: NotifyJob) -> None:
    """Job: create one notification (favourite, reblog, follow, follow_request); none for a
    follow request answered or withdrawn before the job ran."""
    if payload["type"] == "follow_request" and not await session.scalar(
        select(FollowRequest.id).where(FollowRequest.id == payload["activity_id"])
    ):
        return
    await create_notification(session, **payload)


async def notify_about_post(
    session: AsyncSession, type: str, account_ids: Iterable[int], post: Post, activity_id: int
) -> None:
    """Notify each of `account_ids` of `post` by its author (`create_notification`'s rules)."""
    for account_id in account_ids:
        await create_notification(
            session,
            type=type,
            account_id=account_id,
            from_account_id=post.account_id,
            post_id=post.id,
            activity_id=activity_id,
        )


async def notify_mentions(
    session: AsyncSession, post: Post, mention_ids: Collection[int] | None = None
) -> None:
    """Notify every account mentioned in `post` (its author excepted); `mention_ids` are
    its mentions when the caller just wrote them (read otherwise)."""
    if mention_ids is None:
        mention_ids = (
            await session.scalars(select(Mention.account_id).where(Mention.post_id == post.id))
        ).all()
    await notify_about_post(session, "mention", sorted(mention_ids), post, post.id)


async def notify_quoted(session: AsyncSession, post: Post) -> None:
    """A `quote` notification for the author of the post `post` quotes (when it is local
    and the quote stands)."""
    if post.quote_of_id is None or post.quote_state != QuoteState.ACCEPTED:
        return
    quoted = select(Post.account_id).join(Account, Account.id == Post.account_id)
    authors = await session.scalars(
        quoted.where(Post.id == post.quote_of_id, Account.domain.is_(None))
    )
    await notify_about_post(session, "quote", authors.all(), post, post.id)


async def notify_quoters(session: AsyncSession, post: Post, edit_id: int) -> None:
    """`quoted_update` notifications of an edited post for the local authors of the posts
    that quote it (accepted quotes)."""
    quoting = select(Post.account_id).join(Account, Account.id == Post.account_id)
    authors = await session.scalars(
        quoting.where(
            Post.quote_of_id == post.id,
            Post.quote_state == QuoteState.ACCEPTED,
            Post.deleted_at.is_(None),
            Account.domain.is_(None),
        ).distinct()
    )
    await notify_about_post(session, "quoted_update", authors.all(), post, edit_id)


_SUBSCRIBERS = select(Follow.account_id).where(
    Follow.target_account_id == bindparam("author"), Follow.notify.is_(True)
)


async def subscribers(session: AsyncSession, post: Post) -> list[int]:
    """Followers who asked to be notified of the author's posts (none for replies to others:
    those are not announced)."""
    if post.in_reply_to_account_id not in (None, post.account_id):
        return []
    return [row[0] for row in await column_rows(session, _SUBSCRIBERS, {"author": post.account_id})]


async def notify_subscribers(session: AsyncSession, post: Post, account_ids: list[int]) -> None:
    """`status` notifications of `post` for these subscribers (`subscribers`, or some of them:
    the fan-out job notifies them in batches; each is notified once however often this runs)."""
    for account_id in account_ids:
        await create_notification(
            session,
            type="status",
            account_id=account_id,
            from_account_id=post.account_id,
            post_id=post.id,
            activity_id=post.id,
        )


def _role_allows(viewer_id: Any) -> Any:
    """SQL: the viewer holds the role this notification's type needs (now, not when it was
    made): `admin.report` only for admins."""
    return or_(
        Notification.type != ADMIN_REPORT,
        exists().where(User.account_id == viewer_id, User.is_admin.is_(True)),
    )


VIEWER = bindparam("viewer_id", type_=ID)


def _listable(viewer_id: Any, *, known_posts: bool = False) -> Any:
    """SQL: the viewer may read this notification (the rule every read path uses).

    `known_posts`: the same rule for a read whose rows' posts are known before it runs
    (the members of a page's groups share their group's post: notification_groups._fill),
    the posts bound as `post_ids`: their visibility is checked once per post, in one
    uncorrelated subquery, instead of once per row (a page's group read checked it for
    some thousand member rows), and a row whose post is not among them is left out. Both
    forms select the same rows when `post_ids` holds the rows' posts (a test checks it)."""
    if known_posts:
        visible_posts = (
            select(Post.id)
            .where(
                Post.id.in_(bindparam("post_ids", expanding=True)),
                plain_visible_to(viewer_id, Post),
            )
            .correlate(None)
        )
        visible_post: Any = Notification.post_id.in_(visible_posts)
    else:
        visible_post = exists().where(
            Post.id == Notification.post_id, plain_visible_to(viewer_id, Post)
        )
    return and_(
        Notification.account_id == viewer_id,
        _role_allows(viewer_id),
        or_(Notification.post_id.is_(None), visible_post),
        or_(
            Notification.type == ADMIN_REPORT,
            not_(_suppressed(viewer_id, Notification.from_account_id)),
        ),
    )


class NoteRow(NamedTuple):
    """A notification as plain columns, for lists that read many and show few (a page of
    groups walks a hundred or more: loading each as an ORM object cost most of the walk)."""

    id: int
    type: str
    post_id: int | None
    from_account_id: int
    activity_id: int
    created_at: datetime
    group_key: str | None

    @classmethod
    def of(cls, note: Notification) -> NoteRow:
        """The columns of a loaded notification."""
        return cls._make(getattr(note, column.key) for column in _NOTE_COLUMNS)


_NOTE_COLUMNS = (
    Notification.id,
    Notification.type,
    Notification.post_id,
    Notification.from_account_id,
    Notification.activity_id,
    Notification.created_at,
    Notification.group_key,
)


async def list_notifications(
    session: AsyncSession,
    viewer_id: int,
    page: Page,
    *,
    types: list[str] | None = None,
    exclude_types: list[str] | None = None,
    from_account_id: int | None = None,
    include_filtered: bool = False,
) -> Slice[Notification]:
    """A page of the viewer's notifications, newest first (filtered ones only when asked)."""
    filters = (types, exclude_types, from_account_id, include_filtered)
    statement, params = _listing(viewer_id, page, *filters, plain=False)
    rows = (await session.scalars(statement, params)).all()
    return keyed_slice(rows, page, lambda note: note.id)


async def list_note_rows(
    session: AsyncSession,
    viewer_id: int,
    page: Page,
    *,
    types: list[str] | None = None,
    exclude_types: list[str] | None = None,
    from_account_id: int | None = None,
    include_filtered: bool = False,
) -> Slice[NoteRow]:
    """What `list_notifications` lists, as plain columns (`NoteRow`)."""
    filters = (types, exclude_types, from_account_id, include_filtered)
    statement, params = _listing(viewer_id, page, *filters, plain=True)
    rows = [NoteRow._make(row) for row in await column_rows(session, statement, params)]
    return keyed_slice(rows, page, lambda note: note.id)


def _listing(
    viewer_id: int,
    page: Page,
    types: list[str] | None,
    exclude_types: list[str] | None,
    from_account_id: int | None,
    include_filtered: bool,
    *,
    plain: bool,
) -> tuple[Select[Any], dict[str, Any]]:
    """The lists' statement (`plain`: selecting `_NOTE_COLUMNS`) and its parameters."""
    params: dict[str, Any] = {"viewer_id": viewer_id, **page_params(page)}
    if types:
        params["types"] = list(types)
    if exclude_types:
        params["exclude_types"] = list(exclude_types)
    if from_account_id is not None:
        params["from_account_id"] = from_account_id
    shape = (bool(types), bool(exclude_types), from_account_id is not None, include_filtered)
    return _list_statement(shape, page_shape(page), plain), params


@cache
def _list_statement(
    filters: tuple[bool, bool, bool, bool], shape: tuple[bool, bool, bool], plain: bool
) -> Select[Any]:
    """The lists' statement, built once per filter and page shape (building and keying the
    rule's tree cost more than running it)."""
    has_types, has_excluded, has_from, include_filtered = filters
    columns: tuple[Any, ...] = _NOTE_COLUMNS if plain else (Notification,)
    query: Select[Any] = select(*columns).where(_listable(VIEWER))
    if not include_filtered:
        query = query.where(Notification.filtered.is_(False))
    if has_types:
        query = query.where(Notification.type.in_(bindparam("types", expanding=True)))
    if has_excluded:
        query = query.where(Notification.type.not_in(bindparam("exclude_types", expanding=True)))
    if has_from:
        query = query.where(Notification.from_account_id == bindparam("from_account_id", type_=ID))
    return bind_page(query, Notification.id, shape)


async def get_notification(
    session: AsyncSession, viewer_id: int, notification_id: int
) -> Notification:
    """One of the viewer's notifications, or NotFound."""
    params = {"viewer_id": viewer_id, "notification_id": notification_id}
    found = await session.scalar(_one_statement(), params)
    if found is None:
        raise NotFound()
    return found


@cache
def _one_statement() -> Select[Notification]:
    """One notification by id (`notification_id`) if the viewer may read it, built once: the
    streams' hub reads each new notification this way for its recipient, in every process."""
    wanted = Notification.id == bindparam("notification_id", type_=ID)
    return select(Notification).where(wanted, _listable(VIEWER))


async def dismiss(
    session: AsyncSession, viewer_id: int, notification_id: int | None = None
) -> None:
    """Dismiss one notification, or all of them when `notification_id` is None. Commits."""
    query = delete(Notification).where(Notification.account_id == viewer_id)
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    await session.execute(query)
    await session.commit()


async def forget_deleted_post(session: AsyncSession, payload: PostDeletedJob) -> None:
    """Job: drop the notifications that point at a deleted post, and stream the deletion
    (of the post and of the boosts that went with it, `reblogs`: [[id, booster], ...])."""
    await session.execute(delete(Notification).where(Notification.post_id == payload["post_id"]))
    post = await session.get(Post, payload["post_id"])
    if post is not None:
        reblogs = [(int(r), int(b)) for r, b in payload.get("reblogs", [])]
        announce_deletion(session, post.id, post.account_id, post.visibility, reblogs)
