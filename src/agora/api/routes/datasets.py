"""Agora extension: the published dataset exports, read-only, for admins and labs.

A lab's token carries the admin-granted `read:datasets` scope (`agora export grant NAME`);
an admin's own token with `read` works too. Nobody else sees the list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from agora.auth.oauth import Credentials
from agora.auth.scopes import satisfies
from agora.data import transparency
from agora.db.models import DatasetExport, User
from agora.http.deps import SessionDep, app_caller, id_param
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.social.rules.errors import NotFound

router = APIRouter(prefix="/api/v1/agora/datasets")


async def _reader(session: SessionDep, creds: Credentials) -> None:
    if satisfies(creds.scopes, "read:datasets"):
        return
    if creds.account is not None and satisfies(creds.scopes, "read"):
        user = await session.get(User, creds.account.id)
        if user is not None and user.is_admin:
            return
    raise ApiError(403, "This action is outside the authorized scopes")


def _summary(export: DatasetExport) -> dict[str, Any]:
    return {
        "id": str(export.id),
        "purpose": export.purpose,
        "snapshot_at": export.manifest.get("snapshot_at"),
        "posts": export.posts_count,
        "accounts": export.accounts_count,
        "withdrawn": export.withdrawn_count,
        "manifest": export.manifest,
    }


@router.get("")
async def index(session: SessionDep, creds: Credentials = app_caller()) -> JSON:
    await _reader(session, creds)
    return JSON([_summary(e) for e in await transparency.published_exports(session)])


@router.get("/{export_id}")
async def show(session: SessionDep, export_id: str, creds: Credentials = app_caller()) -> JSON:
    await _reader(session, creds)
    return JSON(_summary(await transparency.get_export(session, id_param(export_id))))


@router.get("/{export_id}/files/{name:path}")
async def download(
    session: SessionDep,
    export_id: str,
    name: str,
    creds: Credentials = app_caller(),
) -> FileResponse:
    """One file the manifest lists (a shard, the card, the withdrawal list or the manifest)."""
    await _reader(session, creds)
    export = await transparency.get_export(session, id_param(export_id))
    listed = {s["file"] for s in export.manifest.get("shards", [])}
    listed |= {"manifest.json", "README.md", "withdrawals.json"}
    path = Path(export.directory) / name
    if name not in listed or not path.is_file():
        raise NotFound()
    return FileResponse(path, filename=path.name)
