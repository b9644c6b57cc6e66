"""The `agora` command: init, serve, worker, user, jobs, demo."""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from agora.cli.ai_commands import ai_app
from agora.cli.domain_block_commands import domain_blocks_app
from agora.cli.emoji_commands import emoji_app
from agora.cli.moderation_commands import USER_COMMANDS, reports_app
from agora.cli.note_commands import notes_app
from agora.cli.operations_commands import backup_command, db_app, media_app, restore_command
from agora.cli.parent_death import SUPERVISOR_PID
from agora.config import get_settings, use_listening_address
from agora.db.engine import Database, configured_database
from agora.db.id_nodes import claim_node
from agora.db.migrate import upgrade
from agora.db.start_wait import once_reachable
from agora.events.process_bus import close_bus
from agora.http.json_logging import uvicorn_log_config
from agora.mail.smtp import NO_MAIL, mail_configured
from agora.metrics import MULTIPROCESS_DIR

app = typer.Typer(
    help="Agora: an open social network with an AI assistant built in.", no_args_is_help=True
)
user_app = typer.Typer(help="Manage people's accounts.", no_args_is_help=True)
jobs_app = typer.Typer(help="Inspect the background job queue.", invoke_without_command=True)
consent_app = typer.Typer(help="People's data-reuse choices.", no_args_is_help=True)
export_app = typer.Typer(help="Consented dataset exports.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(jobs_app, name="jobs")
app.add_typer(consent_app, name="consent")
app.add_typer(export_app, name="export")
app.add_typer(ai_app, name="ai")
app.add_typer(notes_app, name="notes")
app.add_typer(reports_app, name="reports")
app.add_typer(domain_blocks_app, name="domain-blocks")
app.add_typer(emoji_app, name="emoji")
app.add_typer(db_app, name="db")
app.add_typer(media_app, name="media")
app.command("backup")(backup_command)
app.command("restore")(restore_command)
for _name, _command in USER_COMMANDS.items():  # suspend, silence, approve, admin
    user_app.command(_name)(_command)
console = Console()
T = TypeVar("T")
MAX_WEBSOCKET_MESSAGE = 64 * 1024  # what a streaming client may send in one message


def _run(fn: Callable[[Database], Awaitable[T]]) -> T:
    """Open the configured database, run `fn`, close it."""

    async def main() -> T:
        db = configured_database(replica=False)
        try:
            return await fn(db)
        finally:
            await close_bus()  # live events a job announced still reach Redis
            await db.dispose()

    return asyncio.run(main())


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


@app.command()
def init() -> None:
    """Create or upgrade the database schema, the assistant account and the server's VAPID
    key pair (Web Push)."""

    async def prepare(db: Database) -> None:
        await upgrade(db.engine)
        from agora.social.people.assistant_account import ensure_assistant
        from agora.social.reading.push_keys import vapid_keys

        async with db.transaction() as session:
            await ensure_assistant(session)
        await vapid_keys(db)

    async def go(db: Database) -> None:  # PgBouncer restarting as it starts: it waits
        await once_reachable(lambda: prepare(db), "agora init")

    _run(go)
    console.print(f"[green]database ready[/green] at {get_settings().database_url}")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Serve Agora over HTTP (applies migrations first). Without AGORA_BASE_URL it advertises
    http://HOST:PORT."""
    from uvicorn.config import LOGGING_CONFIG

    from agora.cli.worker_sockets import serve as serve_workers

    for name, value in use_listening_address(host, port).items():
        console.print(f"[yellow]{name} not set:[/yellow] {value}")
    init()
    if not mail_configured():
        console.print(f"[yellow]warning:[/yellow] {NO_MAIL}")
    if workers > 1 and not get_settings().redis_url:
        console.print(
            "[yellow]warning:[/yellow] several workers without AGORA_REDIS_URL: a live event "
            "reaches only the streams of the process whose job produced it, and bearer "
            "tokens are looked up on every request"
        )
        # a revoked token or a suspended account must be refused at once by every worker,
        # and only a shared bus tells the others (auth/token_cache.py)
        os.environ["AGORA_TOKEN_CACHE_SECONDS"] = "0"
        get_settings.cache_clear()
    factory = "agora.app:create_app"
    if workers > 1:  # children that exit with this process (cli/parent_death.py)
        os.environ[SUPERVISOR_PID] = str(os.getpid())
        factory = "agora.cli.supervised_app:create_supervised_app"
        # the children's metrics, summed by whichever answers /metrics (agora/metrics.py)
        os.environ.setdefault(MULTIPROCESS_DIR, tempfile.mkdtemp(prefix="agora-metrics-"))
    settings = get_settings()
    json_logs = settings.log_format == "json"
    log_config = uvicorn_log_config(settings.log_level) if json_logs else LOGGING_CONFIG
    options: dict[str, Any] = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": settings.log_level,
        "log_config": log_config,
        "proxy_headers": True,
        "ws_max_size": MAX_WEBSOCKET_MESSAGE,
    }
    serve_workers(factory, options)  # a listening socket per worker (cli/worker_sockets.py)


