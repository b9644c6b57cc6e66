"""Filters: /api/v2/filters (with keywords and statuses) and the v1 shape /api/v1/filters (one
v1 filter per keyword). What filters do to timelines, notifications and streams is applied by
hydration (social/rules/filtering.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from agora.api.filter_entities import (
    filter_json,
    filter_status_json,
    keyword_json,
    v1_filter_json,
)
from agora.db.models import Account, Filter
from agora.http.deps import SessionDep, caller, id_param
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.http.params import Params, body, flag, openapi_body
from agora.social.reading import filters
from agora.social.reading.filters import KEEP, FilterDraft, FilterView, KeywordChange

router = APIRouter()
READ = "read:filters"
WRITE = "write:filters"


def _view_json(view: FilterView) -> dict[str, Any]:
    return filter_json(view.filter, view.keywords, view.statuses)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _hashes(value: Any) -> list[dict[str, Any]]:
    """`keywords_attributes` as a list of hashes, however sent: a JSON list, form brackets
    with indices (`[0][keyword]`), or without (`[][keyword]`, `[][whole_word]`: Rails starts
    a new hash when a key repeats)."""
    if isinstance(value, dict):
        value = [value[k] for k in sorted(value, key=lambda k: (len(str(k)), str(k)))]
    out: list[dict[str, Any]] = []
    for item in _list(value):
        if not isinstance(item, dict):
            raise ApiError(422, "Validation failed: keywords_attributes must be a list of hashes")
        if out and not (set(item) & set(out[-1])) and "keyword" not in item:
            out[-1].update(item)
        else:
            out.append(dict(item))
    return out


def _seconds(value: Any) -> int | object | None:
    """`expires_in`: absent: unchanged (KEEP); empty or null: never; else whole seconds."""
    if value is KEEP:
        return KEEP
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        raise ApiError(422, "Validation failed: expires_in must be a number of seconds") from None


def _keyword_change(item: dict[str, Any]) -> KeywordChange:
    raw_id = item.get("id")
    keyword = item.get("keyword")
    whole = item.get("whole_word")
    return KeywordChange(
        id=id_param(str(raw_id)) if raw_id not in (None, "") else None,
        keyword=str(keyword) if keyword is not None else None,
        whole_word=flag(whole) if whole is not None else None,
        destroy=flag(item.get("_destroy")),
    )


class FilterForm(Params):
    """title, context[], filter_action, expires_in, keywords_attributes[]."""

    title: str | None = Field(default=None, max_length=10_000)
    context: Any = None
    filter_action: str | None = None
    expires_in: Any = None
    keywords_attributes: Any = None

    def draft(self) -> FilterDraft:
        """The service's draft of what was sent."""
        contexts = [str(c) for c in _list(self.context)] if self.context is not None else None
        return FilterDraft(
            title=self.title,
            contexts=contexts,
            action=self.filter_action,
            expires_in=_seconds(self.expires_in if "expires_in" in self.model_fields_set else KEEP),
            keywords=[_keyword_change(h) for h in _hashes(self.keywords_attributes)],
        )


class KeywordForm(Params):
    keyword: str | None = Field(default=None, max_length=10_000)
    whole_word: Any = None


class StatusForm(Params):
    status_id: str = ""


# -- v2 --------------------------------------------------------------------------------------


@router.get("/api/v2/filters")
async def index(session: SessionDep, me: Account = caller(READ)) -> JSON:
    return JSON([_view_json(v) for v in await filters.owned_filters(session, me.id)])


@router.post("/api/v2/filters", openapi_extra=openapi_body(FilterForm))
async def create(
    session: SessionDep, me: Account = caller(WRITE), form: FilterForm = body(FilterForm)
) -> JSON:
    draft = form.draft()
    draft.keywords = [k for k in draft.keywords if not k.destroy]
    return JSON(_view_json(await filters.create_filter(session, me.id, draft)))


@router.get("/api/v2/filters/keywords/{keyword_id}")
async def show_keyword(session: SessionDep, keyword_id: str, me: Account = caller(READ)) -> JSON:
    return JSON(keyword_json(await filters.get_keyword(session, me.id, id_param(keyword_id))))


@router.put("/api/v2/filters/keywords/{keyword_id}", openapi_extra=openapi_body(KeywordForm))
async def update_keyword(
    session: SessionDep,
    keyword_id: str,
    me: Account = caller(WRITE),
    form: KeywordForm = body(KeywordForm),
) -> JSON:
    whole = flag(form.whole_word) if form.whole_word is not None else None
    row = await filters.update_keyword(session, me.id, id_param(keyword_id), form.keyword, whole)
    return JSON(keyword_json(row))


@router.delete("/api/v2/filters/keywords/{keyword_id}")
async def delete_keyword(session: SessionDep, keyword_id: str, me: Account = caller(WRITE)) -> JSON:
    await filters.delete_keyword(session, me.id, id_param(keyword_id))
    return JSON({})


@router.get("/api/v2/filters/statuses/{row_id}")
async def show_status(session: SessionDep, row_id: str, me: Account = caller(READ)) -> JSON:
    row = await filters.get_filter_status(session, me.id, id_param(row_id))
    return JSON(filter_status_json(row))


@router.delete("/api/v2/filters/statuses/{row_id}")
async def delete_status(session: SessionDep, row_id: str, me: Account = caller(WRITE)) -> JSON:
    await filters.delete_filter_status(session, me.id, id_param(row_id))
    return JSON({})


