"""Agora extension: leaving with one's data and arriving with it (Mastodon has no API for
either; these are small and Mastodon-shaped).

- `POST /api/v1/agora/archive` asks for an archive (202; 422 within 7 days of the last),
  `GET /api/v1/agora/archive` lists the caller's archives (newest first) and when the next
  may be asked for, `GET /api/v1/agora/archive/:id/download` is the zip (owner only).
- `GET /api/v1/agora/exports/:name` is one of Mastodon's CSV exports
  (`following_accounts.csv`, `lists.csv`, `blocked_accounts.csv`, `muted_accounts.csv`,
  `blocked_domains.csv`, `bookmarks.csv`).
- `POST /api/v1/agora/imports` (multipart: `type`, `mode` merge / overwrite, `data` the file)
  starts a CSV import (202), `GET /api/v1/agora/imports` and `GET /api/v1/agora/imports/:id`
  show their progress (the latter with the failed and waiting rows and why).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from starlette.datastructures import UploadFile

from agora.api.entities import archive_json, csv_import_json, iso
from agora.db.models import Account
from agora.http.deps import SessionDep, caller, id_param
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.social.people import account_archives, csv_exports, csv_imports

router = APIRouter(prefix="/api/v1/agora")


@router.post("/archive", status_code=202)
async def request_archive(session: SessionDep, me: Account = caller("write:accounts")) -> JSON:
    archive = await account_archives.request_archive(session, me)
    return JSON(archive_json(archive), status_code=202)


@router.get("/archive")
async def archives(session: SessionDep, me: Account = caller("read:accounts")) -> JSON:
    found = await account_archives.archives_of(session, me.id)
    next_at = await account_archives.next_archive_at(session, me.id)
    return JSON({"archives": [archive_json(a) for a in found], "next_request_at": iso(next_at)})


@router.get("/archive/{archive_id}/download")
async def download_archive(
    session: SessionDep, archive_id: str, me: Account = caller("read:accounts")
) -> Response:
    path = await account_archives.archive_file(session, me.id, id_param(archive_id))
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"archive-{me.username}-{archive_id}.zip",
        headers={"Cache-Control": "private, no-store"},
    )


@router.get("/exports/{name}")
async def export_csv(
    request: Request, name: str, me: Account = caller("read:accounts")
) -> Response:
    if name not in csv_exports.EXPORTS:
        raise ApiError(404, "Record not found")
    return StreamingResponse(
        csv_exports.stream_csv(request.app.state.db, me.id, name),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


@router.post("/imports", status_code=202)
async def start_import(
    request: Request, session: SessionDep, me: Account = caller("write:accounts")
) -> JSON:
    form = await request.form()
    upload = form.get("data")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "Validation failed: Data can't be blank")
    kind, mode = form.get("type"), form.get("mode") or "merge"
    if mode not in ("merge", "overwrite"):
        raise ApiError(422, "Validation failed: mode must be merge or overwrite")
    found = await csv_imports.start_import(
        session,
        me,
        kind if isinstance(kind, str) else "",
        await upload.read(csv_imports.MAX_BYTES + 1),
        overwrite=mode == "overwrite",
        file_name=upload.filename or "",
    )
    return JSON(csv_import_json(found), status_code=202)


@router.get("/imports")
async def imports(session: SessionDep, me: Account = caller("read:accounts")) -> JSON:
    return JSON([csv_import_json(i) for i in await csv_imports.imports_of(session, me.id)])


@router.get("/imports/{import_id}")
async def show_import(
    session: SessionDep, import_id: str, me: Account = caller("read:accounts")
) -> JSON:
    found = await csv_imports.get_import(session, me.id, id_param(import_id))
    return JSON(csv_import_json(found, await csv_imports.problems(session, found.id)))