@app.command()
def worker(concurrency: int = 1) -> None:
    """Run background job workers in this process until interrupted."""
    from agora.job_registry import register_all_jobs
    from agora.jobs.machine_load import OthersBusy
    from agora.jobs.worker import Worker
    from agora.thread_turns import give_threads_their_turn

    register_all_jobs()
    give_threads_their_turn()  # its jobs' SQLite statements and threads (thread_turns.py)

    async def go(db: Database) -> None:
        # this process's ids are disjoint from other processes'; a database restarting as
        # the worker starts is waited for (db/start_wait.py)
        await once_reachable(lambda: claim_node(db.engine), "agora worker")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        settings = get_settings()
        console.print(f"worker running ({concurrency} loop(s)); Ctrl-C to stop")
        busy = OthersBusy()  # background kinds wait while the machine's CPUs are taken
        await asyncio.gather(
            *[
                Worker(db, lease_seconds=settings.job_lease_seconds, busy=busy).run_forever(stop)
                for _ in range(concurrency)
            ]
        )

    _run(go)


@user_app.command("create")
def user_create(
    username: str,
    email: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    admin: bool = False,
) -> None:
    """Create an account that can sign in."""
    from agora.social.people.accounts import create_account
    from agora.social.rules.errors import DomainError

    async def go(db: Database) -> Any:
        async with db.transaction() as session:
            return await create_account(
                session, username=username, email=email, password=password, is_admin=admin
            )

    try:
        account = _run(go)
    except DomainError as exc:
        _fail(exc.message)
    console.print(f"created @{account.username} (id {account.id})")


@user_app.command("list")
def user_list(limit: int = 50) -> None:
    """List accounts, newest first."""
    from agora.db.models import Account, User

    async def go(db: Database) -> list[Any]:
        async with db.session() as session:
            query = (
                select(Account, User.email, User.is_admin)
                .outerjoin(User, User.account_id == Account.id)
                .order_by(Account.id.desc())
                .limit(limit)
            )
            return list((await session.execute(query)).all())

    table = Table("id", "username", "email", "admin", "suspended", "followers", "posts")
    for account, email, is_admin in _run(go):
        table.add_row(
            str(account.id),
            account.username,
            email or "-",
            "yes" if is_admin else "",
            "yes" if account.suspended_at else "",
            str(account.followers_count),
            str(account.statuses_count),
        )
    console.print(table)


