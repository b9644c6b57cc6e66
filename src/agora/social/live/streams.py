"""Live streams, as Mastodon's streaming API defines them: which streams exist, who may open
them, and the events the jobs announce.

Streams: `user` (home timeline and notifications), `user:notification`, `public`,
`public:local` (with `:media`, posts with attachments only), `public:remote` (public posts
from other servers), `hashtag` and `hashtag:local` (with a tag), `list` (with one of the
viewer's lists), `direct` (the viewer's direct-message conversations: `conversation`
events). Public and hashtag streams need no token, as on Mastodon's default configuration;
the others need a user token with `read` or `read:statuses` (`read:notifications` for
`user:notification`, and for notifications in `user`).

Events are announced by the jobs that do the work (fan-out, edits, deletions,
notifications) with `publish_after_commit`, so they leave only once that work has committed.
They carry ids; who receives each one is decided per listener by stream_audience.py, through
the visibility rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from sqlalchemy import CompoundSelect, Row, Select, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from agora.auth.scopes import satisfies
from agora.db.models import Bookmark, Favourite, Pin, Post
from agora.db.one_of import one_of
from agora.events.event_kinds import EventName
from agora.events.publishing import publish_after_commit
from agora.ids import parse_id
from agora.social.reading.lists import get_own_list
from agora.social.rules.errors import DomainError, NotFound

LOCAL_PUBLIC = ("public", "public:local")  # public posts of this server's people
REMOTE_PUBLIC = ("public", "public:remote")  # public posts that came from other servers
MEDIA_PUBLIC = ("public:media", "public:local:media", "public:remote:media")
PUBLIC_STREAMS = frozenset(
    {*LOCAL_PUBLIC, *REMOTE_PUBLIC, *MEDIA_PUBLIC, "hashtag", "hashtag:local"}
)
TAG_STREAMS = frozenset({"hashtag", "hashtag:local"})
USER_STREAMS = frozenset({"user", "user:notification", "direct"})  # keyed by the viewer


def public_streams(*, local: bool, media: bool) -> tuple[str, ...]:
    """The public streams a public post belongs on: `public`, and `public:local` for a post of
    this server's people or `public:remote` for one from another server; their `:media`
    variants too when it has attachments."""
    names = LOCAL_PUBLIC if local else REMOTE_PUBLIC
    return names + tuple(f"{n}:media" for n in names) if media else names


def tag_streams(*, local: bool) -> tuple[str, ...]:
    """The hashtag streams a public post with a streamed tag belongs on."""
    return ("hashtag", "hashtag:local") if local else ("hashtag",)


STREAMS = PUBLIC_STREAMS | USER_STREAMS | {"list"}


def filter_context(stream: Stream) -> str:
    """The filter context of what a stream shows (social/rules/filtering.py): the home
    timeline's for `user` and `list`, the public timelines' for public and hashtag streams."""
    return "public" if stream.name in PUBLIC_STREAMS else "home"


MAX_TAG_LENGTH = 200
MARKS = ("favourited", "bookmarked", "pinned", "reblogged")
MARKS_SCAN = 2000  # marks of a post read at once before switching to per-viewer look-ups


class StreamRefused(DomainError):
    """A stream cannot be opened (Mastodon's status codes: 400 bad request, 401 auth)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class StreamViewer:
    """Who opens streams: an account (None when anonymous), its token and scopes."""

    account_id: int | None = None
    token_id: int | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def notifications_allowed(self) -> bool:
        """Notifications reach this viewer's `user` stream (Mastodon: `read` or
        `read:notifications`)."""
        return self.account_id is not None and satisfies(self.scopes, "read:notifications")


@dataclass(frozen=True, slots=True)
class Stream:
    """One opened stream: its name, what it is keyed on (a normalised tag, a list id, the
    viewer's account for user streams) and the `stream` array its WebSocket events carry."""

    name: str
    key: str | int | None
    label: tuple[str, ...]


def streaming_url(base_url: str) -> str:
    """Where clients stream from: this server, `wss://` when it is served over https and
    `ws://` over plain http (instance `urls.streaming_api` and `configuration.urls.streaming`)."""
    scheme, sep, rest = base_url.partition("://")
    if not sep:
        return base_url
    return ("wss" if scheme.lower() == "https" else "ws") + "://" + rest.rstrip("/")


def first_value(value: Any) -> str | None:
    """A parameter as one string (clients may repeat it or send a list: the first counts)."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None or isinstance(value, dict):
        return None
    return str(value)


def normalise_tag(raw: str) -> str:
    """A hashtag as stored: no leading '#', lower case."""
    return raw.strip().lstrip("#").lower()


async def open_stream(
    session: AsyncSession, viewer: StreamViewer, name: Any, params: Mapping[str, Any]
) -> Stream:
    """Check that `viewer` may open stream `name` with `params` (tag, list); StreamRefused
    with Mastodon's status and message otherwise."""
    stream = first_value(name)
    if stream not in STREAMS:
        raise StreamRefused(400, "Unknown stream type")
    if stream not in PUBLIC_STREAMS:
        _check_scope(viewer, stream)
    if stream in TAG_STREAMS:
        return _tag_stream(stream, first_value(params.get("tag")))
    if stream == "list":
        return await _list_stream(session, viewer, first_value(params.get("list")))
    if stream in USER_STREAMS:
        return Stream(stream, viewer.account_id, (stream,))
    return Stream(stream, None, (stream,))


def _check_scope(viewer: StreamViewer, stream: str) -> None:
    if viewer.account_id is None:
        raise StreamRefused(401, "Missing access token")
    required = "read:notifications" if stream == "user:notification" else "read:statuses"
    if not satisfies(viewer.scopes, required):
        raise StreamRefused(401, "Access token does not have the required scopes")


def _tag_stream(stream: str, raw: str | None) -> Stream:
    tag = normalise_tag(raw or "")
    if not tag:
        raise StreamRefused(400, "Missing tag name parameter")
    if len(tag) > MAX_TAG_LENGTH:
        raise StreamRefused(400, "Invalid tag name parameter")
    return Stream(stream, tag, (stream, (raw or "").strip()))


async def _list_stream(session: AsyncSession, viewer: StreamViewer, raw: str | None) -> Stream:
    if not raw:
        raise StreamRefused(400, "Missing list name parameter")
    list_id = parse_id(raw)
    try:
        if list_id is None or viewer.account_id is None:
            raise NotFound()
        await get_own_list(session, viewer.account_id, list_id)
    except NotFound:  # someone else's list, or none: Mastodon's answer
        raise StreamRefused(401, "Not authorized to stream this list") from None
    return Stream("list", list_id, ("list", str(list_id)))


# -- events announced by the jobs ------------------------------------------------------------


def announce_post(
    session: AsyncSession,
    post: Post,
    event: Literal[EventName.UPDATE, EventName.STATUS_UPDATE] = EventName.UPDATE,
) -> None:
    """`update` (a post or boost entered home feeds) or `status.update` (an edit), published
    when the caller's transaction commits."""
    publish_after_commit(
        session,
        {
            "event": event,
            "post_id": post.id,
            "account_id": post.account_id,
            "visibility": int(post.visibility),
        },
    )


def announce_deletion(
    session: AsyncSession,
    post_id: int,
    account_id: int,
    visibility: int,
    reblogs: Iterable[tuple[int, int]] = (),
    *,
    boost: bool = False,
) -> None:
    """`delete` for a post and for its boosts (id, booster) that went with it; `boost` when
    the deleted post is itself a boost (never on public streams)."""
    publish_after_commit(
        session,
        {
            "event": EventName.DELETE,
            "post_id": post_id,
            "account_id": account_id,
            "visibility": int(visibility),
            "reblogs": [[rid, booster] for rid, booster in reblogs],
            "boost": boost,
        },
    )


def announce_conversation(session: AsyncSession, account_id: int, conversation_id: int) -> None:
    """`conversation` on the participant's `direct` stream, when the caller commits."""
    publish_after_commit(
        session,
        {
            "event": EventName.CONVERSATION,
            "account_id": account_id,
            "conversation_id": conversation_id,
        },
    )


def announce_notification(session: AsyncSession, account_id: int, notification_id: int) -> None:
    """`notification` for its recipient."""
    publish_after_commit(
        session,
        {
            "event": EventName.NOTIFICATION,
            "account_id": account_id,
            "notification_id": notification_id,
        },
    )


def event_id(event: Mapping[str, Any], key: str) -> int | None:
    """An id field of a received event (events may come from another process)."""
    return parse_id(event.get(key))


# -- the viewer's own marks, for rendering one post to many listeners -------------------------


async def viewer_marks(
    session: AsyncSession, post_ids: Iterable[int], viewer_ids: Iterable[int]
) -> dict[int, set[tuple[str, int]]]:
    """For each viewer who has any: the (mark, post id) pairs among `post_ids`, where mark is
    favourited / bookmarked / pinned / reblogged. The marks of the posts are read first (a new
    post has none: one cheap query); only a post marked very often is looked up per viewer,
    500 viewers a query."""
    posts, viewers = list(set(post_ids)), set(viewer_ids)
    rows: list[Row[str, int, int]] = list(
        (await session.execute(_marks_query(False), {"posts": posts})).all()
    )
    if len(rows) > MARKS_SCAN:
        ordered = sorted(viewers)
        rows = []
        for start in range(0, len(ordered), 500):
            chunk = {"posts": posts, "viewers": ordered[start : start + 500]}
            rows += (await session.execute(_marks_query(True), chunk)).all()
    found: dict[int, set[tuple[str, int]]] = {}
    for mark, account_id, post_id in rows:
        if account_id in viewers:
            found.setdefault(account_id, set()).add((mark, post_id))
    return found


@cache
def _marks_query(by_viewer: bool) -> CompoundSelect[*tuple[Any, ...]]:
    """(mark, account id, post id) of the marks on the posts `posts`: at most MARKS_SCAN + 1
    of them, or (`by_viewer`) all those of the accounts `viewers`. Built once: it runs for
    every live event in every server process."""
    models: tuple[type[Favourite] | type[Bookmark] | type[Pin], ...] = (Favourite, Bookmark, Pin)
    parts: list[Select[str, int, int | None]] = [
        select(literal(mark), model.account_id, model.post_id).where(one_of(model.post_id, "posts"))
        for mark, model in zip(MARKS, models, strict=False)
    ]
    parts.append(
        select(literal("reblogged"), Post.account_id, Post.reblog_of_id).where(
            one_of(Post.reblog_of_id, "posts"), Post.deleted_at.is_(None)
        )
    )
    if not by_viewer:
        return union_all(*parts).limit(MARKS_SCAN + 1)
    columns = [model.account_id for model in models] + [Post.account_id]
    parts = [part.where(one_of(col, "viewers")) for part, col in zip(parts, columns, strict=True)]
    return union_all(*parts)
