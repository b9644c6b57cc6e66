"""A person's follows, lists, blocks, mutes, domain blocks and bookmarks as CSV files, in
Mastodon's own formats (`app/models/export.rb`), so that Mastodon (and Agora's
csv_imports.py) imports them unchanged:

- `following_accounts.csv`: header `Account address,Show boosts,Notify on new posts,Languages`
  (Agora keeps no per-follow languages: that column is empty), newest follow first;
- `lists.csv`: no header, `list title,account address`;
- `blocked_accounts.csv`: no header, one address a line;
- `muted_accounts.csv`: header `Account address,Hide notifications`, newest first;
- `blocked_domains.csv`: no header, one domain a line;
- `bookmarks.csv`: no header, the ActivityPub id of each bookmarked post, newest first.

An address is `user@domain`, this server's domain for local accounts. Files are produced
line by line from keyset-paged queries (`csv_lines`), never whole in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.engine import Database
from agora.db.models import (
    Account,
    AccountDomainBlock,
    Block,
    Bookmark,
    Follow,
    ListMember,
    Mute,
    Post,
    UserList,
)
from agora.social.posts.post_uris import post_uri

PAGE = 1000
AnySelect = Select[*tuple[Any, ...]]
FOLLOWS_HEADER = ("Account address", "Show boosts", "Notify on new posts", "Languages")
MUTES_HEADER = ("Account address", "Hide notifications")


def address(account: Account) -> str:
    """An account's address as Mastodon's export writes it: `user@domain`, this server's
    domain for local accounts."""
    return f"{account.username}@{account.domain or get_settings().domain}"


def _line(*cells: Any) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow(
        [
            "true" if c is True else "false" if c is False else ("" if c is None else c)
            for c in cells
        ]
    )
    return text.getvalue()


# name -> (the query of (sort key, values...) rows, what each row becomes, header)
Row = tuple[Any, ...]


def _follows(account_id: int) -> AnySelect:
    return (
        select(Follow.id, Account, Follow.show_reblogs, Follow.notify)
        .join(Account, Account.id == Follow.target_account_id)
        .where(Follow.account_id == account_id)
        .order_by(Follow.id.desc())
    )


def _mutes(account_id: int) -> AnySelect:
    return (
        select(Mute.id, Account, Mute.hide_notifications)
        .join(Account, Account.id == Mute.target_account_id)
        .where(Mute.account_id == account_id)
        .order_by(Mute.id.desc())
    )


def _blocks(account_id: int) -> AnySelect:
    return (
        select(Block.id, Account)
        .join(Account, Account.id == Block.target_account_id)
        .where(Block.account_id == account_id)
        .order_by(Block.id.desc())
    )


def _domains(account_id: int) -> AnySelect:
    return (
        select(AccountDomainBlock.id, AccountDomainBlock.domain)
        .where(AccountDomainBlock.account_id == account_id)
        .order_by(AccountDomainBlock.id.desc())
    )


def _bookmarks(account_id: int) -> AnySelect:
    return (
        select(Bookmark.id, Post.id, Post.uri, Account)
        .join(Post, Post.id == Bookmark.post_id)
        .join(Account, Account.id == Post.account_id)
        .where(Bookmark.account_id == account_id, Post.deleted_at.is_(None))
        .order_by(Bookmark.id.desc())
    )


def _lists(account_id: int) -> AnySelect:
    return (
        select(UserList.id, UserList.title, Account)
        .join(ListMember, ListMember.list_id == UserList.id)
        .join(Account, Account.id == ListMember.account_id)
        .where(UserList.account_id == account_id)
        .order_by(UserList.id, Account.id)
    )


EXPORTS: dict[str, tuple[Callable[[int], AnySelect], Callable[[Row], str], tuple[str, ...]]] = {
    "following_accounts.csv": (
        _follows,
        lambda r: _line(address(r[1]), r[2], r[3], None),
        FOLLOWS_HEADER,
    ),
    "lists.csv": (_lists, lambda r: _line(r[1], address(r[2])), ()),
    "blocked_accounts.csv": (_blocks, lambda r: _line(address(r[1])), ()),
    "muted_accounts.csv": (_mutes, lambda r: _line(address(r[1]), r[2]), MUTES_HEADER),
    "blocked_domains.csv": (_domains, lambda r: _line(r[1]), ()),
    "bookmarks.csv": (_bookmarks, lambda r: _line(post_uri(r[1], r[2], r[3].username)), ()),
}


async def csv_lines(session: AsyncSession, account_id: int, name: str) -> AsyncIterator[str]:
    """The lines of one export file (a name of `EXPORTS`) of the person, header first."""
    query, render, header = EXPORTS[name]
    if header:
        yield _line(*header)
    if name == "lists.csv":  # bounded: at most limits.LISTS lists of followed accounts
        for row in (await session.execute(query(account_id))).all():
            yield render(tuple(row))
        return
    sort_key = query(account_id).selected_columns[0]
    before: Any = None
    while True:
        page = query(account_id).limit(PAGE)
        if before is not None:
            page = page.where(sort_key < before)
        rows = (await session.execute(page)).all()
        for row in rows:
            yield render(tuple(row))
        if len(rows) < PAGE:
            return
        before = rows[-1][0]


async def stream_csv(db: Database, account_id: int, name: str) -> AsyncIterator[str]:
    """`csv_lines` in a read session of its own (a response streamed after the request's
    session has closed)."""
    async with db.session() as session:
        async for line in csv_lines(session, account_id, name):
            yield line
