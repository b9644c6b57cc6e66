"""`agora domain-blocks add / list / remove`: this server's blocks of other servers, through
social/people/domain_blocks.py like the admin API (logged there, with no admin named)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from agora.cli.moderation_commands import console, in_write_session

domain_blocks_app = typer.Typer(
    help="Block other servers (suspend, silence, reject media or reports).", no_args_is_help=True
)


@domain_blocks_app.command("add")
def domain_blocks_add(
    domain: str,
    severity: Annotated[str, typer.Option(help="suspend, silence or noop")] = "silence",
    reject_media: Annotated[bool, typer.Option(help="do not fetch its media")] = False,
    reject_reports: Annotated[bool, typer.Option(help="drop its reports")] = False,
    public_comment: Annotated[str, typer.Option(help="shown in the public list")] = "",
    private_comment: Annotated[str, typer.Option(help="for the admins only")] = "",
    obfuscate: Annotated[bool, typer.Option(help="obfuscate the name in the public list")] = False,
) -> None:
    """Block a server (and its subdomains)."""
    from agora.social.people.domain_blocks import DomainBlockInput, create_block

    given = DomainBlockInput(
        domain=domain,
        severity=severity,
        reject_media=reject_media,
        reject_reports=reject_reports,
        public_comment=public_comment,
        private_comment=private_comment,
        obfuscate=obfuscate,
    )
    block = in_write_session(lambda session: create_block(session, given, by=None))
    console.print(f"{block.domain} blocked ({block.severity})")


@domain_blocks_app.command("list")
def domain_blocks_list() -> None:
    """Every blocked server."""
    from agora.social.people.domain_blocks import all_blocks

    found = in_write_session(all_blocks)
    table = Table("domain", "severity", "media", "reports", "since", "public", "private")
    for b in found:
        table.add_row(
            b.domain,
            b.severity,
            "rejected" if b.reject_media else "",
            "rejected" if b.reject_reports else "",
            b.created_at.isoformat(timespec="minutes"),
            b.public_comment[:40],
            b.private_comment[:40],
        )
    console.print(table)


@domain_blocks_app.command("remove")
def domain_blocks_remove(domain: str) -> None:
    """Lift the block of a server: what it did to the server's accounts is undone."""
    from agora.social.people.domain_blocks import find_block, remove_block

    async def go(session: Any) -> None:
        block = await find_block(session, domain)
        await remove_block(session, block.id, by=None)

    in_write_session(go)
    console.print(f"{domain} is no longer blocked")
