"""Public AI-use signals, derived from the consent module: what crawlers and labs read.

Per response (a profile, a post, a timeline, a search result, a page; its media files):
- `Content-Usage` (IETF aipref, an RFC 9651 dictionary): only explicit choices; a key left
  out means unknown.
- `X-Robots-Tag` / `<meta name="robots">`: `noai, noimageai` where text training is not
  allowed, `noimageai` alone where only image training is.
- `tdm-reservation` (W3C TDMRep) header and meta where bulk text and data mining is not
  allowed.
Site-wide (instance defaults only, never a list of people): `/robots.txt` and
`/.well-known/tdmrep.json`.

**A response carries the most restrictive signal of everything it contains**
(`most_restrictive`, the one function that decides): a post's own choice (author and
`no_ai_reuse`) and each account shown. Per key: `train-ai=n` if anything says n, `y` only if
everything says y, otherwise left out (unknown); `noai` / `noimageai` / `tdm-reservation`
as soon as one item asks for them. A boost carries its original's signal, a quote the
quoted post's too.

What a response contains is gathered while it is built: every Account and Status entity and
every post a web page shows is `disclose`d into a per-request `Disclosure` (a context
variable set by the ASGI hook `http/signal_hook.py`), which writes the headers when the
response starts; web pages put the same signals in meta tags (`response_signals`). Nothing
disclosed (an empty list, an error): no signal, the site-wide files apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import Settings, get_settings
from agora.data.consent import OVERRIDE_DENIES, Category, intent, may_use
from agora.db.models import Account, Post

# The aipref vocabulary key for each of our categories: the one table to change when the
# vocabulary moves again (it went from train-genai / ai-use to train-ai).
AIPREF_KEYS: dict[str, Category] = {"train-ai": Category.GENAI_TEXT}
HEADER_NAMES = ("content-usage", "x-robots-tag", "tdm-reservation", "tdm-policy")


@dataclass
class Signals:
    """HTTP headers and HTML meta tags that carry a response's reuse choices."""

    headers: dict[str, str] = field(default_factory=dict)
    meta: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Stance:
    """What one item (or a whole response) asks of reusers. `usage` maps each aipref key to
    an explicit allow / deny, or None when unknown."""

    usage: tuple[tuple[str, bool | None], ...]
    noai: bool  # text training not allowed
    noimageai: bool  # image training not allowed
    tdm: bool  # text and data mining reserved


def stance(account: Account, post: Post | None) -> Stance:
    """The stance of `account`'s profile (post None) or of one of its posts."""
    usage = []
    for key, category in AIPREF_KEYS.items():
        chosen = intent(account, category)
        if chosen and account.domain is not None:  # a remote author's "yes" is not ours to give
            chosen = None
        if post is not None and post.no_ai_reuse and category in OVERRIDE_DENIES:
            chosen = False
        usage.append((key, chosen))
    text = may_use(account, post, Category.GENAI_TEXT)
    return interned(
        Stance(
            usage=tuple(usage),
            noai=not text,
            noimageai=not text or not may_use(account, post, Category.GENAI_IMAGES),
            tdm=not may_use(account, post, Category.BULK_DATASET),
        )
    )


# Every Stance handed out, once per value: there are a few dozen possible values, and a
# response's `Disclosure` counts each object once (by identity), so a page of 40 statuses
# combines a couple of stances instead of one per status.
_INTERNED: dict[Stance, Stance] = {}


def interned(found: Stance) -> Stance:
    """The one Stance object equal to `found` (kept for the process's life: a few dozen)."""
    return _INTERNED.setdefault(found, found)


def combine(a: Stance, b: Stance) -> Stance:
    """The more restrictive of two stances, key by key (n over unknown over y)."""
    usage = tuple((key, _stricter(x, y)) for (key, x), (_, y) in zip(a.usage, b.usage, strict=True))
    return interned(Stance(usage, a.noai or b.noai, a.noimageai or b.noimageai, a.tdm or b.tdm))


