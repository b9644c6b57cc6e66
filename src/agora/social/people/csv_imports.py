"""Importing Mastodon's CSV files: follows, lists, blocks, mutes, domain blocks, bookmarks.

The formats are Mastodon's (`app/models/form/import.rb`): a file may start with its header
(`Account address,Show boosts,Notify on new posts,Languages`; `Account address,Hide
notifications`; `List name,Account address`; `#domain`; `#uri`), recognised by its first
cell; otherwise the kind's default columns apply (an address first). Limits are Mastodon's:
`MAX_BYTES` (20 MB) and `MAX_ROWS` (20,000 rows); a file over them, not UTF-8, not CSV, empty
or without the kind's columns is refused whole (Invalid). A malformed line (no address, an
address that is not one, a boolean that is not one, a domain or post id that is not one) is
recorded as failed with its reason and skipped; the rest is imported.

`start_import` records the import and one `csv_import_rows` row per line, and writes the
`run_csv_import` job in that transaction. The job (federation/csv_import_runs.py: it
resolves addresses and posts on other servers through WebFinger and ActivityPub, which a
service may not call) applies the rows in batches through the same service functions the
doors call (`relationships.start_follow`, `block`, `mute`, `account_domain_blocks`,
`interactions.set_bookmark`, `lists`), so every rule holds (blocks, visibility, limits,
federation of follows and blocks). "overwrite" does what Mastodon's importer does first
(`begin_run`): follows, blocks, mutes, domain blocks and bookmarks not in the file are
undone, lists not named in it are deleted and the others emptied. A row whose server did not
answer waits (`waiting`) and is tried again later, up to `MAX_TRIES` times, then fails
saying so. Progress (`total`, `processed`, `imported`, `failed`, `waiting`) is updated with
each batch, in the batch's transaction.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.models import (
    Account,
    AccountDomainBlock,
    Block,
    Bookmark,
    CsvImport,
    CsvImportRow,
    Follow,
    ListMember,
    Mute,
    Post,
    utcnow,
)
from agora.ids import new_id
from agora.jobs.job_kinds import JobKind
from agora.jobs.queue import enqueue
from agora.social.people import account_domain_blocks, relationships
from agora.social.people.csv_exports import address
from agora.social.people.domain_blocks import normalise_domain
from agora.social.posts import interactions
from agora.social.posts.post_uris import local_post_ref, post_uri
from agora.social.reading import lists
from agora.social.rules.errors import DomainError, Invalid, NotFound

KINDS = ("following", "blocking", "muting", "domain_blocking", "bookmarks", "lists")
EXPECTED_HEADERS = {
    "following": ("Account address", "Show boosts", "Notify on new posts", "Languages"),
    "blocking": ("Account address",),
    "muting": ("Account address", "Hide notifications"),
    "domain_blocking": ("#domain",),
    "bookmarks": ("#uri",),
    "lists": ("List name", "Account address"),
}
DEFAULT_HEADERS = {
    "following": ("Account address",),
    "blocking": ("Account address",),
    "muting": ("Account address",),
    "domain_blocking": ("#domain",),
    "bookmarks": ("#uri",),
    "lists": ("List name", "Account address"),
}
KNOWN_FIRST_HEADERS = {h[0] for h in EXPECTED_HEADERS.values()}
MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 20_000
MAX_TRIES = 5  # tries of a row whose server does not answer
BATCH = 250
PENDING, RUNNING, WAITING, FINISHED = "pending", "running", "waiting", "finished"
DONE, FAILED = "done", "failed"
_ADDRESS = re.compile(r"^[A-Za-z0-9_.\-]+(@[A-Za-z0-9.\-]+(:\d{1,5})?)?$")
_TRUE = {"true", "t", "1", "yes", "y", "on"}
_FALSE = {"false", "f", "0", "no", "n", "off"}


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """One line of a file: its number, its values, and why it is malformed (None if not)."""

    line: int
    data: dict[str, Any]
    error: str | None


def _parse_bool(value: str | None, default: bool) -> bool:
    """Mastodon's boolean cells: true/false (and the usual spellings); empty is `default`."""
    if value is None or not value.strip():
        return default
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"{value!r} is not true or false")


