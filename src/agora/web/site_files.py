"""Site-wide files for crawlers: `/robots.txt` and `/.well-known/tdmrep.json`, built from the
instance defaults only (never from individual people, which would enumerate them)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from agora.config import get_settings
from agora.data.signals import robots_txt, tdmrep
from agora.http.json import JSON

router = APIRouter(include_in_schema=False)


@router.get("/robots.txt")
async def robots() -> PlainTextResponse:
    return PlainTextResponse(robots_txt(get_settings()))


@router.get("/.well-known/tdmrep.json")
async def tdmrep_json() -> JSON:
    return JSON(tdmrep(get_settings()))
