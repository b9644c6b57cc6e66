"""Discovery: trends (hashtags, posts, links) and their admin review, follow suggestions,
the profile directory, featured hashtags, endorsements, private account notes and familiar
followers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from agora.api import serialise
from agora.api.entities import preview_card_json, relationship_json, tag_json
from agora.config import get_settings
from agora.db.models import Account
from agora.http.deps import SessionDep, admin_caller, caller, id_param, optional_caller_id
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.http.params import Params, body, flag, openapi_body, read_params
from agora.ids import parse_id
from agora.social.people import endorsements, people_discovery
from agora.social.people import relationships as rel
from agora.social.people.lookup import get_account
from agora.social.posts import featured_tags, tags
from agora.social.posts.featured_tags import FeaturedTagView
from agora.social.reading import trends

router = APIRouter(prefix="/api")


def _number(name: str, value: str | None, default: int) -> int:
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(422, f"Validation failed: {name} must be a number") from None


def window(default: int, most: int) -> Any:
    """Dependency: (offset, limit) from the query, the limit clamped to 1..`most`."""

    async def dependency(
        offset: Annotated[str | None, Query()] = None,
        limit: Annotated[str | None, Query()] = None,
    ) -> tuple[int, int]:
        skip = max(0, min(10_000, _number("offset", offset, 0)))
        return skip, max(1, min(most, _number("limit", limit, default)))

    return Depends(dependency)


# --- trends ---------------------------------------------------------------------------------


@router.get("/v1/trends")
@router.get("/v1/trends/tags")
async def trending_tags(session: SessionDep, at: tuple[int, int] = window(10, 20)) -> JSON:
    found = await trends.trending_tags(session, *at)
    return JSON([tag_json(v) for v in await tags.describe_tags(session, None, found)])


@router.get("/v1/trends/statuses")
async def trending_statuses(
    session: SessionDep,
    at: tuple[int, int] = window(20, 40),
    viewer: int | None = optional_caller_id("read:statuses"),
) -> JSON:
    ids = await trends.trending_status_ids(session, viewer, *at)
    return JSON(await serialise.shown_statuses(session, viewer, ids, context="public"))


def _link_json(link: trends.TrendingLink) -> dict[str, Any]:
    """Mastodon's Trends::Link: the link's PreviewCard with `history`; a link without a
    stored card has only its URL and a title."""
    if link.card is not None:
        return {**preview_card_json(link.card), "url": link.url, "history": []}
    return {
        "url": link.url,
        "title": link.title,
        "description": "",
        "type": "link",
        "author_name": "",
        "author_url": "",
        "provider_name": "",
        "provider_url": "",
        "html": "",
        "width": 0,
        "height": 0,
        "image": None,
        "image_description": "",
        "embed_url": "",
        "blurhash": None,
        "authors": [],
        "history": [],
    }


@router.get("/v1/trends/links")
async def trending_links(session: SessionDep, at: tuple[int, int] = window(10, 20)) -> JSON:
    return JSON([_link_json(link) for link in await trends.trending_links(session, *at)])


TrendKindPath = Literal["tags", "statuses", "links"]
_KIND: dict[str, trends.TrendKind] = {"tags": "tag", "statuses": "status", "links": "link"}


def _trend_row_json(row: trends.TrendRow) -> dict[str, Any]:
    """An item of the admins' review queue (Agora's shape: what, its score, its review)."""
    return {
        "id": str(row.id),
        "kind": row.kind,
        "item": row.item,
        "score": row.score,
        "review": row.review,
        "requires_review": row.review == "pending",
        "title": row.title,
    }


@router.get("/v1/admin/trends/{kind}")
async def review_queue(
    session: SessionDep, kind: TrendKindPath, me: Account = admin_caller("admin:read")
) -> JSON:
    return JSON([_trend_row_json(r) for r in await trends.review_queue(session, _KIND[kind])])


@router.post("/v1/admin/trends/{kind}/{item_id}/{decision}")
async def review(
    session: SessionDep,
    kind: TrendKindPath,
    item_id: str,
    decision: Literal["approve", "reject"],
    me: Account = admin_caller("admin:write"),
) -> JSON:
    verdict = "approved" if decision == "approve" else "rejected"
    row = await trends.review_trend(session, _KIND[kind], id_param(item_id), verdict)
    return JSON(_trend_row_json(row))


# --- people ---------------------------------------------------------------------------------


@router.get("/v2/suggestions")
async def suggestions_v2(
    session: SessionDep,
    limit: Annotated[str | None, Query()] = None,
    me: Account = caller("read"),
) -> JSON:
    count = max(1, min(80, _number("limit", limit, 40)))
    found = await people_discovery.suggestions(session, me.id, count)
    accounts = await serialise.accounts(session, [s.account_id for s in found])
    legacy = {people_discovery.FRIENDS_OF_FRIENDS: "past_interactions"}
    return JSON(
        [
            {"source": legacy.get(s.source, "global"), "sources": [s.source], "account": a}
            for s, a in zip(found, accounts, strict=True)
        ]
    )


@router.get("/v1/suggestions")
async def suggestions_v1(
    session: SessionDep,
    limit: Annotated[str | None, Query()] = None,
    me: Account = caller("read"),
) -> JSON:
    count = max(1, min(80, _number("limit", limit, 40)))
    found = await people_discovery.suggestions(session, me.id, count)
    return JSON(await serialise.accounts(session, [s.account_id for s in found]))


@router.delete("/v1/suggestions/{account_id}")
async def dismiss_suggestion(
    session: SessionDep, account_id: str, me: Account = caller("read")
) -> JSON:
    await people_discovery.dismiss_suggestion(session, me.id, id_param(account_id))
    return JSON({})


@router.get("/v1/directory")
async def directory(
    session: SessionDep,
    order: Annotated[str | None, Query()] = None,
    local: Annotated[str | None, Query()] = None,
    at: tuple[int, int] = window(40, 80),
    viewer: int | None = optional_caller_id("read:accounts"),
) -> JSON:
    if order not in (None, "", "active", "new"):
        raise ApiError(422, "Validation failed: order must be active or new")
    ids = await people_discovery.directory(
        session,
        viewer,
        order="new" if order == "new" else "active",
        local=flag(local),
        offset=at[0],
        limit=at[1],
    )
    return JSON(await serialise.accounts(session, ids))


@router.get("/v1/accounts/familiar_followers")
async def familiar_followers(
    request: Request, session: SessionDep, me: Account = caller("read:follows")
) -> JSON:
    given = (await read_params(request)).get("id")  # Mastodon.py sends a JSON body
    raw = given if isinstance(given, list) else [given] if given is not None else []
    ids = list(dict.fromkeys(i for i in map(parse_id, map(str, raw)) if i is not None))[:40]
    found = await people_discovery.familiar_followers(session, me.id, ids)
    everyone = list(dict.fromkeys(a for followers in found.values() for a in followers))
    entities = dict(zip(everyone, await serialise.accounts(session, everyone), strict=True))
    return JSON([{"id": str(i), "accounts": [entities[a] for a in found[i]]} for i in ids])


# --- featured hashtags ----------------------------------------------------------------------


def _featured_json(view: FeaturedTagView, username: str) -> dict[str, Any]:
    """Mastodon's FeaturedTag entity (the count as a string, the last use as a date)."""
    base = get_settings().base_url
    return {
        "id": str(view.id),
        "name": view.name,
        "url": f"{base}/@{username}/tagged/{view.name}",
        "statuses_count": str(view.statuses_count),
        "last_status_at": view.last_status_at.date().isoformat() if view.last_status_at else None,
    }


