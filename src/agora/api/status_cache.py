"""Rendered statuses, cached: a page of Status entities is joined from JSON rendered once
per post version, with only what differs by viewer or by minute rendered per request.

**What is cached.** For each post, its `entities.status_shared_json` (text, media, mentions,
tags, URIs: the same for every viewer) as JSON bytes, with the AI-use stance it discloses;
for each account, its Account entity without the counters (with `moved`, the account it moved
to, as it was when rendered: a later change of that account alone shows once the moved one's
version changes), with its stance. Never cached:
who may see what (the visibility rule runs on every request, `hydrate.load_refs`, the same
rule on the same rows as `hydrate.load_posts`), the counters (read per request and spliced
in), the viewer's marks, `pinned`, `filtered`, the poll (its totals, `expired`, `voted`
depend on the viewer and the clock), the quote's state, and the shared part of a post whose
media URLs are signed for one viewer (`hydrate.shared_for_everyone`: never stored).

**Filters.** A post's rendering keeps what the viewer's filters look for keywords in
(`filtering.PostText`: content warning, text, media descriptions, all under its
`render_version`); its poll's options come with the poll read per request. A viewer with
active filters (`load_refs` says so on the way; then one query reads them) has every shown
post matched by the rule itself (`ViewerFilters.matches`, `filtering.hidden`) on that text,
as `hydrate.load_posts` matches a hydrated post: the matches are spliced in as `filtered`
(FilterResult entities, never cached) and the requested posts a `hide` filter removes in the
context are left out. Same rule, same input, so a page through the cache is the page
rendered fresh (tests/test_status_cache.py compares them, filters and contexts included).

**Keys and versions.** A post's rendering is keyed by (post id, `posts.render_version`,
author's `accounts.render_version`), an account's by (account id, `render_version`). The
versions are bumped by database triggers (migration 0015), not by the services: any update of
a post's columns but its counters, any change of its media, mentions or hashtags (on
PostgreSQL, except those written with the post by the transaction that inserted it, which
nobody can have rendered: migration 0045), any update of an account's columns but its
counters (name, avatar, note, fields, consent, suspension, silence...) bumps them in the
writing transaction, whichever code path writes (API, web,
federation, moderation, the CLI, a later feature). That is what cannot be forgotten; a
migration adding a column to `posts` or `accounts` must add it to the triggers, and
tests/test_status_cache.py fails until it does. A post's preview card is its
`posts.preview_card_id` (in the trigger); a card refetched with new content bumps the posts
showing it (social/posts/preview_cards.py), as rescoring does for Community Notes.
A rendering is stored under the versions read in the same statement as its content
(`PostView.versions`), so a concurrent edit can at worst store newer content under an older
key, which no reader asks for once it commits.
Mentioned accounts' usernames are rendered into the mentioning post: usernames never change.
Nothing is stored from a session whose transaction has written and not committed yet
(`db/session_writes.has_written`): a rendering of a change that is then rolled back could
otherwise be found under the version the next real change takes.

**Where.** The render cache both HTTP doors share (http/render_cache.py: an LRU per
process, and Redis when configured), under the kinds POST and ACCOUNT.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from agora.api.entities import (
    StatusFacts,
    account_counts_json,
    account_json,
    poll_json,
    status_shared_json,
    status_viewer_json,
)
from agora.api.filter_entities import filter_result_json
from agora.api.page_cache import note_ends, note_rows, note_unkeepable
from agora.data.signals import Stance, disclose_stance, interned, stance
from agora.db.models import Account
from agora.db.session_writes import has_written
from agora.http.render_cache import ACCOUNT, POST, Key, RenderCache, get_render_cache
from agora.social.posts.hydrate import (
    PostRef,
    PostView,
    load_posts,
    load_refs,
    post_text,
    shared_for_everyone,
)
from agora.social.posts.polls import load_polls
from agora.social.rules.filtering import (
    FilterMatch,
    PostText,
    ViewerFilters,
    hidden,
    viewer_filters,
)

ACCOUNT_COUNTS = ("followers_count", "following_count", "statuses_count", "last_status_at")
__all__ = ["ACCOUNT", "POST", "Key", "RenderCache", "Rendered", "get_render_cache"]


@dataclass(frozen=True, slots=True)
class Rendered:
    """A JSON object rendered once (bytes, `{...}`) and the stance it discloses; a post's
    with what filters look for keywords in."""

    json: bytes
    stance: Stance
    text: PostText | None = None

    def spliced(self, extra: dict[str, Any]) -> bytes:
        """This object with `extra`'s keys added (rendered now)."""
        return self.json[:-1] + b"," + orjson.dumps(extra)[1:]

    def dump(self) -> bytes:
        """The entry as Redis holds it."""
        s, t = self.stance, self.text
        text = None if t is None else [t.spoiler_text, t.text, t.descriptions]
        head = orjson.dumps([s.usage, s.noai, s.noimageai, s.tdm, text])
        return len(head).to_bytes(4, "big") + head + self.json

    @classmethod
    def load(cls, raw: bytes) -> Rendered:
        """An entry read back from Redis."""
        size = int.from_bytes(raw[:4], "big")
        usage, noai, noimageai, tdm, text = orjson.loads(raw[4 : 4 + size])
        found = interned(Stance(tuple((k, v) for k, v in usage), noai, noimageai, tdm))
        own = None if text is None else PostText(text[0], text[1], tuple(text[2]))
        return cls(raw[4 + size :], found, own)


