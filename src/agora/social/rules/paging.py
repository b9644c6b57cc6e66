"""Keyset pagination as Mastodon does it: max_id, since_id, min_id, limit.

`Page` is what a request asks for; `Slice[T]` is the one shape of what every paged service
answers (timelines, account lists, notifications, reports, the admins' account list): the
items newest first and the cursor values behind them, from which the doors make the
`Link` header (API) or the "older" link (web). `slice_of` and `keyed_slice` turn the rows a
query built with `apply_page` returned into one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, TypeVarTuple

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


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Slice(Generic[T]):
    """One page of results, newest first, and the cursor value of each (`cursors`; for some
    timelines they span more than the items: see `partial`). `partial`: the page is short
    (perhaps empty) because the work one request may do ran out, not because the results
    did; its cursors continue where that work stopped."""

    items: list[T]
    cursors: list[int]
    partial: bool = False

    @property
    def next_max_id(self) -> int | None:
        """The cursor of the next (older) page, None when the page is empty."""
        return self.cursors[-1] if self.cursors else None

    @property
    def prev_min_id(self) -> int | None:
        """The cursor of the previous (newer) page, None when the page is empty."""
        return self.cursors[0] if self.cursors else None


def slice_of(rows: Sequence[Any], page: Page) -> Slice[Any]:
    """A Slice from (cursor, item) rows fetched by a query built with `apply_page`."""
    ordered = finish(list(rows), page)
    return Slice([row[1] for row in ordered], [row[0] for row in ordered])


def keyed_slice(items: Sequence[T], page: Page, key: Callable[[T], int]) -> Slice[T]:
    """A Slice from items fetched by a query built with `apply_page` on `key(item)`."""
    ordered = finish(list(items), page)
    return Slice(ordered, [key(item) for item in ordered])


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
