"""Post cards, rendered once per post version: the web app's twin of the API's rendered
statuses (api/status_cache.py), in the same render cache (http/render_cache.py).

**What is cached.** For each post, its `Card`: the viewer-independent HTML of its card
(`_post_card.html`: author line, content, media, preview card, Community Note, labels), cut
at its holes, with the pieces a request may pick (the reply line, the post as a quote, the
"removed quote" line, the preview card, a boost's "X boosted" line), its creation time, the
text the viewer's filters look in and its AI-use stance. Keyed by (CARD, post id,
`posts.render_version`, author's `accounts.render_version`): the versions the database's
triggers bump for every column and part a card shows (migration 0015), whichever door wrote.
Never cached (every hole is filled per request, `_post_viewer.html`): the card's own id (a
boost shows its original under its own id), the relative time, which boosted, quoted and
reply posts the viewer may see (`hydrate.load_refs` runs the visibility rule on every
request), the counters, the viewer's marks and actions, the CSRF token, the poll (totals,
the viewer's votes, the clock), the viewer's filter warnings and "Why this post". A card
whose media URLs are signed for one viewer (a followers-only or direct post with media,
`hydrate.shared_for_everyone`) is rendered for that viewer and never stored.

**One rendering, two paths.** `post_card` renders a hydrated `PostView` (threads, search,
notifications...): `card_of` + `CardFacts.of_view`. `shown_cards` renders a page of ids from
the cache: `load_refs` (one narrow statement), the viewer's filters when they have one, the
page's polls when it has any, and `load_posts` for the cards the cache lacks only; then
`CardFacts.of_ref`. Both join through `joined`, so they cannot drift;
tests/test_web_post_cards.py compares them after every kind of change.

**Holes** are marked in the shared rendering by `hole(name)`: a NUL, a random per-process
mark and the name, which no text can forge (the mark is never sent), cut out once when the
card is rendered (`Card.parts`: literal, hole, literal...).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, NamedTuple

import orjson
from markupsafe import Markup, escape
from sqlalchemy.ext.asyncio import AsyncSession

from agora.data.signals import Stance, disclose_stance, interned, stance
from agora.db.models import QuoteState
from agora.db.session_writes import has_written
from agora.http.render_cache import CARD, Key, get_render_cache
from agora.social.posts import quote_rule
from agora.social.posts.hydrate import (
    FLAGS,
    PostRef,
    PostView,
    load_posts,
    load_refs,
    post_text,
    shared_for_everyone,
)
from agora.social.posts.polls import PollView, load_polls
from agora.social.rules.filtering import (
    FilterMatch,
    PostText,
    ViewerFilters,
    hidden,
    viewer_filters,
)
from agora.social.rules.visibility import is_public_or_unlisted
from agora.web.formatting import ago
from agora.web.jinja_env import environment, template_module

_MARK = secrets.token_hex(8)
_HOLE = re.compile(f"\x00{_MARK}(\\w+)\x00")


def hole(name: str) -> Markup:
    """Where a request fills in `name` (a template global of `_post_card.html`)."""
    return Markup(f"\x00{_MARK}{name}\x00")


@dataclass(frozen=True, slots=True)
class Card:
    """A post's card as every viewer is shown it: `parts` alternate literal HTML and hole
    names (none for a boost, shown through its original's card); `pieces` the HTML a
    request may put in a hole."""

    parts: tuple[str, ...]
    pieces: dict[str, str]
    created_at: datetime
    username: str
    no_ai_reuse: bool
    stance: Stance
    text: PostText

    def dump(self) -> bytes:
        """The entry as Redis holds it."""
        s, t = self.stance, self.text
        return orjson.dumps(
            [
                self.parts,
                self.pieces,
                self.created_at,
                self.username,
                self.no_ai_reuse,
                [s.usage, s.noai, s.noimageai, s.tdm],
                [t.spoiler_text, t.text, t.descriptions],
            ]
        )

    @classmethod
    def load(cls, raw: bytes) -> Card:
        """An entry read back from Redis."""
        parts, pieces, created, username, no_ai, (usage, noai, noimageai, tdm), text = orjson.loads(
            raw
        )
        found = interned(Stance(tuple((k, v) for k, v in usage), noai, noimageai, tdm))
        return cls(
            tuple(parts),
            pieces,
            datetime.fromisoformat(created),
            username,
            no_ai,
            found,
            PostText(text[0], text[1], tuple(text[2])),
        )


@cache
def _macros(template: str) -> Any:
    return template_module(template)


def card_of(view: PostView, viewer_id: int | None) -> Card:
    """The card of one hydrated post (media URLs as `viewer_id` is shown them: the same for
    everyone when `shared_for_everyone(view)`)."""
    macros = _macros("_post_card.html")
    post, account = view.post, view.account
    pieces: dict[str, str] = {}
    parts: tuple[str, ...] = ()
    if post.reblog_of_id is not None:
        pieces["boosted"] = str(macros.boosted(view))
    else:
        parts = tuple(_HOLE.split(str(macros.card(view, viewer_id))))
        if post.in_reply_to_id is not None:
            pieces["reply_to"] = str(macros.reply_to(view))
        pieces["as_quote"] = str(macros.as_quote(view))
        if post.quote_of_id is not None and post.quote_state == QuoteState.REVOKED:
            pieces["quote_removed"] = str(macros.quote_removed())
        if view.card is not None and not view.media:
            pieces["preview_card"] = str(macros.preview_card(view.card))
    own = stance(account, post if post.reblog_of_id is None else None)
    return Card(
        parts, pieces, post.created_at, account.username, post.no_ai_reuse, own, post_text(view)
    )


@dataclass(frozen=True, slots=True)
class CardFacts:
    """What a card shows that is read per request: the card's own id (`outer_id`, a boost's
    when it shows a boosted post), the shown post's counters, the viewer's marks and what
    they may do, the visible quote's post and author."""

    outer_id: int
    is_boost: bool
    id: int
    author_id: int
    username: str
    visibility: int
    no_ai_reuse: bool
    replies: int
    reblogs: int
    favourites: int
    favourited: bool
    reblogged: bool
    bookmarked: bool
    muted: bool
    may_quote: bool
    quote_id: int | None
    quote_author_id: int | None

    @classmethod
    def of_view(cls, view: PostView, viewer_id: int | None) -> CardFacts:
        """The facts of a hydrated post."""
        shown = view.reblog or view
        p, quote = shown.post, shown.quote
        return cls(
            view.post.id,
            view.reblog is not None,
            p.id,
            p.account_id,
            shown.account.username,
            p.visibility,
            p.no_ai_reuse,
            p.replies_count,
            p.reblogs_count,
            p.favourites_count,
            shown.favourited,
            shown.reblogged,
            shown.bookmarked,
            shown.muted,
            _may_quote(
                p.quote_policy,
                quote_rule.quotable(p),
                p.account_id,
                shown.follows_author,
                viewer_id,
            ),
            quote.post.id if quote is not None else None,
            quote.post.account_id if quote is not None else None,
        )

    @classmethod
    def of_ref(
        cls, outer: PostRef, refs: dict[int, PostRef], card: Card, viewer_id: int | None
    ) -> CardFacts:
        """The facts of a post read narrowly (`load_refs`) with its cached card."""
        ref = refs[outer.reblog_id] if outer.reblog_id is not None else outer
        marks = dict(zip(FLAGS, ref.flags, strict=True))
        quote = refs[ref.quote_id] if ref.quote_id is not None else None
        replies, reblogs, favourites, _ = ref.counts
        return cls(
            outer.id,
            outer.reblog_id is not None,
            ref.id,
            ref.account_id,
            card.username,
            ref.visibility,
            card.no_ai_reuse,
            replies,
            reblogs,
            favourites,
            marks["favourited"],
            marks["reblogged"],
            marks["bookmarked"],
            marks["muted"],
            _may_quote(
                ref.quote_policy,
                ref.reblog_id is None and is_public_or_unlisted(ref.visibility),
                ref.account_id,
                marks["follows_author"],
                viewer_id,
            ),
            quote.id if quote is not None else None,
            quote.account_id if quote is not None else None,
        )


