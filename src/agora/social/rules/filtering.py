"""The filter rule: which of a viewer's filters a post matches, and whether it is hidden where
it is being shown (Mastodon's `CustomFilter.apply_cached_filters`).

- A filter is active until its `expires_at`. It matches a post when one of its keywords is in
  the post's searchable text (content warning, text, poll options, media descriptions; of the
  boosted post for a boost), case-insensitively, and for a `whole_word` keyword not inside a
  word (a word boundary on each side that starts or ends with a word character, as Mastodon
  builds it), or when the post (or the post a boost boosts) is one of its statuses.
- Where a post is shown is a *context*: home (and lists), notifications, public (public and
  hashtag timelines), thread (a conversation), account (a profile). In a known context only
  the filters for that context count: a post matched by a `hide` filter is removed, the
  others carry the matches (`filtered`: warn and blur are the client's to show). Without a
  context (a post looked up by id, search, bookmarks), every active filter counts and nothing
  is removed, as on Mastodon.
- Cost: the viewer's active filters are read once per request (one query: filters, keywords
  and statuses together) and each filter's keywords are compiled once (cached by its
  keywords): whole-word keywords made of word characters only (most of them) into a set of
  lower-cased words, looked up for each word of the post (its words are split once per post),
  the others into ONE regular expression. So a filter with 100 keywords costs one pass over a
  post's words and at most one regex search, whatever the number of keywords.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

import orjson
from sqlalchemy import Select, bindparam, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.json_agg import json_objects
from agora.db.models import ID, Filter, FilterKeyword, FilterStatus, utcnow
from agora.db.one_of import one_of

CONTEXTS = ("home", "notifications", "public", "thread", "account")
ACTIONS = ("warn", "hide", "blur")
_WORD_START = re.compile(r"^\w")
_WORD_END = re.compile(r"\w$")


@dataclass(frozen=True, slots=True)
class ActiveFilter:
    """One active filter of the viewer, with its compiled keywords and its post ids."""

    id: int
    title: str
    contexts: tuple[str, ...]
    action: str
    expires_at: datetime | None
    keywords: Keywords
    status_ids: frozenset[int]


@dataclass(frozen=True, slots=True)
class FilterMatch:
    """A filter a post matched: the keyword found (Mastodon reports the first) and the
    filtered posts it is (itself, or the post it boosts)."""

    filter: ActiveFilter
    keyword_matches: tuple[str, ...] | None
    status_matches: tuple[int, ...] | None


@dataclass(slots=True)
class ViewerFilters:
    """A viewer's active filters, ready to match posts."""

    filters: list[ActiveFilter] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.filters)

    def matches(
        self, post_id: int, reblog_of_id: int | None, text: str, context: str | None
    ) -> list[FilterMatch]:
        """The filters (for `context`, or all without one) a post matches; `text` is its
        searchable text (`PostText.searchable`)."""
        found = []
        words: list[str] | None = None  # the post's words, split when first needed
        for active in self.filters:
            if context is not None and context not in active.contexts:
                continue
            if words is None and active.keywords.words:
                words = _WORD.findall(text)
            keyword = active.keywords.first_match(text, words or [])
            ids = tuple(i for i in (post_id, reblog_of_id) if i in active.status_ids)
            if keyword is None and not ids:
                continue
            found.append(
                FilterMatch(active, (keyword,) if keyword is not None else None, ids or None)
            )
        return found


def hidden(matches: Iterable[FilterMatch], context: str | None) -> bool:
    """Whether these matches remove the post where it is shown (a `hide` filter for the
    context; never without a context)."""
    return context is not None and any(m.filter.action == "hide" for m in matches)


@dataclass(frozen=True, slots=True)
class PostText:
    """What of a post keywords are looked for in, but its poll's options: its content warning,
    text and media descriptions. Kept with a post's cached rendering (api/status_cache.py: all
    three bump the post's `render_version`); a poll's options are read with the poll."""

    spoiler_text: str
    text: str
    descriptions: tuple[str, ...]

    def searchable(self, poll_options: Iterable[str]) -> str:
        """The post's searchable text with its poll's options (Mastodon's
        `Status#searchable_text`)."""
        parts = [self.spoiler_text, self.text, "\n\n".join(poll_options)]
        parts.append("\n\n".join(self.descriptions))
        return "\n\n".join(p for p in parts if p)


def keyword_pattern(keyword: str, whole_word: bool) -> str:
    """One keyword as a regular expression (Mastodon's `CustomFilterKeyword#to_regex`)."""
    escaped = re.escape(keyword)
    if not whole_word:
        return escaped
    start = r"\b" if _WORD_START.search(keyword) else ""
    end = r"\b" if _WORD_END.search(keyword) else ""
    return f"{start}{escaped}{end}"