@user_app.command("set-password")
def user_set_password(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Replace a person's password."""
    from agora.social.people.accounts import set_password
    from agora.social.rules.errors import DomainError

    async def go(db: Database) -> None:
        async with db.session(write=True) as session:
            await set_password(session, username, password)

    try:
        _run(go)
    except DomainError as exc:
        _fail(exc.message)
    console.print(f"password of @{username} changed")


@user_app.command("alias")
def user_alias(
    username: str,
    uri: str,
    undo: Annotated[bool, typer.Option(help="remove the alias")] = False,
) -> None:
    """Name (or, with --undo, stop naming) an account on another server as this person's
    former identity (`alsoKnownAs`), so it may move here."""
    from agora.social.people.accounts import set_alias
    from agora.social.rules.errors import DomainError

    async def go(db: Database) -> list[str]:
        async with db.session(write=True) as session:
            return await set_alias(session, username, uri, keep=not undo)

    try:
        aliases = _run(go)
    except DomainError as exc:
        _fail(exc.message)
    console.print(f"@{username} is also known as: {', '.join(aliases) or 'nobody else'}")


@user_app.command("reset-password")
def user_reset_password(username: str) -> None:
    """Print a password-reset link for a person (single use, expires after
    AGORA_PASSWORD_RESET_HOURS); using it signs them out everywhere."""
    from agora.auth.password_reset import admin_reset_link
    from agora.social.rules.errors import DomainError

    async def go(db: Database) -> str:
        async with db.session(write=True) as session:
            return await admin_reset_link(session, username)

    try:
        link = _run(go)
    except DomainError as exc:
        _fail(exc.message)
    console.print(f"reset link for @{username.lstrip('@')} (works once):")
    print(link)


@user_app.command("disable-2fa")
def user_disable_2fa(username: str) -> None:
    """Turn two-factor sign-in off for a person who lost their device and recovery codes."""
    from agora.auth.two_factor import admin_disable
    from agora.social.rules.errors import DomainError

    async def go(db: Database) -> bool:
        async with db.session(write=True) as session:
            return await admin_disable(session, username)

    try:
        was_on = _run(go)
    except DomainError as exc:
        _fail(exc.message)
    name = username.lstrip("@")
    console.print(f"two-factor sign-in {'turned off' if was_on else 'was already off'} for @{name}")


@jobs_app.callback()
def jobs(ctx: typer.Context) -> None:
    """Queue state and the most recent dead letters."""
    if ctx.invoked_subcommand is not None:
        return
    from agora.jobs.job_kinds import JobState
    from agora.jobs.queue import dead_jobs, queue_stats

    async def go(db: Database) -> tuple[dict[JobState, int], list[Any]]:
        return await queue_stats(db), await dead_jobs(db)

    stats, dead = _run(go)
    table = Table("state", "jobs")
    for state in JobState:
        table.add_row(state, str(stats.get(state, 0)))
    console.print(table)
    if dead:
        letters = Table("id", "kind", "attempts", "last error", title="dead letters")
        for job in dead:
            letters.add_row(str(job.id), job.kind, str(job.attempts), (job.last_error or "")[:80])
        console.print(letters)


@jobs_app.command("retry")
def jobs_retry(job_id: Annotated[int | None, typer.Argument()] = None) -> None:
    """Re-queue one dead job, or all of them."""
    from agora.jobs.queue import retry_dead

    count = _run(lambda db: retry_dead(db, job_id))
    console.print(f"re-queued {count} job(s)")


@jobs_app.command("run")
def jobs_run() -> None:
    """Run every due job now, then exit."""
    from agora.job_registry import register_all_jobs
    from agora.jobs.worker import Worker

    register_all_jobs()

    count = _run(lambda db: Worker(db).run_until_idle())
    console.print(f"ran {count} job(s)")


@app.command()
def demo(
    users: Annotated[int, typer.Option(min=2, help="demo accounts to create")] = 200,
    posts: Annotated[int, typer.Option(min=0, help="posts to create (boosts included)")] = 5000,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same data set)")] = 0,
) -> None:
    """Seed a realistic demo data set (accounts demo0.. with password "password")."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from agora.demo.seed import DemoError, seed_demo

    columns = (
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )

    async def go(db: Database) -> Any:
        with Progress(*columns, console=console) as progress:
            return await seed_demo(db, users=users, posts=posts, seed=seed, progress=progress)

    try:
        summary = _run(go)
    except DemoError as exc:
        _fail(str(exc))
    console.print(
        f"[green]seeded[/green] {summary.accounts} accounts, {summary.follows} follows, "
        f"{summary.posts} posts, {summary.favourites} likes, {summary.feed_entries} feed "
        f"entries in {summary.seconds:.1f}s; sign in as demo0 / password"
    )


@consent_app.command("show")
def consent_show(username: str) -> None:
    """A person's data-reuse choices (explicit and effective) and their consent log."""
    from agora.data import consent
    from agora.social.people.lookup import find_by_username

    async def go(db: Database) -> Any:
        async with db.session() as session:
            account = await find_by_username(session, username)
            if account is None:
                return None
            return account, await consent.account_log(session, account.id)

    found = _run(go)
    if found is None:
        _fail(f"no account @{username}")
    account, log = found
    table = Table("category", "choice", "applies now", "since", title=f"@{account.username}")
    for category in consent.Category:
        chosen = consent.intent(account, category)
        since = (account.data_reuse or {}).get(category.value, {}).get("updatedAt", "")
        applies = "allow" if consent.allows(account, category) else "deny"
        label = "unset" if chosen is None else ("allow" if chosen else "deny")
        table.add_row(category.value, label, applies, since)
    console.print(table)
    history = Table("log id", "when", "category", "post", "allow", title="consent log")
    for event in log:
        when = event.created_at.isoformat(timespec="seconds")
        history.add_row(
            str(event.id), when, event.category, str(event.post_id or ""), str(event.allow)
        )
    console.print(history)


