"""Keyset pagination as Mastodon does it: max_id, since_id, min_id, limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVarTuple

from sqlalchemy import Integer, Select, bindparam

Row = TypeVarTuple("Row")  # the columns a paged statement selects


@dataclass(frozen=True, slots=True)
class Page:
    """A page request. `min_id` pages forward (oldest first, returned newest first)."""

    limit: int = 20
    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None

    @property
    def ascending(self) -> bool:
        return self.min_id is not None and self.since_id is None


def apply_page(query: Select[*Row], column: Any, page: Page, *, extra: int = 0) -> Select[*Row]:
    """Add the cursor conditions, order and limit for `column` to `query`."""
    if page.max_id is not None:
        query = query.where(column < page.max_id)
    if page.since_id is not None:
        query = query.where(column > page.since_id)
    if page.min_id is not None:
        query = query.where(column > page.min_id)
    order = column.asc() if page.ascending else column.desc()
    return query.order_by(order).limit(page.limit + extra)


def finish(rows: list[Any], page: Page) -> list[Any]:
    """Return rows newest first, whatever direction they were fetched in."""
    return list(reversed(rows)) if page.ascending else rows


def page_shape(page: Page) -> tuple[bool, bool, bool]:
    """Which cursors a page request uses: the key of a statement built with `bind_page`."""
    return page.max_id is not None, page.since_id is not None, page.min_id is not None


def bind_page(query: Select[*Row], column: Any, shape: tuple[bool, bool, bool]) -> Select[*Row]:
    """`apply_page` with bound parameters (max_id, since_id, min_id, limit) instead of values,
    so that a statement can be built once per page shape and reused (see `page_params`)."""
    has_max, has_since, has_min = shape
    if has_max:
        query = query.where(column < bindparam("max_id", type_=column.type))
    if has_since:
        query = query.where(column > bindparam("since_id", type_=column.type))
    if has_min:
        query = query.where(column > bindparam("min_id", type_=column.type))
    order = column.asc() if has_min and not has_since else column.desc()
    return query.order_by(order).limit(bindparam("limit", type_=Integer))


def page_params(page: Page) -> dict[str, int]:
    """The parameter values for a statement built with `bind_page`."""
    values = {"max_id": page.max_id, "since_id": page.since_id, "min_id": page.min_id}
    return {"limit": page.limit, **{k: v for k, v in values.items() if v is not None}}
