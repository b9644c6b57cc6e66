"""Lists: named sets of followed accounts, each with its own timeline (see
list_timeline.list_timeline), as Mastodon defines them.

- Only accounts the owner follows can be added; a membership hangs on the follow (ON DELETE
  CASCADE), so an unfollow or a block takes the account off the owner's lists.
- `replies_policy` says which replies of members to someone else the list shows: `followed`
  (replies to anyone the owner follows), `list` (replies to other members) or `none`.
  Replies to the owner and self-replies are always shown (Mastodon's `filter_from_list?`).
- An `exclusive` list keeps its members' posts out of the owner's home timeline
  (`hidden_by_exclusive_lists`, used by timelines.home_timeline).
- Someone else's list does not exist (NotFound).

None of the writing functions commits: the caller owns the transaction (the API and web doors
commit once after the call; a CSV import's batch commits with its rows' outcomes).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from agora.db.models import Account, Follow, ListMember, Post, UserList, Visibility, utcnow
from agora.db.upsert import affected_rows, insert_ignore
from agora.ids import new_id
from agora.social.people.lookup import get_account
from agora.social.rules.errors import Invalid, NotFound
from agora.social.rules.limits import LISTS, enforce
from agora.social.rules.paging import Page, apply_page, finish
from agora.social.rules.visibility import Viewer

REPLIES_POLICIES = ("followed", "list", "none")
MAX_TITLE = 200


def _title(value: str | None) -> str:
    title = (value or "").strip()
    if not title:
        raise Invalid("Validation failed: Title can't be blank")
    if len(title) > MAX_TITLE:
        raise Invalid(f"Validation failed: Title is too long (maximum is {MAX_TITLE} characters)")
    return title


def _policy(value: str | None) -> str:
    if value not in REPLIES_POLICIES:
        raise Invalid("Validation failed: Replies policy is not included in the list")
    return value


async def create_list(
    session: AsyncSession,
    owner: Account,
    title: str | None,
    replies_policy: str | None = None,
    exclusive: bool = False,
) -> UserList:
    """A new list (at most `limits.LISTS` per account, also when requests race). In the
    caller's transaction."""
    row = UserList(
        id=new_id(),
        account_id=owner.id,
        title=_title(title),
        replies_policy=_policy(replies_policy or "list"),
        exclusive=bool(exclusive),
        created_at=utcnow(),
    )
    await enforce(session, LISTS, owner.id)
    session.add(row)
    return row


async def get_own_list(session: AsyncSession, owner_id: int, list_id: int) -> UserList:
    """One of the owner's lists; NotFound for anyone else's."""
    found = await session.scalar(
        select(UserList).where(UserList.id == list_id, UserList.account_id == owner_id)
    )
    if found is None:
        raise NotFound()
    return found


async def owned_lists(session: AsyncSession, owner_id: int) -> list[UserList]:
    """The owner's lists, oldest first."""
    rows = await session.scalars(
        select(UserList).where(UserList.account_id == owner_id).order_by(UserList.id)
    )
    return list(rows.all())


async def update_list(
    session: AsyncSession,
    owner_id: int,
    list_id: int,
    *,
    title: str | None = None,
    replies_policy: str | None = None,
    exclusive: bool | None = None,
) -> UserList:
    """Change a list's title, replies policy or exclusivity (what is None stays). In the
    caller's transaction."""
    found = await get_own_list(session, owner_id, list_id)
    if title is not None:
        found.title = _title(title)
    if replies_policy is not None:
        found.replies_policy = _policy(replies_policy)
    if exclusive is not None:
        found.exclusive = exclusive
    return found


async def delete_list(session: AsyncSession, owner_id: int, list_id: int) -> None:
    """Delete one of the owner's lists with its memberships. In the caller's transaction."""
    found = await get_own_list(session, owner_id, list_id)
    await session.execute(delete(ListMember).where(ListMember.list_id == found.id))
    await session.execute(delete(UserList).where(UserList.id == found.id))


async def add_members(
    session: AsyncSession, owner_id: int, list_id: int, account_ids: list[int]
) -> None:
    """Put followed accounts on a list. NotFound when one is not followed (or does not exist);
    Invalid when one is already on the list. All or nothing. In the caller's transaction."""
    found = await get_own_list(session, owner_id, list_id)
    wanted = set(account_ids)
    follows = await _follows_of(session, owner_id, wanted)
    if set(follows) != wanted:
        raise NotFound()
    list_id = found.id
    try:
        async with session.begin_nested():  # all or nothing: a refusal rolls back this call
            for account_id, follow_id in follows.items():
                inserted = await session.execute(
                    insert_ignore(session, ListMember).values(
                        list_id=list_id, account_id=account_id, follow_id=follow_id
                    )
                )
                if not affected_rows(inserted):
                    raise Invalid("Validation failed: Account has already been taken")
    except IntegrityError:  # an unfollow or the list's deletion won a race (PostgreSQL)
        raise NotFound() from None