@dataclass(frozen=True, slots=True)
class Keywords:
    """A filter's keywords, compiled: plain whole words as a set, the rest as one regex."""

    words: frozenset[str]
    pattern: re.Pattern[str] | None

    def first_match(self, text: str, words: list[str]) -> str | None:
        """The first keyword found in `text` (as written there), whose words (`_WORD`, in
        order) are given; None when none is. The words' positions are only looked for when
        the regex finds something too (which came first)."""
        word = None
        if self.words:
            word = next((w for w in words if w.lower() in self.words), None)
        found = self.pattern.search(text) if self.pattern is not None else None
        if found is None:
            return word
        if word is not None:
            at = next(m.start() for m in _WORD.finditer(text) if m.group(0) == word)
            if at < found.start():
                return word
        return found.group(0)


_WORD = re.compile(r"\w+")


@lru_cache(maxsize=4096)
def compile_keywords(keywords: tuple[tuple[str, bool], ...]) -> Keywords:
    """A filter's keywords compiled (see the module docstring): a whole-word keyword of word
    characters only matches exactly the words `\\w+` splits a text into, so a set lookup is
    the same test as its `\\b…\\b` regex."""
    words = frozenset(
        k.lower() for k, whole in keywords if whole and _WORD.fullmatch(k) is not None
    )
    rest = [(k, w) for k, w in keywords if not (w and _WORD.fullmatch(k) is not None)]
    pattern = (
        re.compile("|".join(keyword_pattern(k, w) for k, w in rest), re.IGNORECASE)
        if rest
        else None
    )
    return Keywords(words, pattern)


def _active() -> Any:
    now = bindparam("now", callable_=utcnow, type_=Filter.expires_at.type, unique=True)
    return or_(Filter.expires_at.is_(None), Filter.expires_at > now)


def has_active_filter(viewer: Any) -> Any:
    """SQL: the viewer (an id or a bound parameter) has an active filter (`viewer_filters`
    finds one), for a statement that asks on the way (`hydrate.load_refs`)."""
    return exists().where(Filter.account_id == viewer, _active())


@cache
def _filters_statement() -> Select[Any]:
    """`viewer_filters`' statement, built once (it runs on every page a signed-in person
    reads)."""
    keywords = (
        select(json_objects(k=FilterKeyword.keyword, w=FilterKeyword.whole_word))
        .where(FilterKeyword.filter_id == Filter.id)
        .scalar_subquery()
    )
    statuses = (
        select(json_objects(p=FilterStatus.post_id))
        .where(FilterStatus.filter_id == Filter.id)
        .scalar_subquery()
    )
    return (
        select(
            Filter.id,
            Filter.title,
            Filter.contexts,
            Filter.action,
            Filter.expires_at,
            keywords,
            statuses,
        )
        .where(Filter.account_id == bindparam("viewer_id", type_=ID), _active())
        .order_by(Filter.id)
    )


async def viewers_with_filters(session: AsyncSession, viewers: Iterable[int | None]) -> set[int]:
    """Which of these viewers have an active filter (one query for all of them)."""
    ids = [v for v in viewers if v is not None]
    if not ids:
        return set()
    return set(await session.scalars(_with_filters_statement(), {"viewers": ids}))


@cache
def _with_filters_statement() -> Select[int]:
    """Which of the accounts `viewers` have an active filter (built once: it runs for every
    live event in every server process)."""
    active = select(Filter.account_id).where(one_of(Filter.account_id, "viewers"), _active())
    return active.distinct()


async def viewer_filters(session: AsyncSession, viewer_id: int | None) -> ViewerFilters:
    """The viewer's active filters (none signed out), in one query: a row per filter, its
    keywords and posts as JSON arrays (`json_objects`)."""
    if viewer_id is None:
        return ViewerFilters()
    rows = (await session.execute(_filters_statement(), {"viewer_id": viewer_id})).all()
    found = []
    for row in rows:
        pairs = sorted({(k["k"], bool(k["w"])) for k in orjson.loads(row[5] or "[]")})
        ids = frozenset(int(p["p"]) for p in orjson.loads(row[6] or "[]"))
        found.append(
            ActiveFilter(
                row.id,
                row.title,
                tuple(row.contexts or ()),
                row.action,
                row.expires_at,
                compile_keywords(tuple(pairs)),
                ids,
            )
        )
    return ViewerFilters(found)
