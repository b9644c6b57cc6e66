"""The filter entities, as Mastodon shapes them: Filter (v2) with FilterKeyword and
FilterStatus, FilterResult (a Status's `filtered`), and the v1 Filter (one per keyword)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agora.db.models import Filter, FilterKeyword, FilterStatus
from agora.social.rules.filtering import FilterMatch


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="milliseconds")[:23] + "Z"


def keyword_json(keyword: FilterKeyword) -> dict[str, Any]:
    """The FilterKeyword entity."""
    return {"id": str(keyword.id), "keyword": keyword.keyword, "whole_word": keyword.whole_word}


def filter_status_json(row: FilterStatus) -> dict[str, Any]:
    """The FilterStatus entity."""
    return {"id": str(row.id), "status_id": str(row.post_id)}


def filter_json(
    found: Filter, keywords: list[FilterKeyword], statuses: list[FilterStatus]
) -> dict[str, Any]:
    """The Filter entity (v2) with its keywords and statuses."""
    return {
        "id": str(found.id),
        "title": found.title,
        "context": list(found.contexts),
        "expires_at": _iso(found.expires_at),
        "filter_action": found.action,
        "keywords": [keyword_json(k) for k in keywords],
        "statuses": [filter_status_json(s) for s in statuses],
    }


def filter_result_json(match: FilterMatch) -> dict[str, Any]:
    """The FilterResult entity: the filter (without its rules, as on Mastodon) and what of it
    matched."""
    active = match.filter
    return {
        "filter": {
            "id": str(active.id),
            "title": active.title,
            "context": list(active.contexts),
            "expires_at": _iso(active.expires_at),
            "filter_action": active.action,
        },
        "keyword_matches": list(match.keyword_matches) if match.keyword_matches else None,
        "status_matches": [str(i) for i in match.status_matches] if match.status_matches else None,
    }


def v1_filter_json(keyword: FilterKeyword, found: Filter) -> dict[str, Any]:
    """The v1 Filter entity: one keyword of a filter, with the filter's contexts and expiry
    (`irreversible`: the filter hides)."""
    return {
        "id": str(keyword.id),
        "phrase": keyword.keyword,
        "context": list(found.contexts),
        "whole_word": keyword.whole_word,
        "expires_at": _iso(found.expires_at),
        "irreversible": found.action == "hide",
    }
