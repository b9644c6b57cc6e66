"""Consent: the only place that answers "may X's content be used for Y".

Each account holds one intent per category (allow, deny, or unset), in the shape of Bluesky's
data-reuse intents proposal plus Agora's own categories; a single post can carry a "no AI
reuse" override. Every change is appended to the consent log in the same transaction, so any
export can be audited against the log afterwards (`replay`).

Defaults: unset is deny for every category except `assistantContext`, which is on until the
person turns it off. The Python rule (`may_use`) and its SQL twin (`allowed_sql`) must agree;
a test checks them on every combination.

Remote authors (federation): their choices, as their server and profile publish them
(federation/remote_consent.py reads them), are stored in the same `data_reuse` shape by
`remote_data_reuse` (each entry also names its `source`), so the same rule reads them. They are
replaced on every fetch of the actor and not logged: the log records choices made here, and
remote content is never exported. Whatever they say, remote content is usable only for the
categories of `REMOTE_ALLOWED` (the assistant), and only when they did not refuse it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.locks import lock_account
from agora.db.models import Account, ConsentEvent, Post, utcnow
from agora.social.rules.errors import Invalid


class Category(StrEnum):
    """What content may be reused for. The first four keys are Bluesky's."""

    GENAI_TEXT = "syntheticContentGeneration"
    GENAI_IMAGES = "syntheticImageGeneration"
    BULK_DATASET = "bulkDataset"
    ARCHIVE = "publicAccessArchive"
    BRIDGING = "protocolBridging"
    ASSISTANT = "assistantContext"


# What a category means while its intent is unset.
DEFAULT_ALLOW: dict[Category, bool] = {c: c is Category.ASSISTANT for c in Category}

# The categories a post's "no AI reuse" override denies, whatever the account-wide choice.
POST_OVERRIDE = "noAiReuse"
OVERRIDE_DENIES = frozenset(
    {Category.GENAI_TEXT, Category.GENAI_IMAGES, Category.BULK_DATASET, Category.ASSISTANT}
)


def parse_category(name: str) -> Category:
    """The category called `name`; Invalid for anything else."""
    try:
        return Category(name)
    except ValueError:
        raise Invalid(f"Unknown data-reuse category: {name}") from None


def intent(account: Account, category: Category) -> bool | None:
    """The person's explicit choice for `category`, or None when unset."""
    entry = (account.data_reuse or {}).get(category.value)
    return None if entry is None else bool(entry.get("allow"))


def allows(account: Account, category: Category) -> bool:
    """Whether the account's content may be used for `category` (the default when unset)."""
    chosen = intent(account, category)
    return DEFAULT_ALLOW[category] if chosen is None else chosen


# What the content of people on other servers may be used for: only the assistant (when they
# have not refused it); it is never exported, trained on or bridged from here.
REMOTE_ALLOWED = frozenset({Category.ASSISTANT})


def may_use(account: Account, post: Post | None, category: Category) -> bool:
    """Whether `post` by `account` (or the account's content in general, with no post) may be
    used for `category`: the account allows it, the post does not opt out, and for a remote
    account (federation) the category is one `REMOTE_ALLOWED` holds."""
    if account.domain is not None and category not in REMOTE_ALLOWED:
        return False
    if post is not None and post.no_ai_reuse and category in OVERRIDE_DENIES:
        return False
    return allows(account, category)


def allowed_sql(category: Category, account: Any = Account, post: Any = Post) -> Any:
    """SQL twin of `may_use` on the given Account and Post entities (or aliases)."""
    chosen = account.data_reuse[(category.value, "allow")].as_boolean()
    rule: ColumnElement[bool] = func.coalesce(chosen, DEFAULT_ALLOW[category]).is_(true())
    if category not in REMOTE_ALLOWED:
        rule = and_(rule, account.domain.is_(None))
    if post is not None and category in OVERRIDE_DENIES:
        rule = and_(rule, post.no_ai_reuse.is_(False))
    return rule


async def usable_post_ids(
    session: AsyncSession, category: Category, post_ids: Iterable[int]
) -> set[int]:
    """Of `post_ids`, those whose author and own override allow `category` (one query). The
    assistant calls this with `Category.ASSISTANT` before any post enters its context."""
    wanted = list(post_ids)
    if not wanted:
        return set()
    query = (
        select(Post.id)
        .join(Account, Account.id == Post.account_id)
        .where(Post.id.in_(wanted), allowed_sql(category))
    )
    return set((await session.scalars(query)).all())


