"""The payloads of live events, as Mastodon sends them (the hub's `Payloads` for the API;
their wire forms are in http/streaming/frames.py).

A Status is hydrated once per distinct set of embedded posts (boosted, quoted) its viewers may
see (`hydrate.visible_among`, one query per event; `load_posts` as one of them) and serialised
once per distinct set of the viewer's own marks (liked, boosted, bookmarked, pinned), so a
thousand listeners of a new post cost one serialisation, yet nobody sees another person's
marks, nor a quoted post whose author blocked them or whose audience they are not in.
Filters are each viewer's too: the post is hydrated without them, then a viewer with active
filters gets a copy marked with their matches for the stream's context (`hydrate.filter_view`;
home for `user` and `list`, public for public and hashtag streams), or nothing when one of
them hides it there; viewers with the same matches share one serialisation.
A Notification is rendered for its recipient (its post through the `notifications` context).
A `delete` carries the bare id.
"""

from __future__ import annotations

from dataclasses import replace

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from agora.api import serialise
from agora.api.entities import announcement_json, status_json
from agora.http.streaming.hub import Payloads
from agora.social.instance import announcements
from agora.social.live.streams import viewer_marks
from agora.social.posts.hydrate import (
    PostView,
    embedded_ids,
    filter_view,
    load_posts,
    visible_among,
)
from agora.social.reading.conversations import get_conversation
from agora.social.reading.notifications import get_notification
from agora.social.rules.errors import NotFound
from agora.social.rules.filtering import viewer_filters, viewers_with_filters

Marks = frozenset[tuple[str, int]]


def _tree(view: PostView) -> list[PostView]:
    """The post and what it embeds (boosted post, quoted posts)."""
    nodes = [view]
    for child in (view.reblog, view.quote):
        if child is not None:
            nodes.extend(_tree(child))
    return nodes


def _marked(view: PostView, marks: Marks) -> PostView:
    pid = view.post.id
    return replace(
        view,
        favourited=("favourited", pid) in marks,
        reblogged=("reblogged", pid) in marks,
        bookmarked=("bookmarked", pid) in marks,
        pinned=("pinned", pid) in marks,
        reblog=_marked(view.reblog, marks) if view.reblog is not None else None,
        quote=_marked(view.quote, marks) if view.quote is not None else None,
    )


async def status_payloads(
    session: AsyncSession, post_id: int, viewers: set[int | None], context: str
) -> dict[int | None, str]:
    """The Status JSON (a string) of one post for each viewer who may see it, with what it
    embeds as that viewer may see it, their own marks and their filters' matches in
    `context` (left out for a viewer whose filter hides it there). Viewers who may see the
    same embedded posts share one hydration (`load_posts` as one of them: the rule applies)."""
    if not viewers:
        return {}
    visible = await visible_among(session, viewers, await embedded_ids(session, post_id))
    groups: dict[frozenset[int], list[int | None]] = {}
    for viewer in viewers:
        if post_id in visible[viewer]:
            groups.setdefault(visible[viewer], []).append(viewer)
    filtering = await viewers_with_filters(session, viewers)
    out: dict[int | None, str] = {}
    for members in groups.values():
        found = await load_posts(session, members[0], [post_id], filters=False)
        view = found.get(post_id)
        if view is not None:  # None: a boost of a post they may not see
            out.update(await _with_marks(session, view, members, filtering, context))
    return out


async def _with_marks(
    session: AsyncSession,
    view: PostView,
    viewers: list[int | None],
    filtering: set[int],
    context: str,
) -> dict[int | None, str]:
    """One hydrated post serialised once per distinct set of viewers' own marks and filter
    matches (viewers in `filtering` have active filters)."""
    nodes = _tree(view)
    signed_in = [v for v in viewers if v is not None]
    marks = await viewer_marks(session, [n.post.id for n in nodes], signed_in) if signed_in else {}
    rendered: dict[tuple[Marks, frozenset[int], str], str] = {}
    out: dict[int | None, str] = {}
    for viewer in viewers:
        shown = view
        if viewer in filtering:
            filtered = filter_view(view, await viewer_filters(session, viewer), context)
            if filtered is None:  # one of their filters hides it here
                continue
            shown = filtered
        matched = _matched_key(shown)
        own = frozenset(n.post.id for n in nodes if n.post.account_id == viewer)
        mine = frozenset(marks.get(viewer, ())) if viewer is not None else frozenset()
        key = (mine, own, matched)
        if key not in rendered:
            entity = status_json(_marked(shown, mine), viewer, {})
            rendered[key] = orjson.dumps(entity).decode()
        out[viewer] = rendered[key]
    return out


def _matched_key(view: PostView) -> str:
    """What a view's filter matches are, as a key (empty without any)."""
    parts = [
        f"{n.post.id}:{m.filter.id}:{m.keyword_matches}:{m.status_matches}"
        for n in _tree(view)
        for m in n.filtered
    ]
    return "|".join(parts)


async def notification_payload(
    session: AsyncSession, viewer_id: int, notification_id: int
) -> str | None:
    """The Notification JSON for its recipient, or None when it may no longer be shown."""
    try:
        note = await get_notification(session, viewer_id, notification_id)
    except NotFound:
        return None
    items = await serialise.notifications(session, viewer_id, [note])
    return orjson.dumps(items[0]).decode() if items else None


async def conversation_payload(
    session: AsyncSession, viewer_id: int, conversation_id: int
) -> str | None:
    """The Conversation JSON for its participant, or None when it is gone or its last
    message may no longer be shown to them."""
    try:
        found = await get_conversation(session, viewer_id, conversation_id)
    except NotFound:
        return None
    items = await serialise.conversations(session, viewer_id, [found])
    return orjson.dumps(items[0]).decode() if items else None


async def announcement_payload(session: AsyncSession, announcement_id: int) -> str | None:
    """The Announcement JSON as streamed (the same for everyone), or None when it is no
    longer shown."""
    try:
        found = await announcements.shown_one(session, announcement_id)
    except NotFound:
        return None
    views = await announcements.views(session, [found], None)
    return orjson.dumps(announcement_json(views[0])).decode()


MASTODON_PAYLOADS = Payloads(
    statuses=status_payloads,
    notification=notification_payload,
    conversation=conversation_payload,
    announcement=announcement_payload,
)
"""What the streaming hub sends: Mastodon's Status, Notification and Conversation entities."""
