"""Turn post ids into everything needed to show them, in a constant number of queries
whatever the page holds: posts, boosted and quoted posts, authors, mentions, tags and the
viewer's own flags (liked, boosted, bookmarked, pinned) and filter matches.

Invariant: `load_posts` is where ids become posts for a viewer, and it applies the visibility
rule itself to every post it returns, the requested ones as well as the boosted and quoted
posts inside them. No caller is trusted to have checked: an id from a form field, a query
parameter or a stored citation that the viewer may not see is simply left out.

`load_refs` is its narrow twin for the API's render cache (api/status_cache.py): the same
page statement shape, the same rule column, and the same decision of what is shown
(`_shown`, shared by both), but only versions, counters and the viewer's flags; the posts the
cache lacks are then hydrated by `load_posts`, which applies the rule again.

It applies the viewer's filters too (social/rules/filtering.py), in the context the door says
it shows the posts in: a post a `hide` filter removes there is left out like an invisible one,
and every other match is on the view (`filtered`, viewer-specific like the flags). The render
cache matches its cached posts by the same rule on the same text (`post_text`, kept with each
rendering), so both paths mark and hide alike."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import (
    Row,
    Select,
    String,
    bindparam,
    cast,
    exists,
    func,
    literal,
    null,
    select,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from agora.db.engine import column_rows
from agora.db.json_agg import json_objects
from agora.db.models import (
    ID,
    Account,
    Bookmark,
    CommunityNote,
    ConversationMute,
    Favourite,
    Follow,
    MediaAttachment,
    Mention,
    Pin,
    Post,
    PostTag,
    PreviewCard,
    QuoteState,
    Tag,
)
from agora.db.one_of import one_of
from agora.social.community_notes.note_scoring import NoteStatus
from agora.social.media.files import MediaInfo
from agora.social.posts.polls import PollView, load_polls, poll_id_column
from agora.social.rules.filtering import (
    FilterMatch,
    PostText,
    ViewerFilters,
    has_active_filter,
    hidden,
    viewer_filters,
)
from agora.social.rules.visibility import is_public_or_unlisted, plain_visible_to


@dataclass(slots=True)
class PostView:
    """A post with what a client shows around it."""

    post: Post
    account: Account
    # (account id, acct: `name` here, `name@domain` for a remote account, its profile URL
    # for a remote account, "" for a local one)
    mentions: list[tuple[int, str, str]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    favourited: bool = False
    reblogged: bool = False
    bookmarked: bool = False
    pinned: bool = False
    muted: bool = False  # the viewer muted the post's thread (conversation mute)
    follows_author: bool = False  # the viewer follows its author (the quote rule reads it)
    reblog: PostView | None = None
    quote: PostView | None = None
    poll: PollView | None = None
    media: list[MediaInfo] = field(default_factory=list)
    versions: tuple[int, int] = (0, 0)  # the post's and its author's render_version
    quotes_count: int = 0  # its accepted quotes (`quotes_count_column`)
    filtered: list[FilterMatch] = field(default_factory=list)  # the viewer's, like the flags
    # The Community Note shown under the post (the Helpful one with the highest intercept;
    # social/community_notes/), as `shown_note` reads it; None when none is Helpful.
    community_note: dict[str, Any] | None = None
    card: PreviewCard | None = None  # its first link's preview card (social/posts/preview_cards)
    # The account its author moved to (the Account entity's `moved`; `moved_targets`).
    moved_to: Account | None = None


VIEWER = bindparam("viewer_id", type_=ID)
FLAGS = ("favourited", "bookmarked", "pinned", "reblogged", "muted", "follows_author")


async def load_posts(
    session: AsyncSession,
    viewer_id: int | None,
    ids: list[int],
    *,
    polls: bool = True,
    context: str | None = None,
    filters: bool = True,
    flags: bool = True,
) -> dict[int, PostView]:
    """PostViews by id, only of posts the viewer may see (`visibility.plain_visible_to`:
    deleted posts, suspended authors, blocks either way and the audience of followers-only and
    direct posts). Boosted/quoted posts the viewer may not see are left out too (a boost of an
    invisible post is dropped; an invisible quote shows as no quote).

    `context` is where the door shows them (`filtering.CONTEXTS`; None: looked up by id): the
    viewer's filters for it mark the views they match and leave out what a `hide` filter
    removes (`filtering.hidden`). `filters=False` only for a post rendered once for many
    viewers, whose filters the caller applies to each (`filter_view`: api/stream_payloads.py).

    One query whatever the page holds (see `_posts_statement`), built once and reused, plus
    one for the polls when the page has any (`polls.load_polls`; not when `polls` is False:
    api/status_cache.py renders polls apart) and one for the viewer's filters (not when
    `filters` is False), and one for the accounts its authors moved to when any did
    (`moved_targets`). `flags=False` leaves the viewer's own marks (FLAGS) unread, all
    False: for a caller that reads them apart (api/status_cache.py renders the part of a
    post that is the same for every viewer); the visibility rule is applied all the same."""
    if not ids:
        return {}
    params = {"ids": ids, "viewer_id": viewer_id}
    statement = _posts_statement(viewer_id is not None, flags and viewer_id is not None)
    rows = (await session.execute(statement, params)).all()
    found = {row[0].id: row for row in rows}
    links = {
        pid: _Link(
            row[0].reblog_of_id, row[0].quote_of_id, bool(row.visible), row[1].suspended_at is None
        )
        for pid, row in found.items()
    }
    kept, linked = _shown(ids, links)
    views = {pid: _view(found[pid]) for pid in {*kept, *linked}}
    if polls:
        await _attach_polls(session, viewer_id, views, found)
    moved = await moved_targets(session, [v.account for v in views.values()])
    for view in views.values():
        view.moved_to = moved.get(view.account.id)
        post = view.post
        if post.quote_of_id in linked and post.quote_state == QuoteState.ACCEPTED:
            view.quote = views[post.quote_of_id]
        if post.reblog_of_id is not None and post.reblog_of_id in linked:
            view.reblog = views[post.reblog_of_id]
    result = {pid: views[pid] for pid in kept}
    if not filters:
        return result
    return await _apply_filters(session, viewer_id, result, views.values(), context)


@dataclass(frozen=True, slots=True)
class PostRef:
    """What a page needs of a post besides its viewer-independent rendering (api/
    status_cache.py): the versions that key that rendering, the counters spliced into it,
    the viewer's own flags and the boosted / quoted post the viewer is shown (None: none,
    or one the viewer may not see)."""

    id: int
    account_id: int
    post_version: int
    author_version: int
    counts: tuple[int, int, int, int]  # replies, reblogs, favourites, quotes
    author_counts: tuple[int, int, int, datetime | None]  # followers, following, statuses, last
    flags: tuple[bool, ...]  # FLAGS: favourited, bookmarked, pinned, reblogged, muted, follows
    poll_id: int | None
    reblog_id: int | None
    quote_of_id: int | None
    quote_id: int | None
    visibility: int = 0
    quote_policy: int = 0
    quote_state: int = 0


@dataclass(frozen=True, slots=True)
class PageRefs:
    """`load_refs`' answer: the requested posts the viewer is shown, in order, and the refs
    of those and of every boosted or quoted post shown inside them."""

    kept: list[int]
    refs: dict[int, PostRef]
    has_filters: bool = False  # the viewer has an active filter (`filtering.viewer_filters`)
    # the change stamp of every post row read (shown or not) and of its author, read in the
    # same rows (api/page_cache.py)
    post_stamps: dict[int, int] = field(default_factory=dict)
    author_stamps: dict[int, int] = field(default_factory=dict)


async def load_refs(session: AsyncSession, viewer_id: int | None, ids: list[int]) -> PageRefs:
    """The posts of `ids` the viewer may see, as `load_posts` decides (the same rule on the
    same rows, `_shown`), but only what changes from viewer to viewer or from minute to
    minute, and whether the viewer has an active filter: one narrow query, no rendering
    input. A caller renders each post from a cache
    keyed by (id, versions) and hydrates the misses with `load_posts`."""
    if not ids:
        return PageRefs([], {})
    params = {"ids": ids, "viewer_id": viewer_id}
    statement = _refs_statement(viewer_id is not None)
    rows = await column_rows(session, statement, params)
    # by position (a page reads some 20 columns of 40 to 120 rows: a Row's attribute look-up
    # costs several times an index)
    at = _positions(statement)
    id_, account, reblog, quote = at["id"], at["account_id"], at["reblog_of_id"], at["quote_of_id"]
    visible, active = at["visible"], at["active"]
    found = {row[id_]: row for row in rows}
    links = {
        pid: _Link(row[reblog], row[quote], bool(row[visible]), bool(row[active]))
        for pid, row in found.items()
    }
    kept, linked = _shown(ids, links)
    has_filters = viewer_id is not None and any(row[at["has_filters"]] for row in rows)
    counts = [at[c] for c in ("replies_count", "reblogs_count", "favourites_count", "quotes_count")]
    author_counts = [
        at[c] for c in ("followers_count", "following_count", "statuses_count", "last_status_at")
    ]
    flags = itemgetter(*(at[f] for f in FLAGS))  # PostRef.flags' order
    versions, poll = (at["post_version"], at["author_version"]), at["poll_id"]
    q_state, accepted = at["quote_state"], QuoteState.ACCEPTED
    refs = {}
    for pid in {*kept, *linked}:
        row = found[pid]
        reblog_of, quote_of = row[reblog], row[quote]
        refs[pid] = PostRef(
            id=pid,
            account_id=row[account],
            post_version=row[versions[0]],
            author_version=row[versions[1]],
            counts=(row[counts[0]], row[counts[1]], row[counts[2]], row[counts[3]]),
            author_counts=(
                row[author_counts[0]],
                row[author_counts[1]],
                row[author_counts[2]],
                row[author_counts[3]],
            ),
            flags=tuple(map(bool, flags(row))),
            poll_id=row[poll],
            reblog_id=reblog_of if reblog_of in linked else None,
            quote_of_id=quote_of,
            quote_id=quote_of if quote_of in linked and row[q_state] == accepted else None,
            visibility=row[at["visibility"]],
            quote_policy=row[at["quote_policy"]],
            quote_state=row[q_state],
        )
    post_stamp, author_stamp = at["post_stamp"], at["author_stamp"]
    return PageRefs(
        kept,
        refs,
        has_filters,
        {pid: row[post_stamp] for pid, row in found.items()},
        {row[account]: row[author_stamp] for row in rows},
    )


@cache
def _positions(statement: Select[Any]) -> dict[str, int]:
    """A statement's columns by name: their positions in its rows."""
    return {str(column.key): i for i, column in enumerate(statement.selected_columns)}


