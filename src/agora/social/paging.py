"""Keyset pagination as Mastodon does it: max_id, since_id, min_id, limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select


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


def apply_page(query: Select[Any], column: Any, page: Page, *, extra: int = 0) -> Select[Any]:
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
