"""Per-account limits and taken names: the one place where a write is refused because of what
is already stored, so that the refusal holds however many requests race.

Invariants:

- Every cap on the rows an account owns is a `Limit` in `LIMITS`, checked with `enforce`,
  which locks the owner (`db.locks.lock_account`) before counting, in the caller's
  transaction. Concurrent requests of one owner are serialised from that point until commit,
  so the count is exact and the cap holds; every request over it gets Invalid (422) with the
  limit's message. No service counts rows and refuses on its own (tests/
  test_limits_concurrency.py fails if one does, or if a limit has no race test).
- A write that relies on a unique constraint (a username, an e-mail) runs inside
  `unique_or_invalid`, which turns the violation of one of the named unique keys into
  Invalid (422) with a clear message, also when a concurrent request took the name between
  the friendly check and the insert. Any other integrity error is a bug and propagates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.locks import lock_account, unique_columns
from agora.db.models import AccountEndorsement, FeaturedTag, Pin, ScheduledPost, UserList
from agora.social.rules.errors import Invalid

MAX_PINS = 5
# Mastodon's FeaturedTag::LIMIT. Mastodon does not cap endorsements (only accounts one
# follows); Agora caps them so that a profile stays a page.
MAX_FEATURED_TAGS = 10
MAX_ENDORSEMENTS = 40


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `cap()` rows of `model` per owner (`model.account_id`); `message` may use
    `{cap}`."""

    name: str
    model: Any
    cap: Callable[[], int]
    message: str

    def refusal(self) -> Invalid:
        """The error a request over the limit gets."""
        return Invalid(self.message.format(cap=self.cap()))


PINS = Limit("pins", Pin, lambda: MAX_PINS, "Validation failed: You can pin at most {cap} posts")
LISTS = Limit(
    "lists",
    UserList,
    lambda: get_settings().max_lists,
    "Validation failed: You cannot create more than {cap} lists",
)
SCHEDULED_POSTS = Limit(
    "scheduled_posts",
    ScheduledPost,
    lambda: get_settings().max_scheduled_posts,
    "Validation failed: You have exceeded the limit of {cap} scheduled posts",
)
FEATURED_TAGS = Limit(
    "featured_tags",
    FeaturedTag,
    lambda: MAX_FEATURED_TAGS,
    "Validation failed: You cannot feature more than {cap} hashtags",
)
ENDORSEMENTS = Limit(
    "endorsements",
    AccountEndorsement,
    lambda: MAX_ENDORSEMENTS,
    "Validation failed: You cannot feature more than {cap} accounts",
)
LIMITS = (PINS, LISTS, SCHEDULED_POSTS, FEATURED_TAGS, ENDORSEMENTS)


async def enforce(session: AsyncSession, limit: Limit, owner_id: int) -> None:
    """Lock the owner, then raise `limit.refusal()` when one more row would pass the cap.
    The caller inserts the row and commits in the same transaction (the lock holds until
    then)."""
    await lock_account(session, owner_id)
    owned = await session.scalar(
        select(func.count()).select_from(limit.model).where(limit.model.account_id == owner_id)
    )
    if (owned or 0) >= limit.cap():
        raise limit.refusal()


@asynccontextmanager
async def unique_or_invalid(session: AsyncSession, taken: Mapping[str, str]) -> AsyncIterator[None]:
    """Run the block's writes in a savepoint, flushed at its end. A violation of the unique
    key on one of `taken`'s columns rolls the savepoint back and raises Invalid with that
    column's message (the caller's transaction stays usable); other errors propagate."""
    try:
        async with session.begin_nested():
            yield
    except IntegrityError as exc:
        columns = unique_columns(exc) or ()
        message = next((taken[c] for c in columns if c in taken), None)
        if message is None:
            raise
        raise Invalid(message) from None
