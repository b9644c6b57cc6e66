"""What the assistant may spend: per-person daily quotas per action, a per-process cap on
concurrent model calls, and a record of every call's token counts (`agora ai usage`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.ai.providers import Completion, Provider, ProviderError
from agora.config import get_settings
from agora.db.models import AiUsage, utcnow
from agora.metrics import MODEL_CALLS, MODEL_TOKENS
from agora.social.rules.errors import DomainError


class QuotaExceeded(DomainError):
    """A person used up today's calls for an action, or every model slot is busy."""

    status = 429


class AssistantUnavailable(DomainError):
    """The model could not answer right now (interactive calls; jobs retry instead)."""

    status = 503


_slots: dict[int, asyncio.Semaphore] = {}


def _semaphore() -> asyncio.Semaphore:
    size = get_settings().ai_max_concurrent_calls
    if size not in _slots:
        _slots[size] = asyncio.Semaphore(size)
    return _slots[size]


@asynccontextmanager
async def model_slot(*, wait: bool) -> AsyncIterator[None]:
    """Hold one of the instance's model slots. Interactive callers (`wait=False`) get a 429
    when all are busy; background jobs wait their turn."""
    semaphore = _semaphore()
    if not wait and semaphore.locked():
        raise QuotaExceeded("The assistant is busy; try again in a moment")
    async with semaphore:
        yield


def _start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


async def calls_today(session: AsyncSession, account_id: int, action: str) -> int:
    """How many `action` calls the account made since midnight UTC."""
    since = _start_of_day(utcnow())
    query = select(func.count()).where(
        AiUsage.account_id == account_id, AiUsage.action == action, AiUsage.created_at >= since
    )
    return int(await session.scalar(query) or 0)


async def check_quota(session: AsyncSession, account_id: int, action: str) -> None:
    """QuotaExceeded when the account has no `action` calls left today."""
    limit = get_settings().ai_daily_quota.get(action, 0)
    if await calls_today(session, account_id, action) >= limit:
        reset = _start_of_day(utcnow()) + timedelta(days=1)
        raise QuotaExceeded(
            f"Daily limit of {limit} assistant {action} requests reached; it resets at "
            f"{reset:%H:%M} UTC"
        )


def record(
    session: AsyncSession,
    account_id: int,
    action: str,
    provider: Provider,
    completion: Completion,
    started: float,
) -> None:
    """Add one call's usage to the caller's transaction (and count it in the metrics)."""
    MODEL_CALLS.labels(action).inc()
    MODEL_TOKENS.labels(action, "prompt").inc(completion.prompt_tokens or 0)
    MODEL_TOKENS.labels(action, "completion").inc(completion.completion_tokens or 0)
    session.add(
        AiUsage(
            account_id=account_id,
            action=action,
            provider=provider.name,
            model=provider.model[:200],
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            duration_ms=int((time.perf_counter() - started) * 1000),
            created_at=utcnow(),
        )
    )


def unavailable(exc: ProviderError) -> AssistantUnavailable:
    """The error an interactive caller sees when the model failed."""
    return AssistantUnavailable(f"The assistant could not answer: {exc}")


async def usage_summary(
    session: AsyncSession, days: int = 1
) -> list[tuple[str, str, int, int, int]]:
    """Per action and model over the last `days`: calls, prompt and completion tokens."""
    since = utcnow() - timedelta(days=days)
    query = (
        select(
            AiUsage.action,
            AiUsage.model,
            func.count(),
            func.sum(AiUsage.prompt_tokens),
            func.sum(AiUsage.completion_tokens),
        )
        .where(AiUsage.created_at >= since)
        .group_by(AiUsage.action, AiUsage.model)
        .order_by(AiUsage.action)
    )
    return [
        (a, m, int(n), int(p or 0), int(c or 0)) for a, m, n, p, c in await session.execute(query)
    ]