@dataclass(frozen=True, slots=True)
class _Link:
    """A loaded row as the showing rule reads it (`active`: its author is not suspended)."""

    reblog_of_id: int | None
    quote_of_id: int | None
    visible: bool
    active: bool


def _shown(ids: list[int], links: dict[int, _Link]) -> tuple[list[int], set[int]]:
    """Which posts a page shows, from its loaded rows (both `load_posts` and `load_refs`):
    the requested ids kept, in order, and the boosted / quoted posts shown inside them (two
    levels: a boost of a quote post). A post is shown when visible with an active author;
    a boost only with its original; a quote of an unseen post shows as no quote."""
    posts = [i for i in ids if i in links and links[i].visible]
    linked: set[int] = set()
    frontier = posts
    for _ in range(2):
        wanted = {
            j for i in frontier for j in (links[i].reblog_of_id, links[i].quote_of_id) if j
        } - linked
        level = [j for j in wanted if j in links and links[j].visible]
        linked.update(level)
        frontier = level
    linked = {i for i in linked if links[i].active}
    kept = []
    for pid in posts:
        link = links[pid]
        if not link.active or (link.reblog_of_id is not None and link.reblog_of_id not in linked):
            continue
        kept.append(pid)
    return kept, linked


async def _apply_filters(
    session: AsyncSession,
    viewer_id: int | None,
    result: dict[int, PostView],
    nodes: Iterable[PostView],
    context: str | None,
) -> dict[int, PostView]:
    """Mark every view (boosted and quoted ones too) with the viewer's filter matches and
    drop the requested posts a `hide` filter removes in `context`."""
    filters = await viewer_filters(session, viewer_id) if result else None
    if not filters:
        return result
    for node in nodes:
        node.filtered = _matches(node, filters, context)
    return {pid: view for pid, view in result.items() if not hidden(view.filtered, context)}


