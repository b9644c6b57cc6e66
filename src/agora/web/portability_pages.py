"""Leaving and arriving in the browser: `/settings/export` (ask for an archive, see its state
and download it; Mastodon's CSV files at `/settings/exports/<name>.csv`) and
`/settings/import` (upload a Mastodon CSV file, merge or overwrite; the table of imports
shows their progress and refreshes itself while one runs). Each form is one service call
(social/people/account_archives.py, csv_exports.py, csv_imports.py); downloads are the
signed-in person's own only."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse

from agora.http.deps import SessionDep
from agora.social.people import account_archives, csv_exports, csv_imports
from agora.social.rules.errors import Invalid, NotFound
from agora.web.media_forms import uploaded_file
from agora.web.render import render
from agora.web.route import web_router
from agora.web.session import Form, Me, field, is_htmx

router = web_router()
IMPORT_KINDS = {
    "following": "Follows",
    "lists": "Lists",
    "blocking": "Blocked accounts",
    "muting": "Muted accounts",
    "domain_blocking": "Blocked servers",
    "bookmarks": "Bookmarks",
}
EXPORT_FILES = {
    "following_accounts.csv": "Follows",
    "lists.csv": "Lists",
    "blocked_accounts.csv": "Blocked accounts",
    "muted_accounts.csv": "Muted accounts",
    "blocked_domains.csv": "Blocked servers",
    "bookmarks.csv": "Bookmarks",
}


async def _export_page(
    request: Request, session: SessionDep, me: Me, error: str | None = None
) -> Response:
    found = await account_archives.archives_of(session, me.account.id)
    context: dict[str, Any] = {
        "nav": "settings",
        "section": "export",
        "archives": [(a, account_archives.state_of(a)) for a in found],
        "next_at": await account_archives.next_archive_at(session, me.account.id),
        "files": EXPORT_FILES,
        "error": error,
    }
    return render(request, "settings_export.html", context, status=422 if error else 200)


@router.get("/settings/export")
async def export_page(request: Request, session: SessionDep, me: Me) -> Response:
    """The archive (request button, state, download link) and the CSV files."""
    return await _export_page(request, session, me)


@router.post("/settings/export/archive")
async def request_archive(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Ask for an archive (once a week)."""
    try:
        await account_archives.request_archive(session, me.account)
    except Invalid as exc:
        await session.rollback()
        await session.refresh(me.account)
        return await _export_page(request, session, me, exc.message)
    return RedirectResponse("/settings/export?saved=1", status_code=303)


@router.get("/settings/export/archives/{archive_id}.zip")
async def download_archive(session: SessionDep, me: Me, archive_id: str) -> Response:
    """The zip of one of the person's ready archives (404 for anyone else)."""
    if not archive_id.isdigit() or len(archive_id) > 20:
        raise NotFound()
    path = await account_archives.archive_file(session, me.account.id, int(archive_id))
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"archive-{me.account.username}-{archive_id}.zip",
        headers={"Cache-Control": "private, no-store"},
    )


@router.get("/settings/exports/{name}")
async def export_csv(request: Request, me: Me, name: str) -> Response:
    """One of Mastodon's CSV files of the person's data."""
    if name not in csv_exports.EXPORTS:
        raise NotFound()
    return StreamingResponse(
        csv_exports.stream_csv(request.app.state.db, me.account.id, name),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


async def _import_page(
    request: Request, session: SessionDep, me: Me, error: str | None = None
) -> Response:
    found = await csv_imports.imports_of(session, me.account.id)
    problems = {i.id: await csv_imports.problems(session, i.id, 20) for i in found[:5]}
    context: dict[str, Any] = {
        "nav": "settings",
        "section": "import",
        "imports": found,
        "problems": problems,
        "kinds": IMPORT_KINDS,
        "running": any(i.state != csv_imports.FINISHED for i in found),
        "error": error,
    }
    if is_htmx(request):
        return render(request, "_imports_table.html", context)
    return render(request, "settings_import.html", context, status=422 if error else 200)


@router.get("/settings/import")
async def import_page(request: Request, session: SessionDep, me: Me) -> Response:
    """The upload form and the progress of the person's imports."""
    return await _import_page(request, session, me)


@router.post("/settings/import")
async def start_import(request: Request, session: SessionDep, me: Me, form: Form) -> Response:
    """Import an uploaded Mastodon CSV file (run by a job; the page shows its progress)."""
    upload = uploaded_file(form, "data")
    try:
        if upload is None:
            raise Invalid("Choose a file to import")
        await csv_imports.start_import(
            session,
            me.account,
            field(form, "type"),
            await upload.read(csv_imports.MAX_BYTES + 1),
            overwrite=field(form, "mode") == "overwrite",
            file_name=upload.filename or "",
        )
    except Invalid as exc:
        await session.rollback()
        await session.refresh(me.account)
        return await _import_page(request, session, me, exc.message)
    return RedirectResponse("/settings/import?saved=1", status_code=303)
