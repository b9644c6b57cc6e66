"""Bearer tokens recently resolved, kept briefly in each process, so that most API requests
resolve their caller without a query.

What is kept: for a token (by its SHA-256, as stored), the token's id, its account, scopes
and app, for between half and all of `token_cache_seconds` after `oauth.authenticate` accepted
it, drawn for each entry: tokens first seen together (every client after a restart) would
otherwise be looked up again together, every period, in a burst that the requests around it
wait behind. Refusals are never kept: an unknown, revoked or refused token is looked up every
time.

**Invariant: a revoked token or a suspended account is refused at once, in every process.**
Every writer of `access_tokens.revoked_at` and of `accounts.suspended_at` calls
`forget_credentials` in its transaction (oauth.revoke, authorised_apps.revoke_app,
moderation's suspension; tests/test_token_cache.py fails when a module writes either without
calling it). When that transaction commits, this process forgets the token or the account's
tokens at once, and a `credentials` event on the bus (events/event_kinds.py) makes every other
server process forget them too (`forget_from_bus`). The time limit bounds what a lost event
could cost.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from agora.auth.credentials import hash_token
from agora.events.bus import Event, Subscription
from agora.events.event_kinds import CredentialsEvent, EventName
from agora.events.publishing import publish_after_commit

PENDING_KEY = "agora_forget_credentials"
MAX_ENTRIES = 50_000


@dataclass(frozen=True, slots=True)
class KnownToken:
    """A token `oauth.authenticate` accepted: what the API needs to know of its caller."""

    token_id: int
    account_id: int | None
    scopes: tuple[str, ...]
    app_id: int
    until: float  # time.monotonic() after which it is looked up again


class TokenCache:
    """Accepted tokens by hash, each for between half and all of `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._tokens: dict[str, KnownToken] = {}
        self.generation = 0  # moves on every forget: a look-up older than one is not kept

    def get(self, token: str) -> KnownToken | None:
        """The token's caller if accepted less than `seconds` ago and not forgotten since."""
        key = hash_token(token)
        found = self._tokens.get(key)
        if found is not None and found.until < time.monotonic():
            del self._tokens[key]
            return None
        return found

    def put(
        self,
        token: str,
        looked_up: int,
        token_id: int,
        account_id: int | None,
        scopes: list[str],
        app_id: int,
    ) -> KnownToken:
        """Remember a token accepted by a look-up that began at generation `looked_up` (not
        kept if anything was forgotten since: it may have read what was then revoked)."""
        if self.seconds <= 0 or looked_up != self.generation:
            return KnownToken(token_id, account_id, tuple(scopes), app_id, 0.0)
        if len(self._tokens) >= MAX_ENTRIES:
            self._tokens.clear()  # rare: a process seeing that many tokens within seconds
        lifetime = self.seconds * (0.5 + random.random() / 2)  # the module docstring
        known = KnownToken(token_id, account_id, tuple(scopes), app_id, time.monotonic() + lifetime)
        self._tokens[hash_token(token)] = known
        return known

    def forget(self, account_id: int | None = None, token_id: int | None = None) -> None:
        """Forget an account's tokens, or one token."""
        self.generation += 1
        gone = [
            key
            for key, known in self._tokens.items()
            if (account_id is not None and known.account_id == account_id)
            or (token_id is not None and known.token_id == token_id)
        ]
        for key in gone:
            del self._tokens[key]

    def clear(self) -> None:
        """Forget everything."""
        self.generation += 1
        self._tokens.clear()


_cache: TokenCache | None = None


def token_cache() -> TokenCache:
    """This process's cache (sized by `token_cache_seconds`)."""
    global _cache
    if _cache is None:
        from agora.config import get_settings

        _cache = TokenCache(get_settings().token_cache_seconds)
    return _cache


def forget_credentials(
    session: Any, *, account_id: int | None = None, token_id: int | None = None
) -> None:
    """Call in the transaction that revokes a token (`token_id`) or suspends an account
    (`account_id`): when it commits, every process forgets them."""
    event: CredentialsEvent = {
        "event": EventName.CREDENTIALS,
        "account_id": account_id,
        "token_id": token_id,
    }
    publish_after_commit(session, event)  # other processes
    sync = getattr(session, "sync_session", session)
    sync.info.setdefault(PENDING_KEY, []).append((account_id, token_id))


def forget_from_bus(event: Event) -> None:
    """Apply a `credentials` event from the bus (any process's); other events are ignored."""
    if event.get("event") != EventName.CREDENTIALS:
        return
    account_id, token_id = event.get("account_id"), event.get("token_id")
    token_cache().forget(
        account_id if isinstance(account_id, int) else None,
        token_id if isinstance(token_id, int) else None,
    )


async def follow_revocations(subscription: Subscription) -> None:
    """Forget what `credentials` events name, for as long as the process runs (a task the
    application starts on the process's bus)."""
    try:
        async for event in subscription:
            forget_from_bus(event)
    finally:
        subscription.close()


@sa_event.listens_for(Session, "after_commit")
def _forget_committed(session: Session) -> None:
    """This process forgets at once, before the bus delivers the event."""
    for account_id, token_id in session.info.pop(PENDING_KEY, ()):
        token_cache().forget(account_id, token_id)


@sa_event.listens_for(Session, "after_soft_rollback")
def _keep_on_rollback(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:
        session.info.pop(PENDING_KEY, None)
