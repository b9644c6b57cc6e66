"""`agora ai ...`: what the assistant costs and how it is told to behave (for admins)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agora.db.engine import configured_database

ai_app = typer.Typer(help="The assistant: usage and system prompt.", no_args_is_help=True)
console = Console()


@ai_app.command("usage")
def ai_usage(
    days: Annotated[int, typer.Option(min=1, help="look back this many days")] = 1,
) -> None:
    """Model calls and tokens per action and model over the last DAYS days."""
    from agora.ai.usage import usage_summary

    async def go() -> Any:
        db = configured_database(replica=False)
        try:
            async with db.session() as session:
                return await usage_summary(session, days)
        finally:
            await db.dispose()

    table = Table("action", "model", "calls", "prompt tokens", "completion tokens")
    for action, model, calls, prompt, completion in asyncio.run(go()):
        table.add_row(action, model, str(calls), str(prompt), str(completion))
    console.print(table)


@ai_app.command("prompt")
def ai_prompt() -> None:
    """The system prompt every assistant call starts with (AGORA_AI_SYSTEM_PROMPT)."""
    from agora.ai.prompts import system_prompt

    console.print(system_prompt(), markup=False)