def _matches(node: PostView, filters: ViewerFilters, context: str | None) -> list[FilterMatch]:
    proper = node.reblog or node
    text = post_text(proper).searchable(
        [title for title, _ in proper.poll.options] if proper.poll else ()
    )
    return filters.matches(node.post.id, node.post.reblog_of_id, text, context)


def post_text(view: PostView) -> PostText:
    """What of a hydrated post the filters' keywords are looked for in, but its poll (the
    same parts for `load_posts` and for the render cache, which keeps them)."""
    post = view.post
    described = tuple(m.description for m in view.media if m.description)
    return PostText(post.spoiler_text or "", post.text or "", described)


def filter_view(view: PostView, filters: ViewerFilters, context: str | None) -> PostView | None:
    """A copy of a view hydrated without filters (and of what it embeds) carrying one
    viewer's filter matches; None when they hide it in `context`."""
    if not filters:
        return view
    marked = _marked_by(view, filters, context)
    return None if hidden(marked.filtered, context) else marked


def _marked_by(view: PostView, filters: ViewerFilters, context: str | None) -> PostView:
    return replace(
        view,
        filtered=_matches(view, filters, context),
        reblog=_marked_by(view.reblog, filters, context) if view.reblog is not None else None,
        quote=_marked_by(view.quote, filters, context) if view.quote is not None else None,
    )


