"""The `run_csv_import` job: a person's CSV import (social/people/csv_imports.py) applied in
batches, with the accounts and posts it names on other servers looked up first.

Each pass takes the import's pending rows a batch at a time: the remote addresses not
stored here are resolved through WebFinger and their actor documents
(`actors.resolve_handle`), the remote posts of a bookmarks file fetched
(`post_fetch.fetch_and_store`), outside any transaction; then the batch is applied in one
write session (`csv_imports.apply_rows`). An address or post whose server did not answer
(a network error, a timeout, a 5xx, 408 or 429) makes its row wait; one the server says does
not exist (or a refused address) fails the row with the reason. After the pass, waiting rows
are tried again by the same job later (`Postpone`, so no attempt is spent), up to
`csv_imports.MAX_TRIES` times; then `import_finished` ends the import.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import Database
from agora.db.models import CsvImport
from agora.federation.actors import resolve_handle
from agora.federation.client import FederationError
from agora.federation.post_fetch import fetch_and_store
from agora.jobs.job_kinds import CsvImportJob
from agora.jobs.queue import Postpone
from agora.social.people import csv_imports
from agora.social.people.csv_imports import Lookups

GONE = (401, 403, 404, 410)


async def run_import(db: Database, payload: CsvImportJob) -> None:
    """The job's slow phase: one pass over the pending rows (module docstring)."""
    import_id = payload["import_id"]
    async with db.session(write=True) as session:
        found = await csv_imports.begin_run(session, import_id)
        kind = found.kind if found is not None else None
    if kind is None:
        return
    while True:
        async with db.session() as session:
            imp = await session.get(CsvImport, import_id)
            rows = await csv_imports.pending_rows(session, import_id)
            wanted = await csv_imports.to_resolve(session, imp, rows) if imp and rows else []
            row_ids = [r.id for r in rows]
        if not row_ids:
            break
        lookups = await _look_up(db, kind, wanted)
        async with db.session(write=True) as session:
            await csv_imports.apply_rows(session, import_id, row_ids, lookups)
    async with db.session(write=True) as session:
        delay = await csv_imports.retry_waiting(session, import_id)
    if delay is not None:
        raise Postpone(delay, "rows of the import wait for their servers")


async def _look_up(db: Database, kind: str, wanted: list[str]) -> Lookups:
    unreachable: dict[str, str] = {}
    missing: dict[str, str] = {}
    for item in wanted:
        try:
            if kind == "bookmarks":
                await fetch_and_store(db, item)
            else:
                await resolve_handle(db, item)
        except FederationError as exc:
            if exc.permanent or exc.status in GONE:
                missing[item] = f"not found on its server ({exc})"
            else:
                unreachable[item] = str(exc) or "no answer"
    return Lookups(unreachable, missing)


async def import_finished(session: AsyncSession, payload: CsvImportJob, _result: None) -> None:
    """The job's last transaction: the import is finished."""
    await csv_imports.finish_import(session, payload["import_id"])