async def _follows_of(session: AsyncSession, owner_id: int, wanted: set[int]) -> dict[int, int]:
    """{account id: follow id} of the owner's follows of `wanted` (suspended accounts left out)."""
    rows = await session.execute(
        select(Follow.target_account_id, Follow.id)
        .join(Account, Account.id == Follow.target_account_id)
        .where(
            Follow.account_id == owner_id,
            Follow.target_account_id.in_(wanted),
            Account.suspended_at.is_(None),
        )
    )
    return {account_id: follow_id for account_id, follow_id in rows}


async def remove_members(
    session: AsyncSession, owner_id: int, list_id: int, account_ids: list[int]
) -> None:
    """Take accounts off a list (those not on it are ignored). In the caller's transaction."""
    found = await get_own_list(session, owner_id, list_id)
    if account_ids:
        await session.execute(
            delete(ListMember).where(
                ListMember.list_id == found.id, ListMember.account_id.in_(set(account_ids))
            )
        )


async def members(session: AsyncSession, owner_id: int, list_id: int, page: Page) -> list[int]:
    """Account ids on a list, newest account first, paged by account id (as Mastodon does;
    the ids are also the cursors)."""
    found = await get_own_list(session, owner_id, list_id)
    query = (
        select(ListMember.account_id)
        .join(Account, Account.id == ListMember.account_id)
        .where(ListMember.list_id == found.id, Account.suspended_at.is_(None))
    )
    rows = await session.scalars(apply_page(query, ListMember.account_id, page))
    return finish(list(rows), page)


async def lists_with_account(
    session: AsyncSession, owner_id: int, account_id: int
) -> list[UserList]:
    """The owner's lists that hold `account_id` (NotFound for an unknown account)."""
    await get_account(session, account_id)
    rows = await session.scalars(
        select(UserList)
        .join(ListMember, ListMember.list_id == UserList.id)
        .where(UserList.account_id == owner_id, ListMember.account_id == account_id)
        .order_by(UserList.id)
    )
    return list(rows.all())


def replies_shown(lists: Any, post: Any = Post) -> ColumnElement[bool]:
    """SQL: `post` passes the replies policy of the list row `lists` (the UserList entity or
    an alias, joined by the caller). Not a reply to someone else, or a reply to the owner,
    or to someone the owner follows (`followed`), or to another member (`list`)."""
    to = post.in_reply_to_account_id
    follow, member = aliased(Follow), aliased(ListMember)  # never correlated with the caller's
    followed = exists().where(follow.account_id == lists.account_id, follow.target_account_id == to)
    on_list = exists().where(member.list_id == lists.id, member.account_id == to)
    return or_(
        to.is_(None),
        to == post.account_id,
        to == lists.account_id,
        and_(lists.replies_policy == "followed", followed),
        and_(lists.replies_policy == "list", on_list),
    )


def list_posts(list_id: int | ColumnElement[int]) -> Select[int, int]:
    """SQL: (cursor, post id) of every post a list's timeline may show before the visibility
    rule: members' posts and boosts (not direct ones; no boosts from members whose boosts the
    owner turned off), replies as the list's policy says. The joined tables are aliases, so
    the visibility rule's own look-ups of follows are not correlated with them."""
    member, owned, follow = aliased(ListMember), aliased(UserList), aliased(Follow)
    return (
        select(Post.id, Post.id)
        .join(member, member.account_id == Post.account_id)
        .join(owned, owned.id == member.list_id)
        .join(follow, follow.id == member.follow_id)
        .where(
            member.list_id == list_id,
            Post.visibility != int(Visibility.DIRECT),
            or_(Post.reblog_of_id.is_(None), follow.show_reblogs.is_(True)),
            replies_shown(owned, Post),
        )
    )


async def lists_receiving(session: AsyncSession, post: Post) -> list[tuple[int, int]]:
    """(list id, owner id) of every list whose timeline shows `post` by membership and replies
    policy (for live list streams; each owner must still pass the visibility rule)."""
    if post.visibility == Visibility.DIRECT:
        return []
    member, owned, follow = aliased(ListMember), aliased(UserList), aliased(Follow)
    rows = await session.execute(
        select(owned.id, owned.account_id)
        .join(member, member.list_id == owned.id)
        .join(follow, follow.id == member.follow_id)
        .join(Post, Post.id == post.id)
        .where(
            member.account_id == post.account_id,
            or_(Post.reblog_of_id.is_(None), follow.show_reblogs.is_(True)),
            replies_shown(owned, Post),
        )
    )
    return [(list_id, owner) for list_id, owner in rows]


def hidden_by_exclusive_lists(viewer_id: Viewer, author_col: Any) -> ColumnElement[bool]:
    """SQL: the author is on one of the viewer's exclusive lists, so their posts stay out of
    the viewer's home timeline (they are read in the list instead)."""
    member, owned = aliased(ListMember), aliased(UserList)
    return exists().where(
        member.account_id == author_col,
        owned.id == member.list_id,
        owned.account_id == viewer_id,
        owned.exclusive.is_(True),
    )