def normal_address(text: str) -> str:
    """An address as compared here: lower case, without a leading @, and without this
    server's domain (a local account is its username)."""
    found = text.strip().lstrip("@").lower()
    local = "@" + get_settings().domain.lower()
    return found.removesuffix(local)


def _clean(kind: str, cells: dict[str, str | None]) -> dict[str, Any]:
    """A line's values (ValueError with the reason when it is malformed)."""
    data: dict[str, Any] = {}
    if "Account address" in EXPECTED_HEADERS[kind]:
        acct = (cells.get("Account address") or "").strip().lstrip("@")
        if not acct:
            raise ValueError("no account address")
        if not _ADDRESS.match(acct):
            raise ValueError(f"{acct!r} is not an account address")
        data["acct"] = acct
    if kind == "following":
        data["show_reblogs"] = _parse_bool(cells.get("Show boosts"), True)
        data["notify"] = _parse_bool(cells.get("Notify on new posts"), False)
        languages = cells.get("Languages") or ""
        data["languages"] = [x.strip() for x in languages.split(",") if x.strip()] or None
    elif kind == "muting":
        data["hide_notifications"] = _parse_bool(cells.get("Hide notifications"), True)
    elif kind == "domain_blocking":
        try:
            data["domain"] = normalise_domain((cells.get("#domain") or "").strip())
        except Invalid as exc:
            raise ValueError(exc.message) from None
    elif kind == "bookmarks":
        uri = (cells.get("#uri") or "").strip()
        if not re.match(r"^https?://[^\s/]+/\S*$", uri):
            raise ValueError(f"{uri!r} is not a post's address")
        data["uri"] = uri
    elif kind == "lists":
        title = (cells.get("List name") or "").strip()
        if not title or len(title) > 200:
            raise ValueError("no list name, or one over 200 characters")
        data["list_name"] = title
    return data


def parse_csv(kind: str, content: bytes) -> list[ParsedLine]:
    """The lines of a file of `kind` (module docstring); Invalid when the whole file is
    refused."""
    if kind not in KINDS:
        raise Invalid(f"Validation failed: unknown import type (one of {', '.join(KINDS)})")
    if len(content) > MAX_BYTES:
        raise Invalid("Validation failed: the file is over 20 MB")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("Validation failed: the file is not UTF-8 text") from None
    if "\0" in text:
        raise Invalid("Validation failed: this is not a CSV file")
    try:
        records = [(n, r) for n, r in enumerate(csv.reader(io.StringIO(text), strict=True), 1)]
    except csv.Error as exc:
        raise Invalid(f"Validation failed: this is not a CSV file ({exc})") from None
    records = [(n, r) for n, r in records if any(cell.strip() for cell in r)]
    if not records:
        raise Invalid("Validation failed: the file is empty")
    first = records[0][1]
    if first[0].strip() in KNOWN_FIRST_HEADERS:
        headers = tuple(cell.strip() for cell in first)
        records = records[1:]
    else:
        headers = DEFAULT_HEADERS[kind]
    if not all(h in headers for h in DEFAULT_HEADERS[kind]):
        raise Invalid("Validation failed: this file is not of the chosen type (its columns differ)")
    if len(records) > MAX_ROWS:
        raise Invalid(f"Validation failed: more than {MAX_ROWS} rows")
    parsed = []
    for number, record in records:
        cells = {h: (record[i] if i < len(record) else None) for i, h in enumerate(headers)}
        try:
            parsed.append(ParsedLine(number, _clean(kind, cells), None))
        except ValueError as exc:
            parsed.append(ParsedLine(number, {"cells": record[:4]}, f"line {number}: {exc}"))
    return parsed