def shared_for_everyone(view: PostView) -> bool:
    """Whether a rendering of this post (the API's `status_shared_json`, the web app's card)
    is the same for every viewer: not when it holds media URLs signed for one viewer (a
    followers-only or direct post's media)."""
    return not view.media or is_public_or_unlisted(view.post.visibility)


async def embedded_ids(session: AsyncSession, post_id: int) -> set[int]:
    """The post and the posts it boosts or quotes, two levels deep as `load_posts` hydrates
    them, whoever may see them (for `visible_among`; never shown as they are)."""
    found, frontier = {post_id}, {post_id}
    for _ in range(2):
        rows = await session.execute(_links_statement(), {"ids": list(frontier)})
        frontier = {i for row in rows for i in row if i is not None} - found
        found |= frontier
    return found


@cache
def _links_statement() -> Select[int | None, int | None]:
    """What the posts `ids` boost or quote."""
    return select(Post.reblog_of_id, Post.quote_of_id).where(one_of(Post.id, "ids"))


async def visible_among(
    session: AsyncSession, viewers: set[int | None], post_ids: set[int]
) -> dict[int | None, frozenset[int]]:
    """For each viewer, which of `post_ids` they may see (`plain_visible_to`): one query for
    the signed-in viewers together, one for nobody in particular. What a post rendered once
    for many readers (a live event) embeds is checked with it, per reader."""
    out: dict[int | None, frozenset[int]] = {v: frozenset() for v in viewers}
    if not post_ids or not viewers:
        return out
    signed_in = [v for v in viewers if v is not None]
    ids = list(post_ids)
    if signed_in:
        params = {"viewers": signed_in, "ids": ids}
        rows = await session.execute(_visible_among_statement(), params)
        seen: dict[int, set[int]] = {}
        for viewer, post_id in rows:
            seen.setdefault(viewer, set()).add(post_id)
        out.update({v: frozenset(found) for v, found in seen.items()})
    if None in viewers:
        anyone = _visible_to_anyone_statement()
        out[None] = frozenset(await session.scalars(anyone, {"ids": ids}))
    return out


