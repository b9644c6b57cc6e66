"""Whole pages of statuses, cached per viewer: a page asked again, unchanged, is answered
with the bytes sent last time after one statement proves that nothing it shows has changed.

**What proves a page unchanged.** Every input of a page has a stamp that only grows, kept by
database triggers (migration 0042), so no code path, door or process can forget one:
`posts.change_stamp` and `accounts.change_stamp` grow on every update of the row (counters,
edits, deletion, suspension, consent, a vote in the post's poll), and `view_stamps` grows for
an account on every change of its home feed, relationships (both sides), marks, filters and
lists, and for account 0 on every change of the server's settings. A page is stored with:

- the viewer's, the server's and the page's subject's `view_stamps` (a profile's owner: their
  pins), and the sum and count of the `change_stamp` of the page's source accounts: for the
  home timeline, the followed accounts above the fan-out threshold, whose posts reach it
  without a feed entry (`home_rule`; a new post or boost grows its author's stamp, and an
  account crossing the threshold changes the count); for a profile, its owner; for the
  public and hashtag timelines, the sixteen `view_stamps` rows every public post written,
  edited or deleted grows; read **before** the page is built;
- the sum and count of the `change_stamp` of every post row the page read (shown or not:
  boosted and quoted ones, ones hidden from the viewer) and of their authors, read **in the
  same rows** as the page's data (`hydrate.load_refs`).

It is served again only when one statement reads the same numbers. Stamps only grow and the
sets are fixed per page, so equal sums and counts mean no row changed and none was deleted;
the parts read before the page can only be older than what it shows (a change in between
makes the next check fail, never pass). Each part is compared on its own, so a growth in
one cannot hide a loss in another.

**What is never cached.** A page whose statuses are filtered for the viewer, or that was
built by a session that has written. A page holding media URLs signed for its viewer (a
followers-only or direct post's, `hydrate.shared_for_everyone`) is kept for that viewer
alone, as every page is: a signature has no end and changes only with the media row, whose
change grows its post's stamp (the render-version triggers). What depends on the clock ends
an entry: a poll's end, and `page_cache_seconds` for everything else (a mute's end), or
between half and all of it, drawn for each page (`PageCache.lifetime`): pages built together
(a warm-up, the first minute after a restart) would otherwise all be built again together,
every period, and the requests around that burst would wait behind it.

**Proved once, answered from memory.** `Database.change_token` is a number that stays the
same while nothing a page reads can have changed: on PostgreSQL the epoch of the primary's
page change notices (db/change_notices.py: a trigger on every table the statement reads
notifies every listening process when a transaction that changed one commits), on SQLite
the row reader's `PRAGMA data_version` (any commit by any other connection changes it, read
from the file's shared memory, no table; asked at most every 2 ms and again after every
commit of this process's sessions, db/row_reader.py). A page whose statement read its stamps on the
primary (the row reader) after the token was read as `t` is answered again with no
statement while the token is still `t`; otherwise its statement runs as before. A statement
through the request's session proves nothing for later (it may read a replica). Both tokens
change with far more than a page shows (any commit, of any table, on SQLite), so they only
spare the statement while nothing is written; on PostgreSQL what is left is the notice's
way to the process, on SQLite another process's commit in the last 2 ms, the same for a
person as having asked a moment earlier. Behind
PgBouncer with no direct URL to listen on there is no token.

**Where.** A byte-bounded LRU in each process (`page_cache_bytes`; no lock: one event loop).
Processes need not tell each other anything: the database tells them.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from agora.config import get_settings
from agora.data.signals import CURRENT, Stance, disclose_stance
from agora.db.engine import column_rows
from agora.db.session_writes import has_written
from agora.http.compression import (
    accepts_gzip,
    compressible,
    encoded,
    gzip_headers,
    gzipped,
    plain_headers,
)
from agora.http.deps import checked_scopes

Stamps = tuple[int, ...]
SERVER = 0  # the view_stamps row of the server's own settings


@dataclass(slots=True)
class PageRecord:
    """What building one page read: each post row's and author's stamp (the lowest, when a
    row was read twice), whether the page may be kept, and until when."""

    posts: dict[int, int] = field(default_factory=dict)
    accounts: dict[int, int] = field(default_factory=dict)
    keepable: bool = True
    until: float = float("inf")  # time.time() after which the page is stale

    def rows(self, posts: dict[int, int], accounts: dict[int, int]) -> None:
        """Note post rows and author rows read with their stamps."""
        for into, found in ((self.posts, posts), (self.accounts, accounts)):
            for key, stamp in found.items():
                held = into.get(key)
                into[key] = stamp if held is None else min(held, stamp)

    def stamps(self) -> Stamps:
        """The posts' and authors' parts of the page's stamps."""
        return (
            sum(self.posts.values()),
            len(self.posts),
            sum(self.accounts.values()),
            len(self.accounts),
        )


