"""The HTML of a post card, in two parts: what every viewer is shown (`Card`, from
`_post_card.html`: the author line, content, media, preview card, Community Note, labels; cut
at its holes, with the pieces a request may pick: the reply line, the post as a quote, the
"removed quote" line, the preview card, a boost's "X boosted" line) and what each request
fills in (`joined`, from `_post_viewer.html` and web/card_footers.py: the card's own id, the
relative time, the viewer's filter warning, the poll, the visible quote, "Why this post",
the footer with the counters, the viewer's marks and actions and the CSRF token).

**Invariant.** Nothing that differs by viewer or by minute is outside a hole of a `Card`,
except the media URLs of a followers-only or direct post, signed for the viewer it was
rendered for: such a card is never kept for another (`hydrate.shared_for_everyone`,
web/post_cards.py). A hydrated post (`post_card`: threads, search, notifications...) and a
page joined from the render cache (web/post_cards.py) go through the same `card_of` and
`joined`, from `CardFacts.of_view` or `CardFacts.of_ref`, so they cannot drift;
tests/test_web_post_cards.py compares them after every kind of change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from markupsafe import Markup, escape

from agora.data.signals import Stance, disclose_stance, interned, stance
from agora.db.models import QuoteState
from agora.social.posts import quote_rule
from agora.social.posts.hydrate import FLAGS, PostRef, PostView, post_text
from agora.social.posts.polls import PollView
from agora.social.rules.filtering import FilterMatch, PostText
from agora.social.rules.visibility import is_public_or_unlisted
from agora.web.card_footers import FooterShape, FooterText, footer_html
from agora.web.formatting import ago
from agora.web.jinja_env import cut_at_holes, environment, filled, template_module


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


def card_of(view: PostView, viewer_id: int | None) -> Card:
    """The card of one hydrated post (media URLs as `viewer_id` is shown them: the same for
    everyone when `shared_for_everyone(view)`)."""
    macros = template_module("_post_card.html")
    post, account = view.post, view.account
    pieces: dict[str, str] = {}
    parts: tuple[str, ...] = ()
    if post.reblog_of_id is not None:
        pieces["boosted"] = str(macros.boosted(view))
    else:
        parts = cut_at_holes(str(macros.card(view, viewer_id)))
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


def _footer(f: CardFacts, viewer_id: int | None, csrf: str, thread_focus: bool) -> str:
    """A card's footer for this viewer and request (web/card_footers.py)."""
    mine = f.author_id == viewer_id
    shape = FooterShape(
        signed_in=viewer_id is not None,
        mine=mine,
        is_boost=f.is_boost,
        reblogged=f.reblogged,
        favourited=f.favourited,
        bookmarked=f.bookmarked,
        muted=f.muted,
        may_quote=f.may_quote,
        revoke=f.quote_id is not None and f.quote_author_id == viewer_id and not mine,
        thread_focus=thread_focus,
        boostable=f.visibility <= 1,
        public=f.visibility == 0,
        no_ai_reuse=f.no_ai_reuse,
    )
    text = FooterText(
        outer_id=str(f.outer_id),
        id=str(f.id),
        username=str(escape(f.username)),
        replies=str(f.replies),
        reblogs=str(f.reblogs),
        favourites=str(f.favourites),
        quote_id=str(f.quote_id),
        csrf=str(escape(csrf)),
    )
    return footer_html(shape, text)


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
    macros = template_module("_post_viewer.html")
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
        "footer": _footer(f, viewer_id, csrf, thread_focus),
    }
    return filled(shown.parts, fill)


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


environment.globals["post_card"] = post_card