@cache
def _visible_among_statement() -> Select[int, int]:
    """(viewer, post id) for each of `viewers` and each of the posts `ids` they may see. Built
    once: it runs for every live event in every server process."""
    reader = aliased(Account)  # not correlated with the rule's own look-ups of accounts
    return select(reader.id, Post.id).where(
        one_of(reader.id, "viewers"), one_of(Post.id, "ids"), plain_visible_to(reader.id, Post)
    )


@cache
def _visible_to_anyone_statement() -> Select[int]:
    """Those of the posts `ids` that may be shown signed out, to nobody in particular."""
    return select(Post.id).where(one_of(Post.id, "ids"), plain_visible_to(None, Post))


async def _attach_polls(
    session: AsyncSession,
    viewer_id: int | None,
    views: dict[int, PostView],
    found: dict[int, Row[Any]],
) -> None:
    wanted = {found[pid].poll_id: view for pid, view in views.items() if found[pid].poll_id}
    polls = await load_polls(session, viewer_id, set(wanted))
    for poll_id, view in wanted.items():
        view.poll = polls.get(poll_id)


def _view(row: Row[*tuple[Any, ...]]) -> PostView:
    """A PostView from a `_posts_statement` row (boost and quote links are set later)."""
    mentions = []
    for item in (row.mentions or "").split("\n"):
        if item:
            account_id, acct, url = item.split(" ", 2)
            mentions.append((int(account_id), acct, url))
    return PostView(
        post=row[0],
        account=row[1],
        mentions=mentions,
        tags=row.tags.split(",") if row.tags else [],
        media=_media(row.media),
        favourited=bool(row.favourited),
        bookmarked=bool(row.bookmarked),
        pinned=bool(row.pinned),
        reblogged=bool(row.reblogged),
        muted=bool(row.muted),
        follows_author=bool(row.follows_author),
        versions=(row.post_version, row.author_version),
        quotes_count=row.quotes_count,
        community_note=shown_note(row.community_notes),
        card=row.card,
    )


def _page_posts() -> Any:
    """SQL: the posts `ids`, the posts they boost or quote and the posts those quote (two
    levels: a boost of a quote post)."""
    page = (
        select(Post.id, Post.reblog_of_id, Post.quote_of_id)
        .where(one_of(Post.id, "ids"))
        .cte("page")
    )
    level1 = aliased(Post)
    first = union(select(page.c.reblog_of_id), select(page.c.quote_of_id)).subquery()
    linked = select(first.c.reblog_of_id)  # boosted and quoted posts of the page
    return union(
        select(page.c.id),
        linked,
        select(level1.reblog_of_id).where(level1.id.in_(linked)),
        select(level1.quote_of_id).where(level1.id.in_(linked)),
    )


@cache
def _posts_statement(signed_in: bool, flags: bool) -> Select[Any]:
    """The page's posts (`_page_posts`), each with its author, whether the viewer may see it
    as a linked post, its mentions ("id:username,...") and hashtags ("name,..."), its media,
    poll, render versions, the viewer's own flags (null unless `flags`) and its preview card
    (joined: the page's cards come in the same query). Usernames and hashtags are word
    characters, so the separators are safe."""
    viewer = VIEWER if signed_in else None
    author = aliased(Account)  # not correlated with the rule's own look-ups of accounts
    card = aliased(PreviewCard, name="card")
    return (
        select(
            Post,
            author,
            plain_visible_to(viewer, Post).label("visible"),
            _mentions_column(),
            _tags_column(),
            _media_column(),
            _community_notes_column(),
            poll_id_column(),
            Post.render_version.label("post_version"),
            author.render_version.label("author_version"),
            quotes_count_column(),
            *_flag_columns(flags),
            card,
        )
        .join(author, author.id == Post.account_id)
        .outerjoin(card, card.id == Post.preview_card_id)
        .where(Post.id.in_(_page_posts()))
    )


