"""`agora notes ...`: Community Notes for admins (rescoring at once, between the hourly job's
runs)."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from agora.db.engine import configured_database

notes_app = typer.Typer(help="Community Notes: rescoring.", no_args_is_help=True)
console = Console()


@notes_app.command("rescore")
def notes_rescore() -> None:
    """Score every rated note now (the hourly job does the same) and print what changed."""
    from agora.social.community_notes.note_rescoring import rescore_now

    async def go() -> tuple[int, int, int]:
        db = configured_database(replica=False)
        try:
            return await rescore_now(db)
        finally:
            await db.dispose()

    ratings, notes, changed = asyncio.run(go())
    console.print(f"{ratings} ratings, {notes} notes scored, {changed} statuses changed")