def _may_quote(
    policy: int, quotable: bool, author_id: int, follows: bool, viewer_id: int | None
) -> bool:
    """Whether the viewer may quote the post (the quote rule, as the Status'
    `quote_approval.current_user` says it): the Quote action is shown only then."""
    verdict = quote_rule.approval(
        policy,
        quotable,
        own=author_id == viewer_id,
        follows=follows,
        signed_in=viewer_id is not None,
    )
    return verdict == "automatic"


class FooterShape(NamedTuple):
    """What a card's footer shows besides ids, counters and the CSRF token: whether the
    viewer is signed in, what they did and may do. A page's cards have a handful of shapes;
    each is rendered once per process (`_footer_parts`)."""

    signed_in: bool
    mine: bool
    is_boost: bool
    reblogged: bool
    favourited: bool
    bookmarked: bool
    muted: bool
    may_quote: bool
    revoke: bool  # the viewer may remove their post from this quote
    thread_focus: bool
    boostable: bool  # public or unlisted
    public: bool
    no_ai_reuse: bool

    @classmethod
    def of(cls, f: CardFacts, viewer_id: int | None, thread_focus: bool) -> FooterShape:
        """The shape of a card's footer for this viewer."""
        mine = f.author_id == viewer_id
        revoke = f.quote_id is not None and f.quote_author_id == viewer_id and not mine
        return cls(
            viewer_id is not None,
            mine,
            f.is_boost,
            f.reblogged,
            f.favourited,
            f.bookmarked,
            f.muted,
            f.may_quote,
            revoke,
            thread_focus,
            f.visibility <= 1,
            f.visibility == 0,
            f.no_ai_reuse,
        )


