"""The health of remote domains, as deliveries see it: a circuit breaker per domain and the
unavailable mark, stored in `federation_domains` so every server and worker process shares
them.

Invariants:
- A domain with no row is healthy. Each failed delivery (no answer, a timeout, a 5xx, a 408
  or 429) adds one to its row's `failures`; any successful request deletes the row.
- After `federation_circuit_failures` consecutive failures the circuit is open: the domain's
  deliveries are postponed until `open_until` without a request and without spending an
  attempt (`Admission.wait`). When the cool-down ends one delivery is let through as a
  trial (`open_until` is pushed on by whoever claims it, so only one process tries); its
  failure opens the circuit again, its success closes it (deletes the row).
- A domain whose failures began `federation_unavailable_days` ago with no success since is
  marked unavailable: its deliveries are dropped (logged), not retried, until a request to
  it succeeds or it sends a verified activity (`heard_from`).
So a thousand dead inboxes cost each at most one failed request per cool-down, and the
worker moves on to live ones.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.engine import Database
from agora.db.models import FederationDomain, utcnow
from agora.db.upsert import affected_rows, insert_ignore_one

log = logging.getLogger("agora.federation")


def domain_of(url: str) -> str:
    """The domain a URL is on, as the health table keys it (host and port, lower case)."""
    return urlsplit(url).netloc.lower()


@dataclass(frozen=True, slots=True)
class Admission:
    """What a delivery to a domain may do now: `send`, or `wait` `seconds` (circuit open),
    or `drop` (the domain is unavailable). `failing` says whether the domain has a row (so a
    success must clear it)."""

    action: Literal["send", "wait", "drop"]
    seconds: float = 0.0
    failing: bool = False


def _jitter(seconds: float) -> float:
    """A little spread, so postponed deliveries do not all wake at the same instant."""
    return seconds + random.random() * max(1.0, seconds / 4)


async def admit(db: Database, domain: str, now: datetime | None = None) -> Admission:
    """May a delivery to `domain` be attempted now (see the module docstring)?"""
    now = now or utcnow()
    async with db.session() as session:
        row = await session.get(FederationDomain, domain)
        if row is None:
            return Admission("send")
        if row.unavailable_since is not None:
            return Admission("drop", failing=True)
        open_until = row.open_until
    if open_until is None:
        return Admission("send", failing=True)
    if open_until > now:
        return Admission("wait", _jitter((open_until - now).total_seconds()), failing=True)
    # The cool-down is over: one delivery (whoever pushes `open_until` on first) is the trial.
    cooldown = get_settings().federation_circuit_cooldown
    async with db.transaction() as session:
        claimed = await session.execute(
            update(FederationDomain)
            .where(FederationDomain.domain == domain, FederationDomain.open_until == open_until)
            .values(open_until=now + timedelta(seconds=cooldown))
        )
    if affected_rows(claimed) == 1:
        return Admission("send", failing=True)
    return Admission("wait", _jitter(cooldown), failing=True)


async def record_failure(db: Database, domain: str, now: datetime | None = None) -> None:
    """Count one failed request to `domain`; open its circuit or mark it unavailable when
    the thresholds are reached."""
    now = now or utcnow()
    settings = get_settings()
    async with db.transaction() as session:
        await insert_ignore_one(
            session,
            FederationDomain,
            domain=domain,
            failures=0,
            first_failure_at=now,
            last_failure_at=now,
        )
        await session.execute(
            update(FederationDomain)
            .where(FederationDomain.domain == domain)
            .values(failures=FederationDomain.failures + 1, last_failure_at=now)
        )
        row = await session.scalar(
            select(FederationDomain)
            .where(FederationDomain.domain == domain)
            .execution_options(populate_existing=True)
        )
        assert row is not None  # inserted above, deleted only by a success after this one
        if row.failures >= settings.federation_circuit_failures:
            row.open_until = now + timedelta(seconds=settings.federation_circuit_cooldown)
        failing_for = now - row.first_failure_at
        if row.unavailable_since is None and failing_for >= timedelta(
            days=settings.federation_unavailable_days
        ):
            row.unavailable_since = now
            log.warning("federation: %s has failed for %s: marked unavailable", domain, failing_for)


async def record_success(db: Database, domain: str) -> None:
    """A request to `domain` succeeded: it is healthy again (its row goes)."""
    async with db.transaction() as session:
        await session.execute(delete(FederationDomain).where(FederationDomain.domain == domain))


async def heard_from(session: AsyncSession, domain: str) -> None:
    """`domain` sent a verified activity or answered a fetch: it is no longer unavailable
    (its failure count starts again). In the caller's transaction."""
    await session.execute(
        delete(FederationDomain).where(
            FederationDomain.domain == domain, FederationDomain.unavailable_since.is_not(None)
        )
    )


async def unavailable_domains(db: Database) -> list[FederationDomain]:
    """The domains marked unavailable (for the operator)."""
    async with db.session() as session:
        query = select(FederationDomain).where(FederationDomain.unavailable_since.is_not(None))
        return list((await session.scalars(query.order_by(FederationDomain.domain))).all())
