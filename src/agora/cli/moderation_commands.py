"""`agora reports ...` and the moderation commands of `agora user` (suspend, silence, approve,
admin).

agora.cli.main registers `reports_app` and `USER_COMMANDS`; every action goes through
social/people/moderation.py and social/people/reports.py, like the admin API, and is logged
there."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agora.db.engine import configured_database

reports_app = typer.Typer(help="Reports people filed, and what was done.", no_args_is_help=True)
console = Console()


def in_write_session(fn: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run `fn(session)` in a write session; print a domain error and exit 1 on failure."""
    from agora.social.rules.errors import DomainError

    async def go() -> Any:
        db = configured_database(replica=False)
        try:
            async with db.session(write=True) as session:
                return await fn(session)
        finally:
            await db.dispose()

    try:
        return asyncio.run(go())
    except DomainError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None


async def _target_id(session: Any, username: str) -> int:
    from agora.social.people.moderation import member_by_username

    return (await member_by_username(session, username)).account.id


def user_suspend(username: str, undo: bool = False, reason: str = "") -> None:
    """Suspend an account (or lift the suspension with --undo): its posts disappear and it
    cannot sign in."""
    from agora.social.people import moderation

    async def go(session: Any) -> None:
        target = await _target_id(session, username)
        if undo:
            await moderation.lift(session, target, "unsuspend", by=None)
        else:
            await moderation.take_action(session, target, "suspend", by=None, text=reason)

    in_write_session(go)
    console.print(f"@{username} {'unsuspended' if undo else 'suspended'}")


def user_silence(username: str, undo: bool = False, reason: str = "") -> None:
    """Silence an account (or lift it with --undo): its posts reach only its followers."""
    from agora.social.people import moderation

    async def go(session: Any) -> None:
        target = await _target_id(session, username)
        if undo:
            await moderation.lift(session, target, "unsilence", by=None)
        else:
            await moderation.take_action(session, target, "silence", by=None, text=reason)

    in_write_session(go)
    console.print(f"@{username} {'unsilenced' if undo else 'silenced'}")


def user_approve(username: str) -> None:
    """Approve an account waiting for approval (AGORA_REGISTRATIONS=approval)."""
    from agora.social.people import moderation

    async def go(session: Any) -> None:
        await moderation.approve(session, await _target_id(session, username), by=None)

    in_write_session(go)
    console.print(f"@{username} approved")


def user_admin(username: str, undo: bool = False) -> None:
    """Give a person the admin role (or take it away with --undo)."""
    from agora.social.people.moderation import set_admin

    in_write_session(lambda session: set_admin(session, username, not undo))
    console.print(f"@{username} {'is no longer' if undo else 'is now'} an admin")


@reports_app.command("list")
def reports_list(
    resolved: Annotated[bool, typer.Option(help="resolved reports instead of open ones")] = False,
    limit: int = 50,
) -> None:
    """Reports, newest first (open ones unless --resolved)."""
    from agora.social.people.moderation import load_members
    from agora.social.people.reports import ReportFilter, list_reports
    from agora.social.rules.paging import Page

    async def go(session: Any) -> tuple[list[Any], dict[int, Any]]:
        found = (
            await list_reports(session, ReportFilter(resolved=resolved), Page(limit=limit))
        ).items
        people = [i for r in found for i in (r.account_id, r.target_account_id)]
        return found, await load_members(session, people)

    found, members = in_write_session(go)
    table = Table("id", "filed", "by", "about", "category", "posts", "comment", "resolved")
    for r in found:
        table.add_row(
            str(r.id),
            r.created_at.isoformat(timespec="minutes"),
            _acct(members[r.account_id].account),
            _acct(members[r.target_account_id].account),
            r.category,
            str(len(r.status_ids)),
            r.comment[:60],
            r.action_taken_at.isoformat(timespec="minutes") if r.action_taken_at else "",
        )
    console.print(table)


USER_COMMANDS: dict[str, Callable[..., None]] = {
    "suspend": user_suspend,
    "silence": user_silence,
    "approve": user_approve,
    "admin": user_admin,
}


def _acct(account: Any) -> str:
    """@name, or @name@domain for an account of another server (a remote reporter)."""
    return f"@{account.username}" + (f"@{account.domain}" if account.domain else "")


def _change_report(report_id: int, change: str) -> None:
    from agora.social.people.reports import update_report

    in_write_session(lambda session: update_report(session, report_id, change, None))


@reports_app.command("resolve")
def reports_resolve(report_id: int) -> None:
    """Mark a report resolved (without acting on the account; see `agora user suspend`)."""
    _change_report(report_id, "resolve")
    console.print(f"report {report_id} resolved")


@reports_app.command("reopen")
def reports_reopen(report_id: int) -> None:
    """Open a resolved report again."""
    _change_report(report_id, "reopen")
    console.print(f"report {report_id} reopened")
