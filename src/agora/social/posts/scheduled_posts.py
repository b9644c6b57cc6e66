"""Scheduled posts (Mastodon's scheduled statuses): a draft kept until its time, then
published by a due job exactly as if its author had posted it then.

Invariants:

- a draft is checked in full when it is scheduled (`writing.check_draft`: text, visibility,
  poll, reply and quote targets) and its media are reserved (`uploads.reserve_media`), so
  publishing it later does not fail for anything the author could have fixed;
- at most `max_scheduled_posts` wait per account (`limits.SCHEDULED_POSTS`, exact under
  concurrency), each at least `MIN_OFFSET` ahead; a time already past publishes at once, as
  Mastodon does;
- the `publish_scheduled` job publishes a post once: it deletes the scheduled row and writes
  the post in its one transaction, and does nothing for a row that is gone (cancelled, or
  published) or moved later (rescheduling enqueues a new job for the new time);
- when it is published, a reply whose parent the author may no longer see (deleted, or
  hidden by a block) is published as a post of its own, and a quote that is no longer
  allowed is left out, as Mastodon does with a missing thread.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Account, MediaAttachment, ScheduledPost, utcnow
from agora.jobs.job_kinds import JobKind, ScheduledPostJob
from agora.jobs.queue import enqueue
from agora.social.media import uploads
from agora.social.media.uploads import MediaEdit
from agora.social.posts import quote_rule, writing
from agora.social.posts.polls import PollDraft
from agora.social.posts.writing import Draft
from agora.social.rules import limits
from agora.social.rules.errors import Invalid, NotFound
from agora.social.rules.paging import Page, Slice, apply_page, keyed_slice

MIN_OFFSET = timedelta(minutes=5)
TOO_SOON = "Validation failed: Scheduled at The scheduled date must be in the future"


def parse_time(value: str) -> datetime:
    """An ISO 8601 time as the API receives it (`Z` or an offset; none means UTC)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid("Validation failed: Scheduled at is invalid") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=utcnow().tzinfo)
    return parsed


def is_due(at: datetime) -> bool:
    """A time already past: the post is published at once instead of scheduled."""
    return at <= utcnow()


def _params(draft: Draft) -> dict[str, Any]:
    """The draft as stored (JSON)."""
    return {
        "text": draft.text,
        "spoiler_text": draft.spoiler_text,
        "sensitive": draft.sensitive,
        "visibility": draft.visibility,
        "language": draft.language,
        "in_reply_to_id": draft.in_reply_to_id,
        "quote_id": draft.quote_id,
        "quote_policy": draft.quote_policy,
        "no_ai_reuse": draft.no_ai_reuse,
        "media_ids": draft.media_ids,
        "media_edits": [asdict(e) for e in draft.media_edits],
        "poll": asdict(draft.poll) if draft.poll is not None else None,
    }


def draft_of(scheduled: ScheduledPost) -> Draft:
    """The stored draft, as `create_post` takes it."""
    p = scheduled.params
    return Draft(
        text=p.get("text") or "",
        spoiler_text=p.get("spoiler_text"),
        sensitive=p.get("sensitive"),
        visibility=p.get("visibility") or "public",
        language=p.get("language"),
        in_reply_to_id=p.get("in_reply_to_id"),
        quote_id=p.get("quote_id"),
        quote_policy=p.get("quote_policy"),
        no_ai_reuse=p.get("no_ai_reuse"),
        media_ids=p.get("media_ids"),
        media_edits=[MediaEdit(**e) for e in p.get("media_edits") or []],
        poll=PollDraft(**p["poll"]) if p.get("poll") else None,
    )


def _check_time(at: datetime) -> None:
    if at < utcnow() + MIN_OFFSET:
        raise Invalid(TOO_SOON)