@router.get("/api/v2/filters/{filter_id}")
async def show(session: SessionDep, filter_id: str, me: Account = caller(READ)) -> JSON:
    return JSON(_view_json(await filters.show_filter(session, me.id, id_param(filter_id))))


@router.put("/api/v2/filters/{filter_id}", openapi_extra=openapi_body(FilterForm))
async def update(
    session: SessionDep,
    filter_id: str,
    me: Account = caller(WRITE),
    form: FilterForm = body(FilterForm),
) -> JSON:
    found = await filters.update_filter(session, me.id, id_param(filter_id), form.draft())
    return JSON(_view_json(found))


@router.delete("/api/v2/filters/{filter_id}")
async def delete(session: SessionDep, filter_id: str, me: Account = caller(WRITE)) -> JSON:
    await filters.delete_filter(session, me.id, id_param(filter_id))
    return JSON({})


@router.get("/api/v2/filters/{filter_id}/keywords")
async def keywords(session: SessionDep, filter_id: str, me: Account = caller(READ)) -> JSON:
    found = await filters.keywords_of(session, me.id, id_param(filter_id))
    return JSON([keyword_json(k) for k in found])


@router.post("/api/v2/filters/{filter_id}/keywords", openapi_extra=openapi_body(KeywordForm))
async def add_keyword(
    session: SessionDep,
    filter_id: str,
    me: Account = caller(WRITE),
    form: KeywordForm = body(KeywordForm),
) -> JSON:
    whole = flag(form.whole_word) if form.whole_word is not None else True
    row = await filters.add_keyword(session, me.id, id_param(filter_id), form.keyword, whole)
    return JSON(keyword_json(row))


@router.get("/api/v2/filters/{filter_id}/statuses")
async def statuses(session: SessionDep, filter_id: str, me: Account = caller(READ)) -> JSON:
    found = await filters.statuses_of(session, me.id, id_param(filter_id))
    return JSON([filter_status_json(s) for s in found])


@router.post("/api/v2/filters/{filter_id}/statuses", openapi_extra=openapi_body(StatusForm))
async def add_status(
    session: SessionDep,
    filter_id: str,
    me: Account = caller(WRITE),
    form: StatusForm = body(StatusForm),
) -> JSON:
    row = await filters.add_filter_status(
        session, me.id, id_param(filter_id), id_param(form.status_id)
    )
    return JSON(filter_status_json(row))


# -- v1: one filter per keyword ------------------------------------------------------------


class V1FilterForm(Params):
    """phrase, context[], irreversible, whole_word, expires_in."""

    phrase: str | None = Field(default=None, max_length=10_000)
    context: Any = None
    irreversible: Any = None
    whole_word: Any = None
    expires_in: Any = None

    def expiry(self) -> int | object | None:
        """`expires_in` in seconds; KEEP when not sent."""
        return _seconds(self.expires_in if "expires_in" in self.model_fields_set else KEEP)

    def contexts(self) -> list[str] | None:
        return [str(c) for c in _list(self.context)] if self.context is not None else None


async def _v1(session: SessionDep, owner_id: int, keyword_id: int) -> dict[str, Any]:
    row = await filters.get_keyword(session, owner_id, keyword_id)
    found = await session.get(Filter, row.filter_id)
    assert found is not None
    return v1_filter_json(row, found)


@router.get("/api/v1/filters")
async def v1_index(session: SessionDep, me: Account = caller(READ)) -> JSON:
    return JSON(
        [
            v1_filter_json(k, v.filter)
            for v in await filters.owned_filters(session, me.id)
            for k in v.keywords
        ]
    )


@router.get("/api/v1/filters/{keyword_id}")
async def v1_show(session: SessionDep, keyword_id: str, me: Account = caller(READ)) -> JSON:
    return JSON(await _v1(session, me.id, id_param(keyword_id)))


@router.post("/api/v1/filters", openapi_extra=openapi_body(V1FilterForm))
async def v1_create(
    session: SessionDep, me: Account = caller(WRITE), form: V1FilterForm = body(V1FilterForm)
) -> JSON:
    draft = FilterDraft(
        title=form.phrase,
        contexts=form.contexts(),
        action="hide" if flag(form.irreversible) else "warn",
        expires_in=form.expiry(),
        keywords=[
            KeywordChange(
                keyword=form.phrase,
                whole_word=flag(form.whole_word) if form.whole_word is not None else True,
            )
        ],
    )
    view = await filters.create_filter(session, me.id, draft)
    return JSON(v1_filter_json(view.keywords[0], view.filter))


@router.put("/api/v1/filters/{keyword_id}", openapi_extra=openapi_body(V1FilterForm))
async def v1_update(
    session: SessionDep,
    keyword_id: str,
    me: Account = caller(WRITE),
    form: V1FilterForm = body(V1FilterForm),
) -> JSON:
    row = await filters.get_keyword(session, me.id, id_param(keyword_id))
    draft = FilterDraft(
        contexts=form.contexts(),
        action=None if form.irreversible is None else "hide" if flag(form.irreversible) else "warn",
        expires_in=form.expiry(),
        keywords=[
            KeywordChange(
                id=row.id,
                keyword=form.phrase,
                whole_word=flag(form.whole_word) if form.whole_word is not None else None,
            )
        ],
    )
    await filters.update_filter(session, me.id, row.filter_id, draft)
    return JSON(await _v1(session, me.id, row.id))


@router.delete("/api/v1/filters/{keyword_id}")
async def v1_delete(session: SessionDep, keyword_id: str, me: Account = caller(WRITE)) -> JSON:
    await filters.delete_v1_filter(session, me.id, id_param(keyword_id))
    return JSON({})
