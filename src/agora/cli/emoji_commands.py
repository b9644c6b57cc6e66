"""`agora emoji add / list / remove / disable / enable`: the server's custom emoji, through
social/media/custom_emojis.py like the admin console (logged there, with no admin named)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from agora.cli.moderation_commands import console, in_write_session

emoji_app = typer.Typer(help="Custom emoji (:shortcode:).", no_args_is_help=True)


@emoji_app.command("add")
def emoji_add(
    shortcode: str,
    file: Path,
    category: Annotated[str, typer.Option(help="the picker's category")] = "",
) -> None:
    """Add a custom emoji from an image file (PNG, GIF or WebP, at most 256 KB)."""
    from agora.social.media.custom_emojis import add_emoji

    try:
        data = file.read_bytes()
    except OSError as exc:
        console.print(f"[red]error:[/red] cannot read {file}: {exc.strerror}")
        raise typer.Exit(1) from None

    async def go(session: Any) -> Any:
        return await add_emoji(session, shortcode, data, category=category or None)

    emoji = in_write_session(go)
    console.print(f":{emoji.shortcode}: added")


@emoji_app.command("list")
def emoji_list() -> None:
    """Every local custom emoji, disabled ones too."""
    from agora.social.media.custom_emojis import local_emojis

    table = Table("shortcode", "category", "state", "type", "added")
    for e in in_write_session(local_emojis):
        table.add_row(
            f":{e.shortcode}:",
            e.category or "",
            "disabled" if e.disabled else "enabled",
            e.content_type,
            e.created_at.isoformat(timespec="minutes"),
        )
    console.print(table)


@emoji_app.command("remove")
def emoji_remove(shortcode: str) -> None:
    """Remove a custom emoji (gone from every post and profile that used it)."""
    from agora.social.media.custom_emojis import remove_emoji

    in_write_session(lambda session: remove_emoji(session, shortcode.strip(":")))
    console.print(f":{shortcode.strip(':')}: removed")


@emoji_app.command("disable")
def emoji_disable(
    shortcode: str, undo: Annotated[bool, typer.Option(help="enable it again")] = False
) -> None:
    """Disable a custom emoji (or enable it again with --undo)."""
    from agora.social.media.custom_emojis import set_disabled

    in_write_session(lambda session: set_disabled(session, shortcode.strip(":"), not undo))
    console.print(f":{shortcode.strip(':')}: {'enabled' if undo else 'disabled'}")
