"""Searching posts: which posts a person may find, and the best matches among them.

Who may find what (the search rule, on top of the visibility rule):
- public posts by accounts that are discoverable (Mastodon's `indexable`) and not silenced
  (a silenced account is listed only to its followers, see `visibility.listed_to`), and
- any post the searcher may see and has a part in: written, been mentioned in, liked,
  bookmarked or boosted.
Everything also goes through the visibility rule (`timeline_filter`) for the searcher:
followers-only and direct posts only for their audience, nothing across a block, nothing by a
muted or suspended account, nothing deleted. People who are not signed in find no posts (as on
Mastodon); `best_matching_posts` then searches public posts of discoverable accounts.

Order: relevance, then recency. The newest RANK_WINDOW matches are ranked by relevance
(search.rank); matches older than that follow, newest first. This keeps a query for a word
found in a hundred thousand posts as fast as one found in ten, and on a social network the
recent matches are the ones people look for. A page needs offset + limit visible posts; at
most MAX_SCANNED matches are examined for one request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, TypedDict

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    and_,
    bindparam,
    exists,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from agora.data.consent import Category, allowed_sql
from agora.db.models import ID, Account, Bookmark, Favourite, Mention, Post, Visibility
from agora.social.rules.visibility import Viewer, hidden_for, plain_visible_to, silenced_for
from agora.social.search.index import newest_matches
from agora.social.search.query import TextQuery, parse
from agora.social.search.rank import rank

RANK_WINDOW = 200
"""How many of the newest matches are ranked by relevance."""

CHUNK = 200
"""Matches fetched at a time past the ranked window."""

MAX_SCANNED = 4000
"""Matches examined at most for one request."""

MAX_OFFSET = 10_000

Author = Any
"""The aliased Account of a post's author, as passed to an extra filter."""

ExtraFilter = Callable[[Author, Any], ColumnElement[bool]]
"""An extra SQL condition on (author, post), e.g. the consent rule for the assistant."""


@dataclass(frozen=True, slots=True)
class PostFilter:
    """Where to search: one author only, an id range (Mastodon's max_id / min_id)."""

    account_id: int | None = None
    max_id: int | None = None
    min_id: int | None = None


def searchable_by(viewer_id: Viewer | None, post: Any = Post) -> ColumnElement[bool]:
    """SQL condition: the original post `post` (boosts are never indexed) may be found by the
    viewer. Per-row look-ups only (no join), so a page of candidates is checked cheaply."""
    discoverable = exists().where(Account.id == post.account_id, Account.discoverable.is_(True))
    indexable = and_(
        post.visibility == int(Visibility.PUBLIC),
        discoverable,
        not_(silenced_for(viewer_id, post.account_id)),
    )
    # timeline_filter for a post known not to be a boost: visible, author not filtered out
    visible = and_(
        post.reblog_of_id.is_(None),
        plain_visible_to(viewer_id, post),
        not_(hidden_for(viewer_id, post.account_id)),
    )
    if viewer_id is None:
        return and_(indexable, visible)
    boost = aliased(Post)
    involved = or_(
        post.account_id == viewer_id,
        exists().where(Mention.post_id == post.id, Mention.account_id == viewer_id),
        exists().where(Favourite.account_id == viewer_id, Favourite.post_id == post.id),
        exists().where(Bookmark.account_id == viewer_id, Bookmark.post_id == post.id),
        exists().where(boost.account_id == viewer_id, boost.reblog_of_id == post.id),
    )
    return and_(or_(indexable, involved), visible)


async def search_posts(
    session: AsyncSession,
    viewer_id: int | None,
    text: str,
    *,
    where: PostFilter | None = None,
    limit: int = 20,
    offset: int = 0,
) -> list[int]:
    """Ids of the posts matching `text` that the viewer may find, best first: the page
    `offset`..`offset + limit`. Never raises for any text (see search.query)."""
    query = parse(text)
    if not query.searchable:
        return []
    where = where or PostFilter()
    author_id = await _author(session, query, where.account_id)
    if author_id == 0:
        return []
    offset = max(0, min(offset, MAX_OFFSET))
    scope = Scope(viewer_id)
    found = await _search(session, query, scope, where, author_id, offset + limit)
    return found[offset : offset + limit]


