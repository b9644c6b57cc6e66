"""Public AI-use signals, derived from the consent module: what crawlers and labs read.

Per resource (a profile or a post: its page, its API JSON, its media files):
- `Content-Usage` (IETF aipref, an RFC 9651 dictionary): only explicit choices; a key left
  out means unknown.
- `X-Robots-Tag` / `<meta name="robots">`: `noai, noimageai` where text training is not
  allowed, `noimageai` alone where only image training is.
- `tdm-reservation` (W3C TDMRep) header and meta where bulk text and data mining is not
  allowed.
Site-wide (instance defaults only, never a list of people): `/robots.txt` and
`/.well-known/tdmrep.json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import Settings, get_settings
from agora.data.consent import OVERRIDE_DENIES, Category, intent, may_use
from agora.db.models import Account, Post

# The aipref vocabulary key for each of our categories: the one table to change when the
# vocabulary moves again (it went from train-genai / ai-use to train-ai).
AIPREF_KEYS: dict[str, Category] = {"train-ai": Category.GENAI_TEXT}


@dataclass
class Signals:
    """HTTP headers and HTML meta tags that carry one resource's reuse choices."""

    headers: dict[str, str] = field(default_factory=dict)
    meta: list[tuple[str, str]] = field(default_factory=list)


def signals(account: Account, post: Post | None, settings: Settings) -> Signals:
    """The signals for `account`'s profile (post None) or for one of its posts."""
    out = Signals()
    usage = _content_usage(account, post)
    if usage:
        out.headers["Content-Usage"] = usage
    robots = _robots(account, post)
    if robots:
        out.headers["X-Robots-Tag"] = robots
        out.meta.append(("robots", robots))
    if not may_use(account, post, Category.BULK_DATASET):
        out.headers["tdm-reservation"] = "1"
        out.meta.append(("tdm-reservation", "1"))
        if settings.tdm_policy_url:
            out.headers["tdm-policy"] = settings.tdm_policy_url
            out.meta.append(("tdm-policy", settings.tdm_policy_url))
    return out


async def post_signals(session: AsyncSession, post: Post) -> Signals:
    """The signals of a post (of the original, for a boost)."""
    if post.reblog_of_id is not None:
        post = await session.get(Post, post.reblog_of_id) or post
    author = await session.get(Account, post.account_id)
    return signals(author, post, get_settings()) if author else Signals()


def account_signals(account: Account) -> Signals:
    """The signals of a profile."""
    return signals(account, None, get_settings())


def _content_usage(account: Account, post: Post | None) -> str:
    items = []
    for key, category in AIPREF_KEYS.items():
        chosen = intent(account, category)
        if post is not None and post.no_ai_reuse and category in OVERRIDE_DENIES:
            chosen = False
        if chosen is not None:
            items.append(f"{key}={'y' if chosen else 'n'}")
    return ", ".join(items)


def _robots(account: Account, post: Post | None) -> str:
    if not may_use(account, post, Category.GENAI_TEXT):
        return "noai, noimageai"
    if not may_use(account, post, Category.GENAI_IMAGES):
        return "noimageai"
    return ""


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