class FooterText(NamedTuple):
    """The values a footer's holes take (escaped HTML)."""

    outer_id: str
    id: str
    username: str
    replies: str
    reblogs: str
    favourites: str
    quote_id: str
    csrf: str

    @classmethod
    def of(cls, f: CardFacts, csrf: str) -> FooterText:
        """A card's values for this request."""
        return cls(
            str(f.outer_id),
            str(f.id),
            str(escape(f.username)),
            str(f.replies),
            str(f.reblogs),
            str(f.favourites),
            str(f.quote_id),
            str(escape(csrf)),
        )


_FOOTER_HOLES = FooterText(*(hole(name) for name in FooterText._fields))


@lru_cache(maxsize=1024)
def _footer_parts(shape: FooterShape) -> tuple[str, ...]:
    return tuple(_HOLE.split(str(_macros("_post_viewer.html").footer(shape, _FOOTER_HOLES))))


def footer_html(shape: FooterShape, text: FooterText) -> str:
    """A card's footer: its shape's kept rendering with this request's values."""
    values = dict(zip(FooterText._fields, text, strict=True))
    return "".join([values[p] if i % 2 else p for i, p in enumerate(_footer_parts(shape))])


@dataclass(slots=True)
class ShownCard:
    """One card of a page, ready to join: its cards (the boost's, the shown post's, its
    visible quote's), the facts, the poll and the viewer's filter matches."""

    outer: Card
    shown: Card
    quote: Card | None
    facts: CardFacts
    poll: PollView | None = None
    filtered: list[FilterMatch] = field(default_factory=list)


def joined(
    card: ShownCard,
    viewer_id: int | None,
    csrf: str,
    *,
    thread_focus: bool = False,
    why: Any = None,
) -> str:
    """The HTML of one card: its shared parts with every hole filled for this request."""
    macros = _macros("_post_viewer.html")
    shown, f = card.shown, card.facts
    warning = str(macros.filter_open(card.filtered)) if card.filtered else ""
    fill = {
        "outer": str(f.outer_id),
        "boosted": card.outer.pieces.get("boosted", "") if f.is_boost else "",
        "ago": str(escape(ago(shown.created_at))),
        "reply_to": "" if thread_focus else shown.pieces.get("reply_to", ""),
        "filter_open": warning,
        "filter_close": "</details>" if warning else "",
        "poll": str(macros.poll_part(f, card.poll, viewer_id, csrf)) if card.poll else "",
        "quote": card.quote.pieces["as_quote"]
        if card.quote is not None
        else shown.pieces.get("quote_removed", ""),
        "preview_card": "" if card.quote is not None else shown.pieces.get("preview_card", ""),
        "why": str(macros.why_part(why, f.outer_id, csrf)) if why else "",
        "footer": footer_html(FooterShape.of(f, viewer_id, thread_focus), FooterText.of(f, csrf)),
    }
    return "".join([fill[p] if i % 2 else p for i, p in enumerate(shown.parts)])


def disclose_card(card: ShownCard) -> None:
    """Disclose what a card shows to the page's AI-use signals (as `disclose_views` does a
    hydrated post: the post or boost, the boosted post, its quote)."""
    disclose_stance(card.outer.stance)
    if card.shown is not card.outer:
        disclose_stance(card.shown.stance)
    if card.quote is not None:
        disclose_stance(card.quote.stance)


def shown_of_view(view: PostView, viewer_id: int | None) -> ShownCard:
    """A hydrated post as a card to join, rendered now (nothing read from the cache)."""
    shown = view.reblog or view
    outer = card_of(view, viewer_id)
    inner = card_of(shown, viewer_id) if view.reblog is not None else outer
    quote = card_of(shown.quote, viewer_id) if shown.quote is not None else None
    facts = CardFacts.of_view(view, viewer_id)
    return ShownCard(outer, inner, quote, facts, shown.poll, view.filtered)