@router.get("/v1/featured_tags")
async def my_featured_tags(session: SessionDep, me: Account = caller("read:accounts")) -> JSON:
    found = await featured_tags.featured_tags_of(session, me.id)
    return JSON([_featured_json(v, me.username) for v in found])


class FeatureForm(Params):
    name: str = ""


@router.post("/v1/featured_tags", openapi_extra=openapi_body(FeatureForm))
async def feature_tag(
    session: SessionDep,
    me: Account = caller("write:accounts"),
    form: FeatureForm = body(FeatureForm),
) -> JSON:
    view = await featured_tags.feature_tag(session, me.id, form.name)
    return JSON(_featured_json(view, me.username))


@router.get("/v1/featured_tags/suggestions")
async def featured_tag_suggestions(
    session: SessionDep, me: Account = caller("read:accounts")
) -> JSON:
    names = await featured_tags.suggested_tags(session, me.id)
    found = [t for t in [await tags.find_tag(session, n) for n in names] if t is not None]
    return JSON([tag_json(v) for v in await tags.describe_tags(session, me.id, found)])


@router.delete("/v1/featured_tags/{featured_id}")
async def unfeature_tag(
    session: SessionDep, featured_id: str, me: Account = caller("write:accounts")
) -> JSON:
    await featured_tags.unfeature_tag(session, me.id, id_param(featured_id))
    return JSON({})


@router.get("/v1/accounts/{account_id}/featured_tags")
async def account_featured_tags(session: SessionDep, account_id: str) -> JSON:
    account = await get_account(session, id_param(account_id))
    found = await featured_tags.featured_tags_of(session, account.id)
    return JSON([_featured_json(v, account.username) for v in found])


# --- endorsements and notes -----------------------------------------------------------------


async def _relationship(session: SessionDep, me: Account, target: int) -> JSON:
    found = await rel.relationships(session, me.id, [target])
    return JSON(relationship_json(found[0]))


@router.post("/v1/accounts/{account_id}/pin")
@router.post("/v1/accounts/{account_id}/endorse")  # Mastodon 4.4's name
async def endorse(
    session: SessionDep, account_id: str, me: Account = caller("write:accounts")
) -> JSON:
    target = id_param(account_id)
    await endorsements.endorse(session, me.id, target)
    return await _relationship(session, me, target)


@router.post("/v1/accounts/{account_id}/unpin")
@router.post("/v1/accounts/{account_id}/unendorse")  # Mastodon 4.4's name
async def unendorse(
    session: SessionDep, account_id: str, me: Account = caller("write:accounts")
) -> JSON:
    target = id_param(account_id)
    await endorsements.unendorse(session, me.id, target)
    return await _relationship(session, me, target)


@router.get("/v1/endorsements")
async def my_endorsements(session: SessionDep, me: Account = caller("read:accounts")) -> JSON:
    ids = await endorsements.endorsed_ids(session, me.id)
    return JSON(await serialise.accounts(session, ids))


@router.get("/v1/accounts/{account_id}/endorsements")
async def account_endorsements(session: SessionDep, account_id: str) -> JSON:
    account = await get_account(session, id_param(account_id))
    ids = await endorsements.endorsed_ids(session, account.id)
    return JSON(await serialise.accounts(session, ids))


class NoteForm(Params):
    comment: str = ""


@router.post("/v1/accounts/{account_id}/note", openapi_extra=openapi_body(NoteForm))
async def account_note(
    session: SessionDep,
    account_id: str,
    me: Account = caller("write:accounts"),
    form: NoteForm = body(NoteForm),
) -> JSON:
    target = id_param(account_id)
    await endorsements.set_note(session, me.id, target, form.comment)
    return await _relationship(session, me, target)