def _post_key(ref: PostRef) -> Key:
    return (POST, ref.id, ref.post_version, ref.author_version)


def _account_key(ref: PostRef) -> Key:
    return (ACCOUNT, ref.account_id, ref.author_version)


async def status_fragments(
    session: AsyncSession,
    viewer_id: int | None,
    ids: list[int],
    *,
    context: str | None = None,
    extensions: Mapping[int, dict[str, Any]] | None = None,
) -> dict[int, orjson.Fragment]:
    """The Status entities of `ids` the viewer may see, by id in order, as JSON fragments: the
    same JSON as `entities.status_json` of `hydrate.load_posts` in `context`, joined from the
    cache. Queries: one narrow read (`load_refs`, which also says whether the viewer has an
    active filter), one for the viewer's filters when they have one, one for the page's
    polls when it has any, and one hydration of the posts and accounts the cache does not
    hold. The filters mark and hide posts as `load_posts` does (see the module docstring).
    `extensions`: what this response adds to a post's `agora` object (the For You ranking),
    by post id."""
    extra = extensions or {}
    page = await load_refs(session, viewer_id, ids)
    note_rows(page.post_stamps, page.author_stamps)
    if not page.kept:
        return {}
    if page.has_filters:  # marks and hides for this viewer alone, until a filter expires
        note_unkeepable()
    filters = await viewer_filters(session, viewer_id) if page.has_filters else ViewerFilters()
    cache = get_render_cache()
    refs = page.refs
    wanted = {_post_key(r) for r in refs.values()} | {_account_key(r) for r in refs.values()}
    held = await cache.get_many(list(wanted), Rendered.load)
    fresh = await _render_missing(session, viewer_id, refs, held)
    polls = await _polls(session, viewer_id, refs)
    page_json = _PageJson(viewer_id, refs, held, fresh, polls, filters, context)
    out = {}
    for pid in page.kept:
        if filters and hidden(page_json.matches(pid), context):
            continue
        rendered = page_json.status(pid)
        if rendered is not None:
            out[pid] = orjson.Fragment(_extended(rendered, extra.get(pid)))
    for shown in page_json.stances.values():  # each distinct stance once (they are interned)
        disclose_stance(shown)
    return out


def _extended(rendered: bytes, extension: dict[str, Any] | None) -> bytes:
    """A Status's JSON with `extension` added to its `agora` object (per request, never
    cached)."""
    if not extension:
        return rendered
    data = orjson.loads(rendered)
    data["agora"] = {**data.get("agora", {}), **extension}
    return orjson.dumps(data)


async def _render_missing(
    session: AsyncSession,
    viewer_id: int | None,
    refs: dict[int, PostRef],
    held: dict[Key, Rendered],
) -> dict[Key, Rendered]:
    """Hydrate and render what the cache lacks: posts, and one post of each author whose
    account is missing. Returns the renderings for this response (keyed by the versions the
    page read); stores those every viewer may be shown under the versions hydration read."""
    missing = [
        pid
        for pid, ref in refs.items()
        if _post_key(ref) not in held or _account_key(ref) not in held
    ]
    if not missing:
        return {}
    views = await load_posts(
        session, viewer_id, missing, polls=False, filters=False, flags=False
    )  # the flags and counters come from `load_refs`, per request
    fresh: dict[Key, Rendered] = {}
    stored: dict[Key, Rendered] = {}
    for pid in missing:
        view = views.get(pid)
        if view is None:
            continue  # gone since the narrow read: not shown
        post_version, author_version = view.versions
        ref = refs[pid]
        if _account_key(ref) not in held and _account_key(ref) not in fresh:
            # (most new posts are by an author rendered before; a page's others, once)
            account = fresh[_account_key(ref)] = _account(view)
            stored[(ACCOUNT, ref.account_id, author_version)] = account
        shared = fresh[_post_key(ref)] = _shared(view, viewer_id)
        if shared_for_everyone(view):  # else its media URLs are signed for this viewer:
            stored[(POST, pid, post_version, author_version)] = shared  # never shared, but
        # a page of them is theirs alone, as the page cache keys it (api/page_cache.py)
    if not has_written(session):
        await get_render_cache().put_many(stored)
    return fresh