async def start_import(
    session: AsyncSession,
    account: Account,
    kind: str,
    content: bytes,
    *,
    overwrite: bool = False,
    file_name: str = "",
) -> CsvImport:
    """Record an import of a file (Invalid when it is refused whole) with its lines, the
    malformed ones failed already, and write its job. Commits."""
    parsed = parse_csv(kind, content)
    now = utcnow()
    failed = sum(1 for p in parsed if p.error)
    row = CsvImport(
        id=new_id(),
        account_id=account.id,
        kind=kind,
        overwrite=overwrite,
        file_name=file_name[:200],
        state=PENDING,
        total=len(parsed),
        processed=failed,
        imported=0,
        failed=failed,
        waiting=0,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    values = [
        {
            "id": new_id(),
            "import_id": row.id,
            "line": p.line,
            "data": p.data,
            "state": FAILED if p.error else PENDING,
            "tries": 0,
            "error": p.error,
        }
        for p in parsed
    ]
    for start in range(0, len(values), 1000):
        await session.execute(insert(CsvImportRow), values[start : start + 1000])
    enqueue(session, JobKind.RUN_CSV_IMPORT, {"import_id": row.id})
    await session.commit()
    return row


async def imports_of(session: AsyncSession, account_id: int, limit: int = 20) -> list[CsvImport]:
    """The person's latest imports, newest first."""
    rows = await session.scalars(
        select(CsvImport)
        .where(CsvImport.account_id == account_id)
        .order_by(CsvImport.id.desc())
        .limit(limit)
    )
    return list(rows.all())


async def get_import(session: AsyncSession, account_id: int, import_id: int) -> CsvImport:
    """One of the caller's imports; NotFound for anyone else's."""
    found = await session.get(CsvImport, import_id)
    if found is None or found.account_id != account_id:
        raise NotFound()
    return found


async def problems(session: AsyncSession, import_id: int, limit: int = 100) -> list[CsvImportRow]:
    """The import's failed and waiting rows, in file order (what the person is told)."""
    rows = await session.scalars(
        select(CsvImportRow)
        .where(CsvImportRow.import_id == import_id, CsvImportRow.state.in_((FAILED, WAITING)))
        .order_by(CsvImportRow.line)
        .limit(limit)
    )
    return list(rows.all())


# The job's steps (federation/csv_import_runs.py calls them in turn).


async def begin_run(session: AsyncSession, import_id: int) -> CsvImport | None:
    """Start (or resume) an import: the first time, "overwrite" undoes what the file does
    not name; None when the import is finished or gone. Commits."""
    found = await session.get(CsvImport, import_id)
    if found is None or found.state == FINISHED:
        return None
    if found.state == PENDING:
        owner = await session.get(Account, found.account_id)
        if owner is None:
            return None
        if found.overwrite:
            await _overwrite(session, found, owner)
            found = await session.get(CsvImport, import_id)
            if found is None:
                return None
    found.state = RUNNING
    await session.execute(  # rows that waited for their servers are tried again
        update(CsvImportRow)
        .where(CsvImportRow.import_id == import_id, CsvImportRow.state == WAITING)
        .values(state=PENDING)
    )
    await session.commit()
    return found


async def _named(session: AsyncSession, import_id: int, key: str) -> set[str]:
    rows: Iterable[dict[str, Any]] = await session.scalars(
        select(CsvImportRow.data).where(
            CsvImportRow.import_id == import_id, CsvImportRow.state != FAILED
        )
    )
    values = {str(d.get(key, "")) for d in rows}
    return {normal_address(v) for v in values} if key == "acct" else values


async def _others(session: AsyncSession, model: Any, owner_id: int, keep: set[str]) -> list[int]:
    """Ids of the accounts the owner follows / blocks / mutes whose address is not kept."""
    rows = await session.execute(
        select(Account)
        .join(model, model.target_account_id == Account.id)
        .where(model.account_id == owner_id)
    )
    return [a.id for (a,) in rows if normal_address(address(a)) not in keep]


async def _overwrite(session: AsyncSession, imp: CsvImport, owner: Account) -> None:
    owner_id, kind, import_id = owner.id, imp.kind, imp.id
    if kind in ("following", "blocking", "muting"):
        keep = await _named(session, import_id, "acct")
        model = {"following": Follow, "blocking": Block, "muting": Mute}[kind]
        for target_id in await _others(session, model, owner_id, keep):
            owner = await _owner(session, owner_id)
            if kind == "following":
                target = await session.get(Account, target_id)
                if target is not None:
                    await relationships.stop_following(session, owner, target)
            elif kind == "blocking":
                await relationships.unblock(session, owner, target_id)
            else:
                await relationships.unmute(session, owner, target_id)
    elif kind == "domain_blocking":
        keep = await _named(session, import_id, "domain")
        domains = await session.scalars(
            select(AccountDomainBlock.domain).where(AccountDomainBlock.account_id == owner_id)
        )
        for domain in [d for d in domains.all() if d not in keep]:
            await account_domain_blocks.unblock_domain(
                session, await _owner(session, owner_id), domain
            )
    elif kind == "bookmarks":
        keep = await _named(session, import_id, "uri")
        rows = await session.execute(
            select(Bookmark.id, Post.id, Post.uri, Account)
            .join(Post, Post.id == Bookmark.post_id)
            .join(Account, Account.id == Post.account_id)
            .where(Bookmark.account_id == owner_id)
        )
        gone = [
            b for b, pid, uri, author in rows if post_uri(pid, uri, author.username) not in keep
        ]
        if gone:
            await session.execute(delete(Bookmark).where(Bookmark.id.in_(gone)))
    elif kind == "lists":
        keep = await _named(session, import_id, "list_name")
        for found in await lists.owned_lists(session, owner_id):
            if found.title not in keep:
                await lists.delete_list(session, owner_id, found.id)
            else:
                await session.execute(delete(ListMember).where(ListMember.list_id == found.id))


async def _owner(session: AsyncSession, owner_id: int) -> Account:
    owner = await session.get(Account, owner_id)
    if owner is None:
        raise NotFound()
    return owner


async def pending_rows(session: AsyncSession, import_id: int) -> list[CsvImportRow]:
    """The next `BATCH` rows still to apply, in file order."""
    rows = await session.scalars(
        select(CsvImportRow)
        .where(CsvImportRow.import_id == import_id, CsvImportRow.state == PENDING)
        .order_by(CsvImportRow.line)
        .limit(BATCH)
    )
    return list(rows.all())


async def accounts_by_address(session: AsyncSession, accts: Iterable[str]) -> dict[str, Account]:
    """{normal address: stored account} for the addresses known here."""
    wanted = {normal_address(a) for a in accts}
    if not wanted:
        return {}
    rows = await session.scalars(select(Account).where(Account.username_lower.in_(wanted)))
    return {a.username_lower: a for a in rows}


async def posts_by_uri(session: AsyncSession, uris: Iterable[str]) -> dict[str, int]:
    """{uri: post id} for the posts known here (local ones by their id in the uri)."""
    found: dict[str, int] = {}
    remote = set()
    for uri in uris:
        local = local_post_ref(uri)
        if local is not None:
            found[uri] = local[1]
        else:
            remote.add(uri)
    if remote:
        rows = await session.execute(select(Post.uri, Post.id).where(Post.uri.in_(remote)))
        found.update({uri: post_id for uri, post_id in rows if uri})
    return found


async def to_resolve(session: AsyncSession, imp: CsvImport, rows: list[CsvImportRow]) -> list[str]:
    """What the job must look up on other servers before applying `rows`: the remote
    addresses not stored here, or (bookmarks) the remote posts not stored here."""
    if imp.kind == "domain_blocking":
        return []
    if imp.kind == "bookmarks":
        uris = {r.data["uri"] for r in rows}
        return sorted(uris - set(await posts_by_uri(session, uris)))
    accts = {normal_address(r.data["acct"]) for r in rows}
    known = await accounts_by_address(session, accts)
    return sorted(a for a in accts if "@" in a and a not in known)


@dataclass(frozen=True, slots=True)
class Lookups:
    """What the job learnt of other servers: addresses (or post ids) whose server did not
    answer, and those that do not exist there, each with the reason."""

    unreachable: dict[str, str]
    missing: dict[str, str]


async def apply_rows(
    session: AsyncSession, import_id: int, row_ids: list[int], lookups: Lookups
) -> None:
    """Apply a batch of rows through the services, then record each row's outcome and the
    progress, in one transaction (each row in a savepoint of its own). Commits."""
    imp = await session.get(CsvImport, import_id)
    if imp is None or imp.state == FINISHED:
        return
    kind, owner_id = imp.kind, imp.account_id
    rows = [
        (r.id, r.line, dict(r.data), r.tries)
        for r in await session.scalars(
            select(CsvImportRow).where(CsvImportRow.id.in_(row_ids), CsvImportRow.state == PENDING)
        )
    ]
    outcomes: dict[int, tuple[str, str | None]] = {}
    posts: dict[str, int] = {}
    targets: dict[str, Account] = {}
    if kind == "bookmarks":
        posts = await posts_by_uri(session, [d["uri"] for _, _, d, _ in rows])
    elif kind != "domain_blocking":
        targets = await accounts_by_address(session, [d["acct"] for _, _, d, _ in rows])
        for loaded in targets.values():  # read only: an UPDATE of accounts then has no
            session.expunge(loaded)  # hundreds of loaded rows to synchronise
    following: list[tuple[int, int, relationships.FollowWish]] = []
    for row_id, line, data, tries in rows:
        key = data.get("uri") if kind == "bookmarks" else data.get("acct")
        key = normal_address(key) if key and kind != "bookmarks" else key
        if key in lookups.unreachable:
            if tries + 1 >= MAX_TRIES:
                outcomes[row_id] = (
                    FAILED,
                    f"line {line}: its server did not answer after {MAX_TRIES} tries "
                    f"({lookups.unreachable[key]})",
                )
            else:
                outcomes[row_id] = (
                    WAITING,
                    f"line {line}: waiting for its server ({lookups.unreachable[key]})",
                )
            continue
        target = targets.get(key or "")
        if kind == "following" and target is not None and target.suspended_at is None:
            wish = relationships.FollowWish(
                target, data.get("show_reblogs", True), data.get("notify", False)
            )
            following.append((row_id, line, wish))  # all at once, below
            continue
        try:
            async with session.begin_nested():  # a refused row leaves nothing behind
                post_id = posts.get(data.get("uri", ""))
                kept = await _apply_row(session, kind, owner_id, data, post_id, target)
            outcomes[row_id] = (FAILED, f"line {line}: {kept}") if kept else (DONE, None)
        except DomainError as exc:
            why = lookups.missing.get(key or "") or _reason(exc)
            outcomes[row_id] = (FAILED, f"line {line}: {why}")
    if following:  # the batch's follows at once: its rules kept, far fewer statements
        owner = await _owner(session, owner_id)
        refused = await relationships.start_follows(session, owner, [w for _, _, w in following])
        for row_id, line, wish in following:
            no = refused.get(wish.target.id)
            outcomes[row_id] = (FAILED, f"line {line}: {_reason(no)}") if no else (DONE, None)
    await _record(session, import_id, outcomes)
    await session.commit()


async def _apply_row(
    session: AsyncSession,
    kind: str,
    owner_id: int,
    data: dict[str, Any],
    post_id: int | None,
    target: Account | None,
) -> str | None:
    """One row through the services, in the caller's savepoint (a DomainError rolls it back);
    a reason when the row failed but what it did stays (a list's follow waiting for its
    answer), else None."""
    owner = await _owner(session, owner_id)
    if kind == "domain_blocking":
        await account_domain_blocks.block_domain(session, owner, data["domain"])
        return None
    if kind == "bookmarks":
        if post_id is None:
            raise NotFound()
        await interactions.set_bookmark(session, owner, post_id, True)
        return None
    if target is None or target.suspended_at is not None:
        raise NotFound()
    if kind == "blocking":
        await relationships.block(session, owner, target.id)
    elif kind == "muting":
        await relationships.mute(
            session, owner, target.id, notifications=data.get("hide_notifications", True)
        )
    elif kind == "lists":
        return await _add_to_list(session, owner, target, data["list_name"])
    return None


def _reason(exc: DomainError) -> str:
    if isinstance(exc, NotFound):
        return "not found"
    return str(getattr(exc, "message", "") or exc).removeprefix("Validation failed: ")


async def _add_to_list(
    session: AsyncSession, owner: Account, target: Account, title: str
) -> str | None:
    """Mastodon's list row: the list is found or made, the account followed if it is not,
    then put on the list. A follow still waiting for its answer cannot be: the reason is
    returned and the follow request stays."""
    owner_id = owner.id
    found = next((x for x in await lists.owned_lists(session, owner_id) if x.title == title), None)
    if found is None:
        found = await lists.create_list(session, owner, title)
    list_id = found.id
    following = await session.scalar(
        select(Follow.id).where(
            Follow.account_id == owner_id, Follow.target_account_id == target.id
        )
    )
    if following is None:
        await relationships.start_follow(session, await _owner(session, owner_id), target)
    try:
        await lists.add_members(session, owner_id, list_id, [target.id])
    except Invalid:  # on the list already (add_members rolled back its own part)
        pass
    except NotFound:
        return "the follow request is still waiting for an answer"
    return None


async def _record(
    session: AsyncSession, import_id: int, outcomes: dict[int, tuple[str, str | None]]
) -> None:
    """Each row's outcome (one UPDATE per distinct outcome: the rows done are one), then the
    import's counts."""
    same: dict[tuple[str, str | None], list[int]] = {}
    for row_id, outcome in outcomes.items():
        same.setdefault(outcome, []).append(row_id)
    for (state, error), row_ids in same.items():
        values: dict[str, Any] = {"state": state, "error": error}
        if state == WAITING:
            values["tries"] = CsvImportRow.tries + 1
        await session.execute(
            update(CsvImportRow).where(CsvImportRow.id.in_(row_ids)).values(values)
        )
    await refresh_counts(session, import_id)


async def refresh_counts(session: AsyncSession, import_id: int) -> None:
    """The import's counts, from its rows."""
    counts = dict(
        (
            await session.execute(
                select(CsvImportRow.state, func.count())
                .where(CsvImportRow.import_id == import_id)
                .group_by(CsvImportRow.state)
            )
        ).all()
    )
    done, failed, waiting = counts.get(DONE, 0), counts.get(FAILED, 0), counts.get(WAITING, 0)
    await session.execute(
        update(CsvImport)
        .where(CsvImport.id == import_id)
        .values(processed=done + failed, imported=done, failed=failed, waiting=waiting)
    )


async def retry_waiting(session: AsyncSession, import_id: int) -> float | None:
    """After a pass: the delay before the next (None: no row waits for its server), the
    import marked waiting. Commits."""
    tries = await session.scalar(
        select(func.max(CsvImportRow.tries)).where(
            CsvImportRow.import_id == import_id, CsvImportRow.state == WAITING
        )
    )
    if tries is None:
        return None
    await session.execute(update(CsvImport).where(CsvImport.id == import_id).values(state=WAITING))
    await session.commit()
    return float(min(3600.0, 60.0 * 2.0 ** (int(tries) - 1)))


async def finish_import(session: AsyncSession, import_id: int) -> None:
    """The job's last step: the import is finished."""
    found = await session.get(CsvImport, import_id)
    if found is not None and found.state != FINISHED:
        await refresh_counts(session, import_id)
        found.state, found.finished_at = FINISHED, utcnow()


async def remove_imports_of(session: AsyncSession, account_id: int) -> None:
    """Every import of an account and its rows (account deletion)."""
    ids = select(CsvImport.id).where(CsvImport.account_id == account_id)
    await session.execute(delete(CsvImportRow).where(CsvImportRow.import_id.in_(ids)))
    await session.execute(delete(CsvImport).where(CsvImport.account_id == account_id))