def _stricter(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return True if a is True and b is True else None


def render(found: Stance | None, settings: Settings) -> Signals:
    """The headers and meta tags of a stance (none for None: nothing was shown)."""
    out = Signals()
    if found is None:
        return out
    usage = ", ".join(f"{k}={'y' if v else 'n'}" for k, v in found.usage if v is not None)
    if usage:
        out.headers["Content-Usage"] = usage
    robots = "noai, noimageai" if found.noai else "noimageai" if found.noimageai else ""
    if robots:
        out.headers["X-Robots-Tag"] = robots
        out.meta.append(("robots", robots))
    if found.tdm:
        out.headers["tdm-reservation"] = "1"
        out.meta.append(("tdm-reservation", "1"))
        if settings.tdm_policy_url:
            out.headers["tdm-policy"] = settings.tdm_policy_url
            out.meta.append(("tdm-policy", settings.tdm_policy_url))
    return out


def most_restrictive(
    items: Iterable[tuple[Account, Post | None]], settings: Settings | None = None
) -> Signals:
    """The signals of a response holding `items` (accounts with post None, or posts with
    their author): the most restrictive of them all. The one place that decides."""
    found: Stance | None = None
    for account, post in items:
        one = stance(account, post)
        found = one if found is None else combine(found, one)
    return render(found, settings or get_settings())


def signals(account: Account, post: Post | None, settings: Settings) -> Signals:
    """The signals for `account`'s profile (post None) or for one of its posts alone."""
    return most_restrictive([(account, post)], settings)


async def post_signals(session: AsyncSession, post: Post) -> Signals:
    """The signals of a post (of the original, for a boost)."""
    if post.reblog_of_id is not None:
        post = await session.get(Post, post.reblog_of_id) or post
    author = await session.get(Account, post.account_id)
    return signals(author, post, get_settings()) if author else Signals()


def account_signals(account: Account) -> Signals:
    """The signals of a profile."""
    return signals(account, None, get_settings())


# --- what one response contains ---


class Disclosure:
    """The combined stance of everything a response has shown so far. Closed once the
    response has started (later disclosures, e.g. on a stream, change nothing)."""

    __slots__ = ("_seen", "closed", "found")

    def __init__(self) -> None:
        self.found: Stance | None = None
        self.closed = False
        # stances already counted, by identity (a page repeats the same cached ones); the
        # dict holds them, so an id cannot be reused by another object meanwhile
        self._seen: dict[int, Stance] = {}

    def add(self, account: Account, post: Post | None) -> None:
        """Count one account (post None) or one post of it."""
        if not self.closed:
            self.add_stance(stance(account, post))

    def add_stance(self, one: Stance) -> None:
        """Count one item by its stance."""
        if self.closed or self._seen.get(id(one)) is one:
            return
        self._seen[id(one)] = one
        self.found = one if self.found is None else combine(self.found, one)

    def close(self) -> Signals | None:
        """Stop gathering; the signals of what was gathered (None: nothing was shown, as
        for most API requests that show no account or post)."""
        self.closed = True
        return None if self.found is None else render(self.found, get_settings())


CURRENT: ContextVar[Disclosure | None] = ContextVar("agora_disclosure", default=None)


def disclose(account: Account, post: Post | None = None) -> None:
    """Note that the response being built shows `account` (post None) or its `post`. A no-op
    outside a request (jobs, streams, the CLI)."""
    current = CURRENT.get()
    if current is not None:
        current.add(account, post)


def disclose_stance(found: Stance) -> None:
    """Note that the response shows something whose stance is already known (a rendering
    cached with it, api/status_cache.py). A no-op outside a request."""
    current = CURRENT.get()
    if current is not None:
        current.add_stance(found)


def disclose_accounts(accounts: Iterable[Account]) -> list[Account]:
    """Disclose accounts a page lists; returns them, for chaining."""
    shown = list(accounts)
    for account in shown:
        disclose(account)
    return shown


class ShownPost(Protocol):
    """What `disclose_views` needs of a hydrated post (`hydrate.PostView`)."""

    @property
    def post(self) -> Post: ...
    @property
    def account(self) -> Account: ...
    @property
    def reblog(self) -> ShownPost | None: ...
    @property
    def quote(self) -> ShownPost | None: ...


def disclose_views(views: Iterable[ShownPost]) -> None:
    """Disclose hydrated posts: each post, its author, and what it boosts or quotes."""
    for view in views:
        disclose(view.account, view.post if view.reblog is None else None)
        disclose_views([v for v in (view.reblog, view.quote) if v is not None])


def response_signals() -> Signals:
    """The signals of what the current response has shown so far (for a page's meta tags)."""
    current = CURRENT.get()
    return render(current.found if current else None, get_settings())


def robots_txt(settings: Settings) -> str:
    """The instance-wide robots.txt: training crawlers kept out unless the admin allows
    training by default, plus the aipref and Content-Signal lines."""
    train = "y" if settings.ai_training_default else "n"
    signal = "yes" if settings.ai_training_default else "no"
    search = "yes" if settings.search_indexing else "no"
    lines = ["# AI-use preferences of this instance; each profile and post adds its own", ""]
    if not settings.ai_training_default:
        for agent in settings.ai_crawlers:
            lines.append(f"User-agent: {agent}")
        lines += ["Disallow: /", ""]
    lines += [
        "User-agent: *",
        f"Content-Usage: train-ai={train}",
        f"Content-Signal: search={search}, ai-train={signal}",
        "Disallow: /api/",
        "Disallow: /oauth/",
        "Allow: /",
        "",
    ]
    return "\n".join(lines)


def tdmrep(settings: Settings) -> list[dict[str, object]]:
    """`/.well-known/tdmrep.json`: the instance default for text and data mining."""
    entry: dict[str, object] = {"location": "/", "tdm-reservation": int(settings.tdm_reservation)}
    if settings.tdm_reservation and settings.tdm_policy_url:
        entry["tdm-policy"] = settings.tdm_policy_url
    return [entry]