_RECORD: ContextVar[PageRecord | None] = ContextVar("agora_page_record", default=None)


def note_rows(posts: dict[int, int], accounts: dict[int, int]) -> None:
    """A page being built read these post and author rows (id -> change_stamp). A no-op
    when no page is being recorded."""
    record = _RECORD.get()
    if record is not None:
        record.rows(posts, accounts)


def note_unkeepable() -> None:
    """The page being built shows what may change without a stamp growing (statuses
    filtered for the viewer, whose filters expire): it is not kept."""
    record = _RECORD.get()
    if record is not None:
        record.keepable = False


def note_ends(when: datetime | None) -> None:
    """What the page being built shows changes by itself at `when` (a poll's end)."""
    record = _RECORD.get()
    if record is None or when is None:
        return
    at = when.replace(tzinfo=when.tzinfo or UTC).timestamp()
    if at > time.time():  # an end already past changes nothing more
        record.until = min(record.until, at)


@contextmanager
def _recording() -> Any:
    record = PageRecord()
    token = _RECORD.set(record)
    try:
        yield record
    finally:
        _RECORD.reset(token)


PageKey = tuple[str, bytes, int]  # the request's path, raw query string, viewer (0: none)
KEPT_HEADERS = (b"content-type", b"content-length", b"link")


@dataclass(slots=True)
class CachedPage:
    """A page as sent, what it was built under, and the statement that proves it current:
    `check` (its text) with `params` reads `stamps` again while nothing it shows changed,
    in the database at `database` (a process serves one; tests switch). `scopes`: what a
    token must be granted to be answered it; `route`: the route that built it (for the
    metrics of a page answered by `page_door`). `proved`: the change token
    (`Database.change_token`) under which its statement last read the same stamps on the
    primary (-1: never); the only field that changes."""

    body: bytes
    headers: list[tuple[bytes, bytes]]
    stance: Stance | None
    stamps: Stamps
    check: TextClause
    params: dict[str, Any]
    database: str
    scopes: tuple[str, ...]
    route: Any
    until: float
    proved: int = -1
    # the body gzipped and its headers (http/compression.py), once a client asked for it
    gzip: bytes | None = None
    gzip_headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    @property
    def size(self) -> int:
        """The bytes it holds (what the cache's bound counts)."""
        return len(self.body) + (len(self.gzip) if self.gzip is not None else 0)


