"""A person's control over their For You feed: their weights (over the instance's defaults),
turning the feed off, and "show more / show less like this".

Invariants: stored weights are only ever those a person set, each checked against its range
(`for_you_scoring.check_weights`), so a reset is deleting them and a new instance default
reaches everyone who did not choose otherwise. Feedback is accepted only on a post its giver
may see (`get_visible_post`), one row per person and post (the last word counts), and is read
by the next ranking of that person's feed only."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.locks import lock_account
from agora.db.models import ForYouFeedback, ForYouSettings, Report, utcnow
from agora.db.upsert import insert_ignore
from agora.social.posts.writing import get_visible_post
from agora.social.reading.for_you_scoring import WEIGHTS, check_weights
from agora.social.rules.errors import Invalid

FEEDBACK = {"more": 1, "less": -1}


def instance_weights() -> dict[str, float]:
    """Every weight as this instance sets it: the documented defaults, then AGORA_FOR_YOU_WEIGHTS
    (ValueError when it names an unknown weight or a value out of range)."""
    defaults = {name: spec.default for name, spec in WEIGHTS.items()}
    return {**defaults, **check_weights(get_settings().for_you_weights)}


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """What ranks a person's feed: the weights in force, the ones they set, and on / off."""

    weights: dict[str, float]
    own: dict[str, float]
    enabled: bool


async def feed_settings(session: AsyncSession, account_id: int) -> FeedSettings:
    """The person's weights over the instance's, and whether their feed is on."""
    row = await session.get(ForYouSettings, account_id)
    own = check_weights(row.weights) if row is not None else {}
    return FeedSettings(
        {**instance_weights(), **own}, own, row.enabled if row is not None else True
    )


async def _row(session: AsyncSession, account_id: int) -> ForYouSettings:
    await session.execute(
        insert_ignore(session, ForYouSettings).values(
            account_id=account_id, weights={}, enabled=True, updated_at=utcnow()
        )
    )
    row = await session.get(ForYouSettings, account_id, populate_existing=True)
    assert row is not None
    return row


async def update_settings(
    session: AsyncSession,
    account_id: int,
    weights: dict[str, object],
    enabled: bool | None = None,
) -> FeedSettings:
    """Set some weights (checked whole before anything is written: Invalid names the first
    bad one) and, when given, turn the feed on or off."""
    try:
        checked = check_weights(weights)
    except ValueError as error:
        raise Invalid(str(error)) from None
    await lock_account(session, account_id)  # read-modify-write of the stored weights
    row = await _row(session, account_id)
    row.weights = {**row.weights, **checked}
    if enabled is not None:
        row.enabled = enabled
    row.updated_at = utcnow()
    await session.commit()
    return await feed_settings(session, account_id)


async def reset_settings(session: AsyncSession, account_id: int) -> FeedSettings:
    """Back to the instance's weights, the feed on, and no feedback remembered."""
    await session.execute(delete(ForYouSettings).where(ForYouSettings.account_id == account_id))
    await session.execute(delete(ForYouFeedback).where(ForYouFeedback.account_id == account_id))
    await session.commit()
    return await feed_settings(session, account_id)


async def give_feedback(session: AsyncSession, account_id: int, post_id: int, what: str) -> None:
    """ "Show more" or "show less" like a post (`what`: more / less) the person may see; a
    boost counts for the post it boosts. It moves that author in the next refresh."""
    direction = FEEDBACK.get(what)
    if direction is None:
        raise Invalid("type must be more or less")
    post = await get_visible_post(session, account_id, post_id)
    if post.reblog_of_id is not None:
        post = await get_visible_post(session, account_id, post.reblog_of_id)
    await lock_account(session, account_id)  # one person's feedback is written in turn
    await session.execute(
        delete(ForYouFeedback).where(
            ForYouFeedback.account_id == account_id, ForYouFeedback.post_id == post.id
        )
    )
    session.add(
        ForYouFeedback(
            account_id=account_id,
            post_id=post.id,
            author_id=post.account_id,
            direction=direction,
            created_at=utcnow(),
        )
    )
    await session.commit()


async def feedback_by_author(session: AsyncSession, account_id: int) -> dict[int, tuple[int, int]]:
    """(show more, show less) counts of a person's feedback, by author."""
    rows = await session.execute(
        select(ForYouFeedback.author_id, ForYouFeedback.direction).where(
            ForYouFeedback.account_id == account_id
        )
    )
    out: dict[int, tuple[int, int]] = {}
    for author, direction in rows:
        more, less = out.get(author, (0, 0))
        out[author] = (more + (direction > 0), less + (direction < 0))
    return out


async def reported_authors(session: AsyncSession, account_id: int) -> dict[int, int]:
    """How many reports the person filed about each account (each counts as a "show less")."""
    rows = await session.execute(
        select(Report.target_account_id, func.count())
        .where(Report.account_id == account_id)
        .group_by(Report.target_account_id)
    )
    return {target: n for target, n in rows.all()}
