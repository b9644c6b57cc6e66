"""The For You feed for Mastodon apps: its timeline (`agora.ranking` on each Status), the
person's weights and "show more / show less like this" (docs/RANKING.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from agora.api import serialise
from agora.api.entities import for_you_settings_json, ranking_json
from agora.http.deps import SessionDep, caller_id, id_param, paging
from agora.http.json import JSON
from agora.http.links import paged
from agora.http.params import Params, body, openapi_body
from agora.social.reading import for_you_settings
from agora.social.reading.for_you import for_you_page
from agora.social.rules.paging import Page

router = APIRouter(prefix="/api/v1")


async def ranked_response(request: Request, session: SessionDep, me_id: int, page: Page) -> JSON:
    """A page of the For You feed as Status entities with their ranking, and its Link header
    (the same for the feed's own path and for the "For You" list's timeline)."""
    found = await for_you_page(session, me_id, page)
    ranking = {pid: {"ranking": ranking_json(r)} for pid, r in found.ranking.items()}
    items = await serialise.shown_statuses(
        session, me_id, found.found.items, context="home", extensions=ranking
    )
    return paged(request, items, found.found.next_max_id, found.found.prev_min_id)


@router.get("/timelines/agora/for_you")
async def timeline(
    request: Request,
    session: SessionDep,
    page: Page = paging(),
    me_id: int = caller_id("read:statuses"),
) -> JSON:
    return await ranked_response(request, session, me_id, page)


class WeightsForm(Params):
    """Weights by name (any subset) and `enabled` (turn the feed on or off)."""

    weights: dict[str, Any] = Field(default_factory=dict, max_length=100)
    enabled: bool | None = None


@router.get("/agora/for_you/weights")
async def show_weights(session: SessionDep, me_id: int = caller_id("read:accounts")) -> JSON:
    return JSON(for_you_settings_json(await for_you_settings.feed_settings(session, me_id)))


@router.patch("/agora/for_you/weights", openapi_extra=openapi_body(WeightsForm))
async def update_weights(
    session: SessionDep,
    me_id: int = caller_id("write:accounts"),
    form: WeightsForm = body(WeightsForm),
) -> JSON:
    found = await for_you_settings.update_settings(session, me_id, form.weights, form.enabled)
    return JSON(for_you_settings_json(found))


@router.delete("/agora/for_you/weights")
async def reset_weights(session: SessionDep, me_id: int = caller_id("write:accounts")) -> JSON:
    return JSON(for_you_settings_json(await for_you_settings.reset_settings(session, me_id)))


class FeedbackForm(Params):
    """`status_id` and `type`: more or less."""

    status_id: str = Field(max_length=40)
    type: str = Field(max_length=10)


@router.post("/agora/for_you/feedback", openapi_extra=openapi_body(FeedbackForm))
async def feedback(
    session: SessionDep,
    me_id: int = caller_id("write:statuses"),
    form: FeedbackForm = body(FeedbackForm),
) -> JSON:
    await for_you_settings.give_feedback(session, me_id, id_param(form.status_id), form.type)
    return JSON({})