async def schedule_post(
    session: AsyncSession,
    author_id: int,
    draft: Draft,
    at: datetime,
    *,
    application_id: int | None = None,
) -> ScheduledPost:
    """Keep `draft` to publish at `at` (at least `MIN_OFFSET` ahead). Commits. Invalid for a
    draft `create_post` would refuse, a time too soon, media not free, or one scheduled post
    over the limit."""
    _check_time(at)
    await writing.check_draft(session, author_id, draft)
    await limits.enforce(session, limits.SCHEDULED_POSTS, author_id)
    await uploads.reserve_media(session, author_id, draft.media_ids or [])
    scheduled = ScheduledPost(
        account_id=author_id,
        scheduled_at=at,
        params=_params(draft),
        application_id=application_id,
        created_at=utcnow(),
    )
    session.add(scheduled)
    await session.flush()
    _enqueue(session, scheduled)
    await session.commit()
    return scheduled


def _enqueue(session: AsyncSession, scheduled: ScheduledPost) -> None:
    delay = max(0.0, (scheduled.scheduled_at - utcnow()).total_seconds())
    enqueue(session, JobKind.PUBLISH_SCHEDULED, {"scheduled_id": scheduled.id}, delay=delay)


async def list_scheduled(
    session: AsyncSession, account_id: int, page: Page
) -> Slice[ScheduledPost]:
    """A page of the account's scheduled posts, by id (newest first, as Mastodon pages them)."""
    query = select(ScheduledPost).where(ScheduledPost.account_id == account_id)
    rows = (await session.scalars(apply_page(query, ScheduledPost.id, page))).all()
    return keyed_slice(rows, page, lambda row: row.id)


async def get_scheduled(session: AsyncSession, account_id: int, scheduled_id: int) -> ScheduledPost:
    """One of the account's scheduled posts; NotFound for anyone else's or a published one."""
    found = await session.scalar(
        select(ScheduledPost).where(
            ScheduledPost.id == scheduled_id, ScheduledPost.account_id == account_id
        )
    )
    if found is None:
        raise NotFound()
    return found


async def reschedule(
    session: AsyncSession, account_id: int, scheduled_id: int, at: datetime
) -> ScheduledPost:
    """Move one of the account's scheduled posts to `at` (at least `MIN_OFFSET` ahead).
    Commits."""
    _check_time(at)
    scheduled = await get_scheduled(session, account_id, scheduled_id)
    scheduled.scheduled_at = at
    _enqueue(session, scheduled)
    await session.commit()
    return scheduled


async def cancel(session: AsyncSession, account_id: int, scheduled_id: int) -> None:
    """Delete one of the account's scheduled posts; its media are unattached again.
    Commits."""
    scheduled = await get_scheduled(session, account_id, scheduled_id)
    await uploads.release_media(session, draft_of(scheduled).media_ids or [])
    await session.delete(scheduled)
    await session.commit()


async def attachments(
    session: AsyncSession, scheduled: list[ScheduledPost]
) -> dict[int, list[MediaAttachment]]:
    """Each scheduled post's media, in its order."""
    out = {}
    for row in scheduled:
        out[row.id] = await uploads.reserved_media(
            session, row.account_id, draft_of(row).media_ids or []
        )
    return out


async def _still_allowed(session: AsyncSession, author_id: int, draft: Draft) -> Draft:
    """The draft as it can be published now: without a reply target or quote that the author
    may no longer use."""
    if draft.in_reply_to_id is not None:
        try:
            await writing.get_visible_post(session, author_id, draft.in_reply_to_id)
        except NotFound:
            draft.in_reply_to_id = None
    if draft.quote_id is not None:
        try:
            await quote_rule.check_quote(session, author_id, draft.quote_id)
        except (NotFound, Invalid):
            draft.quote_id = None
    return draft


async def publish_scheduled(session: AsyncSession, payload: ScheduledPostJob) -> None:
    """Job: publish a scheduled post that is due, in the job's transaction (nothing for one
    that is gone or was moved later)."""
    scheduled = await session.get(ScheduledPost, payload["scheduled_id"])
    if scheduled is None or scheduled.scheduled_at > utcnow():
        return
    author = await session.get(Account, scheduled.account_id)
    await session.delete(scheduled)
    if author is None or author.suspended_at is not None:
        await uploads.release_media(session, draft_of(scheduled).media_ids or [])
        return
    draft = await _still_allowed(session, author.id, draft_of(scheduled))
    await writing.write_post(
        session,
        author.id,
        draft,
        application_id=scheduled.application_id,
        reserved_media=True,
    )