async def best_matching_posts(
    session: AsyncSession,
    viewer_id: int | None,
    text: str,
    limit: int = 10,
    *,
    extra: ExtraFilter | None = None,
    for_assistant: bool = False,
) -> list[int]:
    """The posts that best match `text` among those the viewer may find, best first: posts
    with every word, then (when there are not enough) posts with any of the words that
    matter (stop words left out). For the assistant: natural-language questions are fine,
    long ones are truncated. `for_assistant=True` adds the consent rule (only posts whose
    author and own override allow `assistantContext`); `extra` adds any other condition on
    (author, post)."""
    query = parse(text)
    if not query.searchable or limit <= 0:
        return []
    author_id = await _author(session, query, None)
    if author_id == 0:
        return []
    scope = Scope(viewer_id, for_assistant, extra)
    found = await _search(session, query, scope, PostFilter(), author_id, limit)
    relaxed = query.relaxed()
    if len(found) < limit and (relaxed.terms != query.terms or len(query.positive_words) > 1):
        more = await _search(session, relaxed, scope, PostFilter(), author_id, limit, any_term=True)
        found += [i for i in more if i not in set(found)]
    return found[:limit]


@dataclass(frozen=True, slots=True)
class Scope:
    """Who is searching and which extra conditions apply: what a candidate must meet."""

    viewer_id: int | None
    for_assistant: bool = False
    extra: ExtraFilter | None = None

    def statement(self) -> Select[Any]:
        """The statement keeping the findable ids among `ids` (bound: ids, viewer_id). Built
        once per kind of searcher, unless an ad-hoc `extra` condition is given."""
        if self.extra is None:
            return _findable_statement(self.viewer_id is not None, self.for_assistant)
        return _build_findable(self.viewer_id is not None, self.for_assistant, self.extra)


VIEWER = bindparam("viewer_id", type_=ID)
IDS: BindParameter[int] = bindparam("ids", expanding=True)


@cache
def _findable_statement(signed_in: bool, for_assistant: bool) -> Select[Any]:
    return _build_findable(signed_in, for_assistant, None)


def _build_findable(signed_in: bool, for_assistant: bool, extra: ExtraFilter | None) -> Select[Any]:
    conditions = [Post.id.in_(IDS), searchable_by(VIEWER if signed_in else None)]
    author = aliased(Account)  # conditions on the author are checked by look-up, not a join
    on_author = [allowed_sql(Category.ASSISTANT, author, Post)] if for_assistant else []
    if extra is not None:
        on_author.append(extra(author, Post))
    if on_author:
        conditions.append(exists().where(author.id == Post.account_id, *on_author))
    return select(Post.id).where(*conditions)


async def _author(session: AsyncSession, query: TextQuery, account_id: int | None) -> int | None:
    """The author to search (from `from:` or account_id): None for everyone, 0 for nobody
    (an unknown name, or two different authors asked for)."""
    if query.author is None:
        return account_id
    found = await session.scalar(
        select(Account.id).where(
            Account.username_lower == query.author, Account.suspended_at.is_(None)
        )
    )
    if found is None or (account_id is not None and account_id != found):
        return 0
    return int(found)


class _Bounds(TypedDict):
    """`newest_matches`'s bounds: whose posts, and the id window."""

    author_id: int | None
    max_id: int | None
    min_id: int | None


async def _search(
    session: AsyncSession,
    query: TextQuery,
    scope: Scope,
    where: PostFilter,
    author_id: int | None,
    wanted: int,
    *,
    any_term: bool = False,
) -> list[int]:
    """The first `wanted` findable matches in search order (see the module docstring)."""
    bounds = _Bounds(author_id=author_id, max_id=where.max_id, min_id=where.min_id)
    window = await newest_matches(session, query, limit=RANK_WINDOW, any_term=any_term, **bounds)
    found = await _findable(session, rank(window, query.positive_words), scope, wanted)
    scanned, exhausted = len(window), len(window) < RANK_WINDOW
    cursor = min((row[0] for row in window), default=None)
    while len(found) < wanted and not exhausted and scanned < MAX_SCANNED:
        bounds["max_id"] = cursor
        rows = await newest_matches(
            session, query, limit=CHUNK, any_term=any_term, with_text=False, **bounds
        )
        ids = [row[0] for row in rows]
        found += await _findable(session, ids, scope, wanted - len(found))
        scanned, exhausted = scanned + len(ids), len(ids) < CHUNK
        cursor = ids[-1] if ids else cursor
    return found


async def _findable(
    session: AsyncSession, ordered: list[int], scope: Scope, wanted: int
) -> list[int]:
    """The first `wanted` of `ordered` that meet `scope`, in order, checking a few more than
    needed at a time (most candidates usually pass)."""
    statement = scope.statement()
    kept: list[int] = []
    start = 0
    while len(kept) < wanted and start < len(ordered):
        size = max(20, 2 * (wanted - len(kept)))
        chunk = ordered[start : start + size]
        start += size
        params = {"ids": chunk, "viewer_id": scope.viewer_id}
        passing = set((await session.scalars(statement, params)).all())
        kept += [i for i in chunk if i in passing]
    return kept[:wanted]