def post_card(
    view: PostView, viewer: Any, csrf: str = "", thread_focus: Any = False, why: Any = None
) -> Markup:
    """A hydrated post's card, rendered now (`_post.html`: threads, search, notifications,
    messages, the admin's report; disclosed by whoever hydrated it)."""
    viewer_id = viewer.account.id if viewer else None
    shown = shown_of_view(view, viewer_id)
    return Markup(joined(shown, viewer_id, csrf, thread_focus=bool(thread_focus), why=why))


def _card_key(ref: PostRef) -> Key:
    return (CARD, ref.id, ref.post_version, ref.author_version)


async def shown_cards(
    session: AsyncSession, viewer_id: int | None, ids: list[int], *, context: str | None
) -> list[tuple[int, ShownCard]]:
    """The cards of `ids` the viewer may see, in order, joined from the cache: the same as
    `shown_of_view` of `hydrate.load_posts(..., context=context)`, disclosed. Queries: one
    narrow read (`load_refs`), the viewer's filters when they have one, the page's polls
    when it has any, one hydration of the posts the cache lacks."""
    page = await load_refs(session, viewer_id, ids)
    if not page.kept:
        return []
    refs = page.refs
    filters = await viewer_filters(session, viewer_id) if page.has_filters else ViewerFilters()
    cards = await _cards(session, viewer_id, refs)
    polls = await _polls(session, viewer_id, refs)
    out = []
    for pid in page.kept:
        ref = refs[pid]
        inner_ref = refs[ref.reblog_id] if ref.reblog_id is not None else ref
        outer, inner = cards.get(pid), cards.get(inner_ref.id)
        quote = cards.get(inner_ref.quote_id) if inner_ref.quote_id is not None else None
        if outer is None or inner is None or (inner_ref.quote_id is not None and quote is None):
            continue  # gone since the narrow read: not shown
        matches: list[FilterMatch] = []
        if filters:
            options = [t for t, _ in polls[inner_ref.id].options] if inner_ref.id in polls else ()
            text = inner.text.searchable(options)
            matches = filters.matches(pid, ref.reblog_id, text, context)
            if hidden(matches, context):
                continue
        facts = CardFacts.of_ref(ref, refs, inner, viewer_id)
        shown = ShownCard(outer, inner, quote, facts, polls.get(inner_ref.id), matches)
        disclose_card(shown)
        out.append((pid, shown))
    return out


async def _cards(
    session: AsyncSession, viewer_id: int | None, refs: dict[int, PostRef]
) -> dict[int, Card]:
    """Every ref's card: from the cache, else hydrated and rendered now (and kept when it is
    the same for everyone and the session has not written)."""
    cache_ = get_render_cache()
    keys = {pid: _card_key(ref) for pid, ref in refs.items()}
    held = await cache_.get_many(list(keys.values()), Card.load)
    out = {pid: held[key] for pid, key in keys.items() if key in held}
    missing = [pid for pid in refs if pid not in out]
    if not missing:
        return out
    views = await load_posts(session, viewer_id, missing, polls=False, filters=False)
    stored: dict[Key, Card] = {}
    for pid, view in views.items():
        out[pid] = rendered = card_of(view, viewer_id)
        if shared_for_everyone(view):  # else its media URLs are signed for this viewer
            post_version, author_version = view.versions
            stored[(CARD, pid, post_version, author_version)] = rendered
    if stored and not has_written(session):
        await cache_.put_many(stored)
    return out


async def _polls(
    session: AsyncSession, viewer_id: int | None, refs: dict[int, PostRef]
) -> dict[int, PollView]:
    """The polls of the page's posts as the viewer sees them, by post id (read per request)."""
    by_poll = {r.poll_id: r.id for r in refs.values() if r.poll_id is not None}
    if not by_poll:
        return {}
    found = await load_polls(session, viewer_id, set(by_poll))
    return {by_poll[poll_id]: poll for poll_id, poll in found.items()}


def cards_html(
    cards: list[tuple[int, ShownCard]],
    viewer_id: int | None,
    csrf: str,
    ranking: dict[int, Any] | None = None,
    thread_focus: bool = False,
) -> Markup:
    """A page's cards joined for this request (`_feed_page.html`)."""
    why = ranking or {}
    return Markup(
        "".join(
            [
                joined(card, viewer_id, csrf, thread_focus=thread_focus, why=why.get(pid))
                for pid, card in cards
            ]
        )
    )


environment.globals.update(hole=hole, post_card=post_card, cards_html=cards_html)