class PageCache:
    """A byte-bounded LRU of pages by (path, query, viewer), and how many are kept for each
    path (so a request for a path with none is told so by one look-up: `holds`)."""

    def __init__(self, max_bytes: int, seconds: float) -> None:
        self.max_bytes = max_bytes
        self.seconds = seconds
        self.bytes = 0
        self._lru: OrderedDict[PageKey, CachedPage] = OrderedDict()
        self._per_path: dict[str, int] = {}
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._lru)

    def holds(self, path: str) -> bool:
        """Whether any page is kept for `path` (whatever its query and viewer)."""
        return path in self._per_path

    @property
    def enabled(self) -> bool:
        """Whether pages are kept at all (`page_cache_bytes` and `page_cache_seconds` > 0)."""
        return self.max_bytes > 0 and self.seconds > 0

    def lifetime(self) -> float:
        """How long a page built now is kept at most: between half and all of `seconds`,
        drawn for each page (module docstring, "What is never cached")."""
        return self.seconds * (0.5 + random.random() / 2)

    def get(self, key: PageKey) -> CachedPage | None:
        """The page kept under `key`, if it has not ended."""
        page = self._lru.get(key)
        if page is None:
            return None
        if page.until <= time.time():
            self.drop(key)
            return None
        self._lru.move_to_end(key)
        return page

    def put(self, key: PageKey, page: CachedPage) -> None:
        """Keep `page`, forgetting the least recently used ones beyond the byte bound."""
        self.drop(key)
        if page.size > self.max_bytes:
            return
        self._lru[key] = page
        self.bytes += page.size
        self._per_path[key[0]] = self._per_path.get(key[0], 0) + 1
        self._trim()

    def sent(
        self, key: PageKey, page: CachedPage, gzip_accepted: bool
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The body and headers `page` is answered with: gzipped when the request accepts it
        and the page is worth it (compressed the first time, then kept with the page and
        counted by the bound), else as it was built."""
        if not gzip_accepted or not compressible(page.body):
            return page.body, page.headers
        if page.gzip is None:
            page.gzip = gzipped(page.body)
            page.gzip_headers = gzip_headers(page.headers, page.gzip)
            if self._lru.get(key) is page:
                self.bytes += len(page.gzip)
                self._trim()
        return page.gzip, page.gzip_headers

    def _trim(self) -> None:
        while self.bytes > self.max_bytes:
            self._forget(*self._lru.popitem(last=False))

    def drop(self, key: PageKey) -> None:
        """Forget one page."""
        old = self._lru.pop(key, None)
        if old is not None:
            self._forget(key, old)

    def _forget(self, key: PageKey, old: CachedPage) -> None:
        """Account for `old`, just taken out of the LRU."""
        self.bytes -= old.size
        left = self._per_path[key[0]] - 1
        if left:
            self._per_path[key[0]] = left
        else:
            del self._per_path[key[0]]

    def clear(self) -> None:
        """Forget every page (tests)."""
        self._lru.clear()
        self._per_path.clear()
        self.bytes = 0


_cache: PageCache | None = None


def get_page_cache() -> PageCache:
    """The process's page cache, sized by the settings."""
    global _cache
    if _cache is None:
        settings = get_settings()
        _cache = PageCache(settings.page_cache_bytes, settings.page_cache_seconds)
    return _cache


def reset_page_cache() -> None:
    """Forget the process's page cache (tests; settings changed)."""
    global _cache
    _cache = None


FOLLOWED, ACCOUNT, PUBLIC = "followed", "account", "public"
PUBLIC_SHARDS = 16  # view_stamps rows -1 .. -16 (migration 0042)


@dataclass(frozen=True, slots=True)
class Sources:
    """Where a page's statuses come from besides what it shows: the account whose view
    stamp counts besides the viewer's (the profile's owner: their pins, their blocks), and
    which stamps say that new statuses may have arrived: the followed accounts above the
    fan-out threshold (`FOLLOWED`), that account's row (`ACCOUNT`) or the public posts'
    rows (`PUBLIC`)."""

    subject_id: int
    kind: str


def home_sources(viewer_id: int) -> Sources:
    """The home timeline's: the viewer's feed and everyone they follow."""
    return Sources(viewer_id, FOLLOWED)


def account_sources(account_id: int) -> Sources:
    """A profile's statuses (its owner's posts, boosts and pins) or an account's own
    notifications: that account's row and view stamp."""
    return Sources(account_id, ACCOUNT)


def public_sources() -> Sources:
    """The public and hashtag timelines: every public post written, edited or deleted."""
    return Sources(SERVER, PUBLIC)


def page_key(scope: MutableMapping[str, Any], viewer_id: int | None) -> PageKey:
    """The key of the page a request asks for (its raw path and query: one spelling of a
    query is one page)."""
    return (scope["path"], scope.get("query_string", b""), viewer_id or 0)


async def current(page: CachedPage, db: Any, session: AsyncSession | None = None) -> bool | None:
    """Whether `page` still shows what is in the database: nothing was heard to change since
    its statement last read the same stamps (module docstring, "Proved once"), or its
    statement reads them now, on the database's row reader (no session), else through
    `session`; None when the reader cannot answer and no session is given."""
    if page.database != db.url:
        return False
    token = db.change_token()
    if token is not None and page.proved == token:
        return True
    row = await db.first_row(page.check.text, page.params)  # after the token was read
    if row is None:
        if session is None:
            return None
        row = (await column_rows(session, page.check, page.params))[0]
        token = None  # a session may read a replica, behind the primary
    fresh = tuple(int(value or 0) for value in row) == page.stamps
    if fresh and token is not None:
        page.proved = token
    return fresh


async def served(
    request: Request,
    session: AsyncSession,
    viewer_id: int | None,
    sources: Sources,
    build: Callable[[], Awaitable[Response]],
) -> Response:
    """The response of `build` for this request, or the same bytes again when this viewer
    (or anyone signed out) asked for the same page before and nothing it shows has changed
    since (module docstring). For pages of statuses rendered through
    `status_cache.status_fragments` whose ids come from `sources`. A page kept here is also
    answered by `page_door.PageDoor` before routing, when the request's token is known."""
    cache = get_page_cache()
    disclosure = CURRENT.get()
    gzip_accepted = accepts_gzip(request.scope["headers"])
    if not cache.enabled or (disclosure is not None and disclosure.found is not None):
        return encoded(await build(), gzip_accepted)
    key = page_key(request.scope, viewer_id)
    kept = cache.get(key)
    if kept is not None:
        if await current(kept, request.app.state.db, session):
            cache.hits += 1
            if kept.stance is not None:
                disclose_stance(kept.stance)
            return _answer(*cache.sent(key, kept, gzip_accepted))
        cache.drop(key)
    cache.misses += 1
    sqlite = session.get_bind().dialect.name == "sqlite"
    before = await _stamps(session, _check(sqlite, viewer_id, sources, (), ()))
    with _recording() as record:
        response = await build()
    if not record.keepable or response.status_code != 200 or has_written(session):
        return encoded(response, gzip_accepted)
    kept_rows = (tuple(record.posts), tuple(record.accounts))
    statement, params = _check(sqlite, viewer_id, sources, *kept_rows)
    disclosure = CURRENT.get()
    body = bytes(response.body)
    page = CachedPage(
        body=body,
        headers=plain_headers([(k, v) for k, v in response.raw_headers if k in KEPT_HEADERS], body),
        stance=disclosure.found if disclosure is not None else None,
        stamps=before[:BEFORE] + record.stamps(),
        check=statement,
        params=params,
        database=request.app.state.db.url,
        scopes=checked_scopes(request),
        route=request.scope.get("route"),
        until=min(record.until, time.time() + cache.lifetime()),
    )
    cache.put(key, page)
    return _answer(*cache.sent(key, page, gzip_accepted))


def _answer(body: bytes, headers: list[tuple[bytes, bytes]]) -> Response:
    response = Response(body)
    response.raw_headers = list(headers)
    return response


def _check(
    sqlite: bool,
    viewer_id: int | None,
    sources: Sources,
    posts: tuple[int, ...],
    accounts: tuple[int, ...],
) -> tuple[TextClause, dict[str, Any]]:
    """The stamps statement and its parameters: the viewer's, the server's and the
    subject's view stamps, the sum and count over the source accounts (`BEFORE` numbers),
    then the sum and count over `posts` and over `accounts`."""
    params: dict[str, Any] = {
        "viewer_id": viewer_id,
        "server": SERVER,
        "subject_id": sources.subject_id,
        "threshold": get_settings().fanout_follower_threshold,
    }
    if sqlite:
        params["posts"] = orjson.dumps(posts).decode()
        params["accounts"] = orjson.dumps(accounts).decode()
    else:
        params["posts"] = list(posts)
        params["accounts"] = list(accounts)
    return _STATEMENTS[sqlite, sources.kind], params


async def _stamps(session: AsyncSession, check: tuple[TextClause, dict[str, Any]]) -> Stamps:
    row = (await column_rows(session, *check))[0]
    return tuple(int(value or 0) for value in row)


BEFORE = 5  # the numbers read before a page is built


def _statement(sqlite: bool, kind: str) -> TextClause:
    """The stamps statement of one dialect and kind of sources. On PostgreSQL the ids are
    matched with `= ANY(array)`, one index scan of the array's keys: `IN (SELECT
    unnest(array))` was planned as a join of a set-returning function (a hash of the ids,
    a sequential scan of every account), about 200 us of the server's CPU per check against
    about 85 us."""
    ids = (
        "IN (SELECT value FROM json_each(:{name}))"
        if sqlite
        else "= ANY(CAST(:{name} AS BIGINT[]))"
    )
    if kind == FOLLOWED:  # few accounts are above the threshold: found by the index
        indexed = " INDEXED BY ix_accounts_followers_count" if sqlite else ""
        sources = (
            f"sum(change_stamp) AS s, count(*) AS n FROM accounts{indexed} "
            "WHERE followers_count > :threshold AND EXISTS (SELECT 1 "
            "FROM follows WHERE follows.account_id = :viewer_id "
            "AND follows.target_account_id = accounts.id)"
        )
    elif kind == ACCOUNT:
        sources = "sum(change_stamp) AS s, count(*) AS n FROM accounts WHERE id = :subject_id"
    else:
        sources = (
            "sum(stamp) AS s, count(*) AS n FROM view_stamps "
            f"WHERE account_id BETWEEN -{PUBLIC_SHARDS} AND -1"
        )
    return text(
        "SELECT "
        "(SELECT stamp FROM view_stamps WHERE account_id = :viewer_id), "
        "(SELECT stamp FROM view_stamps WHERE account_id = :server), "
        "(SELECT stamp FROM view_stamps WHERE account_id = :subject_id), "
        "f.s, f.n, p.s, p.n, a.s, a.n FROM "
        f"(SELECT {sources}) AS f, "
        "(SELECT sum(change_stamp) AS s, count(*) AS n FROM posts "
        f"WHERE id {ids.format(name='posts')}) AS p, "
        "(SELECT sum(change_stamp) AS s, count(*) AS n FROM accounts "
        f"WHERE id {ids.format(name='accounts')}) AS a"
    )


_STATEMENTS = {
    (sqlite, kind): _statement(sqlite, kind)
    for sqlite in (True, False)
    for kind in (FOLLOWED, ACCOUNT, PUBLIC)
}
