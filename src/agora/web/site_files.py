"""Site-wide files for crawlers: `/robots.txt` and `/.well-known/tdmrep.json`, built from the
instance defaults only (never from individual people, which would enumerate them), as an admin
last set them (social/instance/instance_settings.py)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from agora.data.signals import robots_txt, tdmrep
from agora.http.deps import SessionDep
from agora.http.json import JSON
from agora.social.instance.instance_settings import effective

router = APIRouter(include_in_schema=False)


@router.get("/robots.txt")
async def robots(session: SessionDep) -> PlainTextResponse:
    return PlainTextResponse(robots_txt(await effective(session)))


@router.get("/.well-known/tdmrep.json")
async def tdmrep_json(session: SessionDep) -> JSON:
    return JSON(tdmrep(await effective(session)))