def _shared(view: PostView, viewer_id: int | None) -> Rendered:
    post = view.post
    found = stance(view.account, post if post.reblog_of_id is None else None)
    return Rendered(orjson.dumps(status_shared_json(view, viewer_id)), found, post_text(view))


def _account(view: PostView) -> Rendered:
    return account_rendering(view.account, view.moved_to)


def account_rendering(account: Account, moved: Account | None) -> Rendered:
    """An account's cached rendering: its Account entity (with `moved`, the account it moved
    to) without the counters (api/account_cache.py renders the accounts it lacks with it)."""
    data = account_json(account, moved=moved)
    for key in ACCOUNT_COUNTS:
        del data[key]
    return Rendered(orjson.dumps(data), stance(account, None))


async def _polls(
    session: AsyncSession, viewer_id: int | None, refs: dict[int, PostRef]
) -> dict[int, dict[str, Any]]:
    """The Poll entities of the page's posts, by post id (rendered per request)."""
    by_poll = {r.poll_id: r for r in refs.values() if r.poll_id is not None}
    if not by_poll:
        return {}
    found = await load_polls(session, viewer_id, set(by_poll))
    for poll in found.values():
        note_ends(poll.expires_at)
    return {
        by_poll[pid].id: poll_json(poll, viewer_id, by_poll[pid].account_id)
        for pid, poll in found.items()
    }


class _PageJson:
    """Joins one page's statuses from renderings and per-request parts."""

    def __init__(
        self,
        viewer_id: int | None,
        refs: dict[int, PostRef],
        held: dict[Key, Rendered],
        fresh: dict[Key, Rendered],
        polls: dict[int, dict[str, Any]],
        filters: ViewerFilters,
        context: str | None,
    ) -> None:
        self.viewer_id = viewer_id
        self.refs = refs
        self.rendered = {**held, **fresh}
        self.polls = polls
        self.filters = filters
        self.context = context
        self.accounts: dict[Key, bytes] = {}
        self.statuses: dict[int, bytes | None] = {}
        self.stances: dict[int, Stance] = {}  # what the joined statuses show, by identity
        self.filtered: dict[int, list[FilterMatch]] = {}

    def matches(self, pid: int) -> list[FilterMatch]:
        """The viewer's filters (for the context) one shown post matches, as `load_posts`
        matches its view: on the searchable text of the post it boosts, if it is a boost."""
        found = self.filtered.get(pid)
        if found is None:
            found = self.filtered[pid] = self._matches(pid)
        return found

    def _matches(self, pid: int) -> list[FilterMatch]:
        if not self.filters:
            return []
        ref = self.refs[pid]
        proper = ref.reblog_id if ref.reblog_id is not None else pid
        shared = self.rendered.get(_post_key(self.refs[proper]))
        if shared is None or shared.text is None:
            return []  # vanished since the narrow read: not shown
        poll = self.polls.get(proper)
        options = [option["title"] for option in poll["options"]] if poll else ()
        text = shared.text.searchable(options)
        return self.filters.matches(pid, ref.reblog_id, text, self.context)

    def status(self, pid: int) -> bytes | None:
        """The Status JSON of one shown post (None if it vanished since the narrow read)."""
        if pid not in self.statuses:
            self.statuses[pid] = self._status(pid)
        return self.statuses[pid]

    def _status(self, pid: int) -> bytes | None:
        ref = self.refs[pid]
        shared = self.rendered.get(_post_key(ref))
        account = self._account(ref)
        if shared is None or account is None:
            return None
        reblog = self.status(ref.reblog_id) if ref.reblog_id is not None else None
        if ref.reblog_id is not None and reblog is None:
            return None
        quoted = self.status(ref.quote_id) if ref.quote_id is not None else None
        self.stances[id(shared.stance)] = shared.stance
        facts = StatusFacts.of_ref(ref)
        viewer_part = status_viewer_json(
            facts,
            self.viewer_id,
            orjson.Fragment(account),
            orjson.Fragment(reblog) if reblog is not None else None,
            orjson.Fragment(quoted) if quoted is not None else None,
            self.polls.get(pid),
            [filter_result_json(m) for m in self.matches(pid)],
        )
        return shared.spliced(viewer_part)

    def _account(self, ref: PostRef) -> bytes | None:
        key = _account_key(ref)
        found = self.accounts.get(key)
        if found is None:
            entry = self.rendered.get(key)
            if entry is None:
                return None
            found = self.accounts[key] = entry.spliced(account_counts_json(*ref.author_counts))
            self.stances[id(entry.stance)] = entry.stance
        return found
