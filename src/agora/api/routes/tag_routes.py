"""Hashtags: GET /api/v1/tags/:name, follow / unfollow, feature / unfeature (Mastodon 4.4:
on one's profile, the featured-tags service), GET /api/v1/followed_tags."""

from __future__ import annotations

from fastapi import APIRouter, Request

from agora.api.entities import tag_json
from agora.db.models import Account
from agora.http.deps import SessionDep, caller, optional_caller, paging
from agora.http.json import JSON
from agora.http.links import paged
from agora.social.posts import featured_tags, tags
from agora.social.rules.paging import Page

router = APIRouter(prefix="/api/v1")


@router.get("/tags/{name}")
async def get_tag(
    session: SessionDep, name: str, me: Account | None = optional_caller("read:follows")
) -> JSON:
    return JSON(tag_json(await tags.describe(session, me.id if me else None, name)))


@router.post("/tags/{name}/follow")
async def follow(session: SessionDep, name: str, me: Account = caller("write:follows")) -> JSON:
    return JSON(tag_json(await tags.follow_tag(session, me.id, name)))


@router.post("/tags/{name}/unfollow")
async def unfollow(session: SessionDep, name: str, me: Account = caller("write:follows")) -> JSON:
    return JSON(tag_json(await tags.unfollow_tag(session, me.id, name)))


@router.post("/tags/{name}/feature")
async def feature(session: SessionDep, name: str, me: Account = caller("write:accounts")) -> JSON:
    """Feature the hashtag on one's profile (idempotent); answers the Tag (`featuring`)."""
    me_id = me.id
    await featured_tags.feature_by_name(session, me_id, name)
    return JSON(tag_json(await tags.describe(session, me_id, name)))


@router.post("/tags/{name}/unfeature")
async def unfeature(session: SessionDep, name: str, me: Account = caller("write:accounts")) -> JSON:
    """Stop featuring the hashtag (idempotent); answers the Tag."""
    me_id = me.id
    await featured_tags.unfeature_by_name(session, me_id, name)
    return JSON(tag_json(await tags.describe(session, me_id, name)))


@router.get("/followed_tags")
async def followed_tags(
    request: Request,
    session: SessionDep,
    page: Page = paging(100, 200),
    me: Account = caller("read:follows"),
) -> JSON:
    views, next_max, prev_min = await tags.followed_tags(session, me.id, page)
    return paged(request, [tag_json(v) for v in views], next_max, prev_min)
