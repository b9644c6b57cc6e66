"""Rendered accounts, cached: the Account entities of a list of ids joined from the renderings
api/status_cache.py keeps for statuses' authors (the same entries, keyed by (account id,
`accounts.render_version`), without the counters), with the counters read and spliced in per
request. For responses that list many accounts apart from statuses (grouped notifications:
up to eight sample accounts a group, some hundred a page).

Invariants: the same JSON as `entities.account_json(account, moved=...)` of the account and
the account it moved to (`hydrate.moved_targets`), as the status cache renders authors;
suspended accounts are left out, as `hydrate.load_accounts` leaves them out. Queries: one
narrow read (ids, versions, counters), and, only for what the cache lacks, the accounts and
the accounts they moved to (stored as status_cache stores: under the version read with the
content, never from a session that wrote and has not committed). Each entity shown is
disclosed with the stance its rendering carries (`shown`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

import orjson
from sqlalchemy import DateTime, Select, bindparam, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from agora.api.entities import account_counts_json, partial_account_json
from agora.api.page_cache import note_rows
from agora.api.status_cache import (
    ACCOUNT,
    Key,
    Rendered,
    account_rendering,
    get_render_cache,
)
from agora.data.signals import disclose_stance
from agora.db.engine import column_rows
from agora.db.models import Account
from agora.db.session_writes import has_written
from agora.social.posts.hydrate import load_accounts, moved_targets


async def account_entities(session: AsyncSession, ids: Iterable[int]) -> dict[int, Rendered]:
    """The Account entities of `ids` (suspended ones left out), by id: JSON with its counters,
    and the stance to disclose where it is shown (`shown`)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    rows: Sequence[Any] = await column_rows(session, _accounts_statement(), {"ids": wanted})
    note_rows({}, {row[0]: row[2] for row in rows})
    keys: dict[int, Key] = {row[0]: (ACCOUNT, row[0], row[1]) for row in rows}
    cache_ = get_render_cache()
    held = await cache_.get_many(list(keys.values()), Rendered.load)
    missing = [i for i, key in keys.items() if key not in held]
    fresh = await _render(session, missing) if missing else {}
    out = {}
    for account_id, _, _, *counts in rows:
        entry = held.get(keys[account_id]) or fresh.get(account_id)
        if entry is None:
            continue  # suspended since the narrow read
        spliced = entry.spliced(account_counts_json(*counts))
        out[account_id] = Rendered(spliced, entry.stance)
    return out


def shown(entity: Rendered) -> orjson.Fragment:
    """An Account entity of `account_entities` as a response shows it (disclosed)."""
    disclose_stance(entity.stance)
    return orjson.Fragment(entity.json)


def shown_partial(entity: Rendered) -> dict[str, Any]:
    """An Account entity of `account_entities` as Mastodon's PartialAccountWithAvatar
    (disclosed)."""
    disclose_stance(entity.stance)
    return partial_account_json(orjson.loads(entity.json))


async def _render(session: AsyncSession, ids: list[int]) -> dict[int, Rendered]:
    """Render the accounts the cache lacks; keep them under the versions they were read at."""
    found = await load_accounts(session, ids)
    moved = await moved_targets(session, found)
    rendered = {a.id: account_rendering(a, moved.get(a.id)) for a in found}
    if not has_written(session):
        stored: dict[Key, Rendered] = {
            (ACCOUNT, a.id, a.render_version): rendered[a.id] for a in found
        }
        await get_render_cache().put_many(stored)
    return rendered


@cache
def _accounts_statement() -> Select[Any]:
    """The narrow read: ids, render versions, change stamps and counters of the active
    accounts `ids`."""
    columns: list[Any] = [
        Account.id,
        Account.render_version,
        Account.change_stamp,  # for a page being cached (api/page_cache.py)
        Account.followers_count,
        Account.following_count,
        Account.statuses_count,
        # only its date is shown: read as the plain column type, without UTCDateTime's
        # conversion in Python (a call per account, some hundred a page; naive on SQLite,
        # which stores UTC)
        type_coerce(Account.last_status_at, DateTime(timezone=True)),
    ]
    return select(*columns).where(
        Account.id.in_(bindparam("ids", expanding=True)), Account.suspended_at.is_(None)
    )