@export_app.command("dataset")
def export_dataset(
    purpose: Annotated[str, typer.Option(help="genai-text, genai-images, research or archive")],
    out: Annotated[Path, typer.Option(help="an empty directory to write the dataset into")],
    fmt: Annotated[str, typer.Option("--format", help="parquet or jsonl")] = "parquet",
    with_media: Annotated[bool, typer.Option(help="include images (genai-images)")] = False,
) -> None:
    """Export the public posts whose authors allowed PURPOSE, with manifest, dataset card and
    withdrawal list."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from agora.data.export import export_dataset as run_export
    from agora.social.rules.errors import DomainError

    if fmt not in ("parquet", "jsonl"):
        _fail("--format must be parquet or jsonl")
    if with_media:
        _fail(
            "media attachments do not exist on this instance yet; export text without --with-media"
        )

    async def go(db: Database) -> Any:
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console
        ) as bar:
            task = bar.add_task("posts checked: 0", total=None)
            seen = 0

            def advance(count: int) -> None:
                nonlocal seen
                seen += count
                bar.update(task, description=f"posts checked: {seen}")

            return await run_export(db, purpose, out, fmt=fmt, progress=advance)  # type: ignore[arg-type]  # fmt: checked above to be a Format

    try:
        manifest = _run(go)
    except DomainError as exc:
        _fail(exc.message)
    counts = manifest["counts"]
    console.print(
        f"[green]exported[/green] {counts['posts']} posts by {counts['accounts']} people to {out} "
        f"({len(manifest['shards'])} shard(s), {counts['withdrawn']} withdrawn ids, "
        f"{counts['skipped_duplicates']} duplicates dropped)"
    )


@export_app.command("grant")
def export_grant(name: str) -> None:
    """Give a lab read access to the published datasets: an app with the `read:datasets`
    scope and a token for it, printed once."""
    from agora.auth import oauth

    async def go(db: Database) -> Any:
        async with db.session(write=True) as session:
            client = await oauth.register_app(
                session,
                name=name,
                redirect_uris=oauth.OOB,
                scopes="read:datasets",
                website=None,
                trusted=True,
            )
            issued = await oauth.issue_token(session, client, None, ["read:datasets"])
            return client, issued

    client, issued = _run(go)
    console.print(f"client_id     {client.client_id}\nclient_secret {client.client_secret}")
    console.print(f"access_token  {issued.token}  (scope read:datasets)")


if __name__ == "__main__":
    app()
