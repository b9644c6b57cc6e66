"""Timelines, bookmarks and favourites."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from agora.api import page_cache, serialise
from agora.db.models import Account
from agora.http.deps import SessionDep, caller, caller_id, optional_caller_id, paging
from agora.http.json import JSON
from agora.http.links import paged
from agora.http.params import flag, reads_query
from agora.http.replica_routing import replica_reads
from agora.social.reading import timelines, trends
from agora.social.rules.errors import Invalid, NotFound
from agora.social.rules.paging import Page, Slice

router = APIRouter(prefix="/api/v1")


async def _respond(
    request: Request,
    session: SessionDep,
    viewer: int | None,
    found: Slice[int],
    context: str | None,
) -> JSON:
    items = await serialise.shown_statuses(session, viewer, found.items, context=context)
    return paged(request, items, found.next_max_id, found.prev_min_id)


@router.get("/timelines/home")
@replica_reads
async def home(
    request: Request,
    session: SessionDep,
    page: Page = paging(),
    me_id: int = caller_id("read:statuses"),
) -> Response:
    async def build() -> Response:
        found = await timelines.home_timeline(session, me_id, page)
        return await _respond(request, session, me_id, found, "home")

    return await page_cache.served(request, session, me_id, page_cache.home_sources(me_id), build)


@router.get("/timelines/public")
@replica_reads
@reads_query("remote", "local", "only_media")
async def public(
    request: Request,
    session: SessionDep,
    page: Page = paging(),
    viewer: int | None = optional_caller_id("read:statuses"),
) -> Response:
    query = request.query_params
    origin = (
        "remote" if flag(query.get("remote")) else "local" if flag(query.get("local")) else "all"
    )
    media = flag(query.get("only_media"))

    async def build() -> Response:
        found = await timelines.public_timeline(
            session, viewer, page, only_media=media, origin=origin
        )
        return await _respond(request, session, viewer, found, "public")

    return await page_cache.served(request, session, viewer, page_cache.public_sources(), build)


@router.get("/timelines/link")
@replica_reads
@reads_query("url")
async def link(
    request: Request,
    session: SessionDep,
    page: Page = paging(),
    viewer: int | None = optional_caller_id("read:statuses"),
) -> JSON:
    """Public posts sharing a trending link (Mastodon 4.3); 404 for a link that does not trend."""
    url = request.query_params.get("url", "").strip()
    if not url:
        raise Invalid("Validation failed: url is missing")
    if not await trends.is_trending_link(session, url):
        raise NotFound()
    found = await timelines.link_timeline(session, viewer, url, page)
    return await _respond(request, session, viewer, found, "public")


@router.get("/timelines/tag/{hashtag}")
@replica_reads
async def tag(
    request: Request,
    session: SessionDep,
    hashtag: str,
    page: Page = paging(),
    any_: Annotated[list[str], Query(alias="any[]")] = [],  # noqa: B006
    all_: Annotated[list[str], Query(alias="all[]")] = [],  # noqa: B006
    none: Annotated[list[str], Query(alias="none[]")] = [],  # noqa: B006
    viewer: int | None = optional_caller_id("read:statuses"),
) -> Response:
    more = timelines.TagQuery(tuple(any_[:10]), tuple(all_[:10]), tuple(none[:10]))

    async def build() -> Response:
        found = await timelines.tag_timeline(session, viewer, hashtag, page, more)
        return await _respond(request, session, viewer, found, "public")

    return await page_cache.served(request, session, viewer, page_cache.public_sources(), build)


@router.get("/bookmarks")
async def bookmarks(
    request: Request,
    session: SessionDep,
    page: Page = paging(),
    me: Account = caller("read:bookmarks"),
) -> JSON:
    found = await timelines.bookmarks(session, me.id, page)
    return await _respond(request, session, me.id, found, None)


@router.get("/favourites")
async def favourites(
    request: Request,
    session: SessionDep,
    page: Page = paging(),
    me: Account = caller("read:favourites"),
) -> JSON:
    found = await timelines.favourites(session, me.id, page)
    return await _respond(request, session, me.id, found, None)
