"""Writing and rating Community Notes: the choke point every door (API, web) passes through.

Invariants: a note is written only on a public original post the author may see, with text
that holds at least one source link and one of `CLASSIFICATIONS`; a rating is one of
`HELPFULNESS` with reasons from `REASONS`; only accounts `note_eligibility` lets take part
write or rate (older than a week, not moderated lately, not bots: the assistant never rates);
one note per author per post and one rating per rater per note (unique keys: rating again
changes the rating); nobody rates their own note. A note or a rating makes sure the hourly
rescoring job is queued (`note_rescoring.ensure_scheduled`), in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import (
    Account,
    CommunityNote,
    CommunityNoteRating,
    ModerationAction,
    Post,
    Visibility,
    utcnow,
)
from agora.social.community_notes.note_rescoring import ensure_scheduled
from agora.social.community_notes.note_scoring import NoteStatus
from agora.social.posts.text import URL_RE
from agora.social.posts.writing import get_visible_post
from agora.social.rules.errors import Forbidden, Invalid, NotFound
from agora.social.rules.limits import unique_or_invalid
from agora.social.rules.note_eligibility import refusal

CLASSIFICATIONS = ("misleading", "missing_context", "not_misleading")
HELPFULNESS = ("helpful", "somewhat_helpful", "not_helpful")
# X's reasons: why a note is helpful, and why it is not
HELPFUL_REASONS = (
    "clear",
    "good_sources",
    "addresses_claim",
    "important_context",
    "unbiased_language",
)
NOT_HELPFUL_REASONS = (
    "incorrect",
    "sources_missing_or_unreliable",
    "opinion_speculation",
    "hard_to_understand",
    "argumentative_or_biased",
    "off_topic",
    "spam_harassment",
    "note_not_needed",
)
REASONS = HELPFUL_REASONS + NOT_HELPFUL_REASONS
MAX_NOTE_CHARS = 1000
MAX_SOURCES = 10


async def check_may_take_part(session: AsyncSession, account: Account) -> None:
    """Forbidden (with the reason) unless the account may write and rate notes now."""
    last = await session.scalar(
        select(func.max(ModerationAction.created_at)).where(
            ModerationAction.target_account_id == account.id
        )
    )
    reason = refusal(account, last, utcnow())
    if reason is not None:
        raise Forbidden(reason)


async def notable_post(session: AsyncSession, viewer_id: int, post_id: int) -> Post:
    """The post a note may be written on: one the viewer may see (NotFound otherwise), public
    and not a boost (Invalid otherwise)."""
    post = await get_visible_post(session, viewer_id, post_id)
    if post.reblog_of_id is not None:
        raise Invalid("Validation failed: notes are written on the boosted post, not the boost")
    if post.visibility != Visibility.PUBLIC:
        raise Invalid("Validation failed: notes are written on public posts only")
    return post


def source_links(text: str) -> list[str]:
    """The links a note's text cites, in order, without repeats."""
    found: list[str] = []
    for match in URL_RE.finditer(text):
        url = match.group(0).rstrip(".,;:!?)]}")
        if url not in found:
            found.append(url)
    return found


def clean_note(text: str, classification: str) -> tuple[str, list[str]]:
    """The note's text (stripped) and its source links; Invalid when a rule is broken."""
    text = text.strip()
    if classification not in CLASSIFICATIONS:
        raise Invalid(
            f"Validation failed: classification must be one of {', '.join(CLASSIFICATIONS)}"
        )
    if not text:
        raise Invalid("Validation failed: text can't be blank")
    if len(text) > MAX_NOTE_CHARS:
        raise Invalid(f"Validation failed: text is longer than {MAX_NOTE_CHARS} characters")
    sources = source_links(text)
    if not sources:
        raise Invalid("Validation failed: a note must cite at least one source link")
    return text, sources[:MAX_SOURCES]


async def write_note(
    session: AsyncSession,
    author: Account,
    post_id: int,
    text: str,
    classification: str,
    *,
    drafted_with_assistant: bool = False,
) -> CommunityNote:
    """Write a note on a post (module docstring for the rules). Commits."""
    await check_may_take_part(session, author)
    post = await notable_post(session, author.id, post_id)
    text, sources = clean_note(text, classification)
    note = CommunityNote(
        post_id=post.id,
        account_id=author.id,
        classification=classification,
        text=text,
        sources=sources,
        drafted_with_assistant=drafted_with_assistant,
        status=NoteStatus.NEEDS_MORE_RATINGS,
        ratings_count=0,
        created_at=utcnow(),
    )
    taken = {"post_id": "You already wrote a note on this post"}
    taken["account_id"] = taken["post_id"]
    async with unique_or_invalid(session, taken):
        session.add(note)
    await ensure_scheduled(session)
    await session.commit()
    return note


async def visible_note(session: AsyncSession, viewer_id: int | None, note_id: int) -> CommunityNote:
    """A note on a post the viewer may see; NotFound otherwise."""
    note = await session.get(CommunityNote, note_id)
    if note is None:
        raise NotFound()
    await get_visible_post(session, viewer_id, note.post_id)
    return note


def clean_reasons(helpfulness: str, reasons: list[str]) -> list[str]:
    """The rating's reasons, checked against its helpfulness; Invalid otherwise."""
    if helpfulness not in HELPFULNESS:
        raise Invalid(f"Validation failed: helpfulness must be one of {', '.join(HELPFULNESS)}")
    allowed: tuple[str, ...] = REASONS
    if helpfulness == "helpful":
        allowed = HELPFUL_REASONS
    elif helpfulness == "not_helpful":
        allowed = NOT_HELPFUL_REASONS
    unknown = [r for r in reasons if r not in allowed]
    if unknown:
        raise Invalid(f"Validation failed: unknown reason {unknown[0]} for {helpfulness}")
    return sorted(set(reasons))


async def rate_note(
    session: AsyncSession,
    rater: Account,
    note_id: int,
    helpfulness: str,
    reasons: list[str] | None = None,
) -> CommunityNoteRating:
    """Rate a note (again: the rating changes). Commits."""
    cleaned = clean_reasons(helpfulness, reasons or [])
    await check_may_take_part(session, rater)
    note = await visible_note(session, rater.id, note_id)
    if note.account_id == rater.id:
        raise Forbidden("You cannot rate your own note")
    rating = await session.scalar(
        select(CommunityNoteRating).where(
            CommunityNoteRating.note_id == note.id, CommunityNoteRating.account_id == rater.id
        )
    )
    if rating is None:
        rating = CommunityNoteRating(note_id=note.id, account_id=rater.id, created_at=utcnow())
        async with unique_or_invalid(session, {"note_id": "You already rated this note"}):
            rating.helpfulness, rating.reasons = helpfulness, cleaned
            session.add(rating)
    else:
        rating.helpfulness, rating.reasons = helpfulness, cleaned
        rating.created_at = utcnow()
        await session.flush()
    await ensure_scheduled(session)
    await session.commit()
    return rating
