"""Post cards, rendered once per post version: the web app's twin of the API's rendered
statuses (api/status_cache.py), in the same render cache (http/render_cache.py).

**What is cached.** Each post's `card_html.Card` (the card as every viewer is shown it, cut
at its holes, with its creation time, the text the viewer's filters look in and its AI-use
stance), keyed by (CARD, post id, `posts.render_version`, author's `accounts.render_version`):
the versions the database's triggers bump for every column and part a card shows
(migration 0015), whichever door wrote. Never cached: which posts, boosted and quoted posts
the viewer may see (`hydrate.load_refs` runs the visibility rule on every request), the
counters, the viewer's marks, the poll, the filters' matches: all read per request and
joined into the holes (`card_html.joined`). A card whose media URLs are signed for one viewer
(a followers-only or direct post with media, `hydrate.shared_for_everyone`) is rendered for
that viewer and never stored; nothing is stored from a session that has written
(`has_written`).

**A page** (`shown_cards`): `load_refs` (one narrow statement), the viewer's filters when
they have one (matched on each card's kept text by the rule itself, as `load_posts` matches a
hydrated post), the page's polls when it has any, and `load_posts` for the cards the cache
lacks only. Feeds (web/page_feeds.py) and HTMX post fragments (a like, a vote, a live
update: web/post_actions.py) answer through it."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.session_writes import has_written
from agora.http.render_cache import CARD, Key, get_render_cache
from agora.social.posts.hydrate import PostRef, load_posts, load_refs, shared_for_everyone
from agora.social.posts.polls import PollView, load_polls
from agora.social.rules.filtering import FilterMatch, ViewerFilters, hidden, viewer_filters
from agora.web.card_html import Card, CardFacts, ShownCard, card_of, disclose_card, joined
from agora.web.jinja_env import environment


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


environment.globals["cards_html"] = cards_html