@cache
def _refs_statement(signed_in: bool) -> Select[Any]:
    """The same posts and rule as `_posts_statement`, narrow: links, versions, counters,
    poll id and the viewer's flags (`load_refs`)."""
    viewer = VIEWER if signed_in else None
    author = aliased(Account)
    columns: list[Any] = [
        Post.id,
        Post.account_id,
        Post.reblog_of_id,
        Post.quote_of_id,
        Post.visibility,
        Post.quote_policy,
        Post.quote_state,
        Post.replies_count,
        Post.reblogs_count,
        Post.favourites_count,
        quotes_count_column(),
        Post.render_version.label("post_version"),
        author.render_version.label("author_version"),
        Post.change_stamp.label("post_stamp"),
        author.change_stamp.label("author_stamp"),
        author.followers_count,
        author.following_count,
        author.statuses_count,
        author.last_status_at,
        author.suspended_at.is_(None).label("active"),
        plain_visible_to(viewer, Post).label("visible"),
        poll_id_column(),
        *_flag_columns(signed_in),
    ]
    if signed_in:  # asked on the way: a page without filters needs no query for them
        columns.append(has_active_filter(VIEWER).label("has_filters"))
    return (
        select(*columns)
        .join(author, author.id == Post.account_id)
        .where(Post.id.in_(_page_posts()))
    )


def quotes_count_column() -> Any:
    """SQL: how many accepted quotes of the post there are, deleted ones not counted
    (Mastodon 4.5's `quotes_count`): counted when read, one probe of `ix_posts_quotes` per
    post (most have none), so no counter can drift from the quotes themselves."""
    quote = aliased(Post)
    return (
        select(func.count())
        .select_from(quote)
        .where(
            quote.quote_of_id == Post.id,
            quote.quote_state == QuoteState.ACCEPTED,
            quote.deleted_at.is_(None),
        )
        .scalar_subquery()
        .label("quotes_count")
    )


def _mentions_column() -> Any:
    # "id acct url" (no username, domain or URL holds a space), one per line
    acct = Account.username + func.coalesce(literal("@") + Account.domain, literal(""))
    url = func.coalesce(Account.url, Account.uri, literal(""))
    entry = cast(Account.id, String) + literal(" ") + acct + literal(" ") + url
    return (
        select(func.aggregate_strings(entry, "\n"))
        .select_from(Mention)
        .join(Account, Account.id == Mention.account_id)
        .where(Mention.post_id == Post.id)
        .scalar_subquery()
        .label("mentions")
    )


def _tags_column() -> Any:
    return (
        select(func.aggregate_strings(Tag.name, ","))
        .select_from(PostTag)
        .join(Tag, Tag.id == PostTag.tag_id)
        .where(PostTag.post_id == Post.id)
        .scalar_subquery()
        .label("tags")
    )


def _media_column() -> Any:
    """The post's attachments as a JSON array of objects (one extra column, no extra query)."""
    m = MediaAttachment
    names: tuple[str, ...] = ("id", "key", "access_secret", "file_format", "width", "height")
    names += ("preview_format",)
    names += ("preview_width", "preview_height", "blurhash", "description", "focus_x", "focus_y")
    names += ("remote_url", "media_type", "processing", "duration", "fps")
    columns = {name: getattr(m, name) for name in (*names, "position")}
    return (
        select(json_objects(**columns)).where(m.post_id == Post.id).scalar_subquery().label("media")
    )


def _community_notes_column() -> Any:
    """The post's Helpful Community Notes as a JSON array (their status changes bump the
    post's `render_version`: social/community_notes/note_rescoring.py)."""
    n = CommunityNote
    columns = {
        "id": n.id,
        "text": n.text,
        "classification": n.classification,
        "drafted_with_assistant": n.drafted_with_assistant,
        "intercept": n.intercept,
        "ratings_count": n.ratings_count,
    }
    return (
        select(json_objects(**columns))
        .where(n.post_id == Post.id, n.status == NoteStatus.HELPFUL.value)
        .scalar_subquery()
        .label("community_notes")
    )