@dataclass(frozen=True, slots=True)
class RemoteChoice:
    """One category as a remote author's server or profile states it, and where it was read
    (`dataReuse`, `userIntents`, `#noai`, `#nobot`, `#nobridge`, `robots`)."""

    allow: bool
    source: str


def remote_data_reuse(
    choices: Mapping[Category, RemoteChoice], now: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """The `data_reuse` value that stores a remote author's choices (the local shape, plus
    each entry's `source`); categories they did not state are left out (unset)."""
    stamp = _iso(now or utcnow())
    return {
        c.value: {"allow": choice.allow, "updatedAt": stamp, "source": choice.source}
        for c, choice in choices.items()
    }


def public_intents(account: Account) -> dict[str, dict[str, Any]]:
    """The explicit intents in the Bluesky shape: {category: {"allow", "updatedAt"}}; unset
    categories are left out."""
    return {
        c.value: dict(account.data_reuse[c.value])
        for c in Category
        if c.value in (account.data_reuse or {})
    }


def effective(account: Account) -> dict[str, bool]:
    """Every category with what applies now (defaults filled in)."""
    return {c.value: allows(account, c) for c in Category}


async def set_intents(
    session: AsyncSession, account: Account, changes: Mapping[Category, bool | None]
) -> Account:
    """Record the person's choices (None = back to unset) and log each real change. Commits.

    The account is locked and re-read first, so concurrent changes of different categories
    all stay (the stored state always equals `replay` of the log)."""
    now = utcnow()
    await lock_account(session, account.id)
    await session.refresh(account, ["data_reuse"])
    current = dict(account.data_reuse or {})
    for category, allow in changes.items():
        if intent(account, category) == allow:
            continue
        if allow is None:
            current.pop(category.value, None)
        else:
            current[category.value] = {"allow": allow, "updatedAt": _iso(now)}
        session.add(_event(account.id, None, category.value, allow))
    account.data_reuse = current
    await session.commit()
    return account


def log_post_override(session: AsyncSession, post: Post, previous: bool | None) -> None:
    """Append the post's override to the consent log when it is set or changed (call in the
    transaction that writes the post; `previous` is None for a new post)."""
    if post.no_ai_reuse == bool(previous):
        return
    value = False if post.no_ai_reuse else None
    session.add(_event(post.account_id, post.id, POST_OVERRIDE, value))


def _event(account_id: int, post_id: int | None, category: str, allow: bool | None) -> ConsentEvent:
    return ConsentEvent(
        account_id=account_id,
        post_id=post_id,
        category=category,
        allow=allow,
        created_at=utcnow(),
    )


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


async def log_position(session: AsyncSession) -> int:
    """The id of the newest consent-log entry (0 when the log is empty)."""
    return int(await session.scalar(select(func.max(ConsentEvent.id))) or 0)


async def account_log(session: AsyncSession, account_id: int) -> list[ConsentEvent]:
    """One account's consent log, oldest first."""
    rows = await session.scalars(
        select(ConsentEvent).where(ConsentEvent.account_id == account_id).order_by(ConsentEvent.id)
    )
    return list(rows)


@dataclass
class ReplayedConsent:
    """Intents and overrides as the log says they stood at some position."""

    intents: dict[int, dict[str, bool]] = field(default_factory=dict)
    overridden: set[int] = field(default_factory=set)

    def may_use(self, account_id: int, post_id: int, category: Category) -> bool:
        """`may_use` computed from the replayed log alone."""
        if post_id in self.overridden and category in OVERRIDE_DENIES:
            return False
        chosen = self.intents.get(account_id, {}).get(category.value)
        return DEFAULT_ALLOW[category] if chosen is None else chosen


def replay(events: Iterable[ConsentEvent], position: int) -> ReplayedConsent:
    """Rebuild the consent state from log entries up to and including `position`."""
    state = ReplayedConsent()
    for event in sorted(events, key=lambda e: e.id):
        if event.id > position:
            break
        if event.post_id is not None:
            if event.allow is None:
                state.overridden.discard(event.post_id)
            else:
                state.overridden.add(event.post_id)
            continue
        choices = state.intents.setdefault(event.account_id, {})
        if event.allow is None:
            choices.pop(event.category, None)
        else:
            choices[event.category] = event.allow
    return state
