"""`agora db copy`, `agora media copy`, `agora backup`, `agora restore`: moving and saving a
whole installation.

The work is in agora/db/database_copy.py and agora/db/backups.py; this module only parses
options and shows progress."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agora.config import get_settings

db_app = typer.Typer(help="Move the database (off SQLite onto PostgreSQL).", no_args_is_help=True)
media_app = typer.Typer(help="Move the media files (into an S3 bucket).", no_args_is_help=True)
console = Console()


@db_app.command("copy")
def db_copy(
    to: Annotated[str, typer.Option("--to", help="the new database: postgresql+asyncpg://…")],
    batch_size: Annotated[int, typer.Option(min=1, help="rows per committed batch")] = 5000,
) -> None:
    """Copy this server's whole database (AGORA_DATABASE_URL) into a new, empty PostgreSQL
    database, then verify every table. Stop the server first. Run it again after an
    interruption: it resumes."""
    from agora.db.database_copy import CopyRefused, copy_database

    columns = (
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    source = get_settings().database_url
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, object] = {}

        def progress(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=total)
            bar.update(tasks[table], completed=done, total=total)  # type: ignore[arg-type]  # a TaskID made above

        try:
            result = asyncio.run(copy_database(source, to, batch=batch_size, progress=progress))
        except CopyRefused as exc:
            console.print(f"[red]refused:[/red] {exc}")
            raise typer.Exit(1) from None
    if result.resumed:
        console.print("resumed an interrupted copy")
    table = Table("table", "rows", "checksum", "verified")
    for check in result.checks:
        mark = "yes" if check.ok else f"[red]NO[/red] (target: {check.target_rows} rows)"
        table.add_row(check.table, str(check.source_rows), check.source_checksum[:16], mark)
    console.print(table)
    if not result.ok:
        console.print("[red]verification failed[/red]: the copy differs (see above)")
        raise typer.Exit(1)
    console.print(
        f"[green]copied, verified and analyzed[/green] {len(result.checks)} tables "
        f"({result.rows_copied} rows now); set AGORA_DATABASE_URL to the new database"
    )


def backup_command(
    out: Annotated[Path, typer.Argument(help="a new directory, or a .tar / .tar.gz file")],
) -> None:
    """Back up the database (SQLite's online backup API, or pg_dump's custom format) and the
    media files, while the server runs."""
    from agora.db.backups import BackupError, backup

    settings = get_settings()
    try:
        summary = asyncio.run(backup(settings.database_url, settings.media_dir, out))
    except BackupError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(
        f"[green]backed up[/green] the {summary.backend} database (schema {summary.revision}) "
        f"and {summary.media_files} media files to {out}"
    )
    if settings.media_storage == "s3":
        console.print(
            f"[yellow]note:[/yellow] media live in s3://{settings.s3_bucket} and are not in "
            "this backup: use the bucket's versioning or replication"
        )


def restore_command(
    source: Annotated[Path, typer.Argument(help="a backup directory or .tar / .tar.gz file")],
    replace: Annotated[
        bool, typer.Option(help="replace a database and media directory that are not empty")
    ] = False,
) -> None:
    """Restore a backup into AGORA_DATABASE_URL and AGORA_MEDIA_DIR (stop the server first)."""
    from agora.db.backups import BackupError, restore

    settings = get_settings()
    try:
        summary = asyncio.run(
            restore(source, settings.database_url, settings.media_dir, replace=replace)
        )
    except BackupError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(
        f"[green]restored[/green] the backup of {summary.created_at} ({summary.media_files} "
        "media files); start the server (with Redis: delete the agora:render:* keys first)"
    )


@media_app.command("copy")
def media_copy(
    to: Annotated[str, typer.Option("--to", help="where to: s3 (the AGORA_S3_* bucket)")],
) -> None:
    """Copy every file of AGORA_MEDIA_DIR into the AGORA_S3_* bucket (run it again after an
    interruption: files already there are skipped), then set AGORA_MEDIA_STORAGE=s3."""
    from agora.social.media.storage import copy_local_to_s3, s3_storage

    if to != "s3":
        console.print("[red]error:[/red] the only target is s3")
        raise typer.Exit(1)
    settings = get_settings()
    try:
        copied = copy_local_to_s3(settings.media_dir, s3_storage())
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(
        f"[green]copied[/green] {copied} files to s3://{settings.s3_bucket}; "
        "set AGORA_MEDIA_STORAGE=s3"
    )