def shown_note(column: str | None) -> dict[str, Any] | None:
    """The note shown under a post: of its Helpful notes, the one with the highest
    intercept (ties: the oldest id)."""
    notes = orjson.loads(column) if column else []
    if not notes:
        return None
    best = max(notes, key=lambda n: (n["intercept"] or 0.0, -int(n["id"])))
    return {
        "id": str(best["id"]),
        "text": best["text"],
        "classification": best["classification"],
        "drafted_with_assistant": bool(best["drafted_with_assistant"]),
        "ratings_count": int(best["ratings_count"]),
    }


def _media(column: str | None) -> list[MediaInfo]:
    if not column:
        return []
    items = [MediaInfo.from_json(item) for item in orjson.loads(column)]
    return sorted(items, key=lambda m: m.position)


def _flag_columns(signed_in: bool) -> list[Any]:
    """FLAGS: the viewer's own marks on each post (favourited, bookmarked, pinned,
    reblogged), whether they muted its thread and whether they follow its author.

    PostgreSQL may run such a subquery once per page as a hashed set of all the viewer's rows,
    and a statement's plan is made once for every viewer (`force_generic_plan`): for a person
    with 50,000 favourites the page's refs then executed in 13.3 ms, reading them all, against
    0.5 ms probing one index entry per post. `OFFSET 0` keeps PostgreSQL from hashing the
    favourites and bookmarks (what a person may have by the ten thousand; pins are at most
    `limits.MAX_PINS`, a set that stays cheap to hash); a boost is looked up among the
    viewer's boosts alone (`reblog_of_id IS NOT NULL`: the partial index `uq_posts_reblog`),
    not every post they wrote (tests/test_query_plans.py)."""
    if not signed_in:
        return [null().label(flag) for flag in FLAGS]
    boost = aliased(Post)
    marks = [
        exists(
            select(model.post_id)
            .where(model.account_id == VIEWER, model.post_id == Post.id)
            .offset(0)
        )
        for model in (Favourite, Bookmark)
    ]
    marks.append(exists().where(Pin.account_id == VIEWER, Pin.post_id == Post.id))
    marks.append(
        exists().where(
            boost.account_id == VIEWER,
            boost.reblog_of_id.is_not(None),
            boost.reblog_of_id == Post.id,
        )
    )
    marks.append(
        exists().where(
            ConversationMute.account_id == VIEWER,
            ConversationMute.thread_id == func.coalesce(Post.thread_root_id, Post.id),
        )
    )
    marks.append(
        exists().where(Follow.account_id == VIEWER, Follow.target_account_id == Post.account_id)
    )
    return [mark.label(flag) for mark, flag in zip(marks, FLAGS, strict=True)]


async def _accounts(session: AsyncSession, ids: set[int]) -> dict[int, Account]:
    rows = await session.scalars(
        select(Account).where(Account.id.in_(ids), Account.suspended_at.is_(None))
    )
    return {a.id: a for a in rows}


async def load_accounts(session: AsyncSession, ids: list[int]) -> list[Account]:
    """Accounts by id, in the given order, suspended ones left out."""
    found = await _accounts(session, set(ids))
    return [found[i] for i in ids if i in found]


async def moved_targets(session: AsyncSession, accounts: list[Account]) -> dict[int, Account]:
    """The accounts that `accounts` moved to (Mastodon's `moved`), by the moved account's
    id; suspended targets left out. One query, none when nobody moved."""
    wanted = {a.id: a.moved_to_account_id for a in accounts if a.moved_to_account_id}
    if not wanted:
        return {}
    found = await _accounts(session, set(wanted.values()))
    return {old: found[new] for old, new in wanted.items() if new in found}
