"""Filters, as Mastodon's v2 API keeps them: a title, the contexts it applies in, an action
(warn, hide, blur), an expiry, keywords (whole word or not) and posts. What a filter does to
what is shown is the filter rule's (social/rules/filtering.py, applied by hydration).

Invariants: a filter, its keywords and its posts are the owner's alone (anyone else's is
NotFound, for every action); every change is validated whole before anything is written, so
a refused request (Invalid, 422) changes nothing; a filter has at least one context."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.models import Filter, FilterKeyword, FilterStatus, utcnow
from agora.db.upsert import insert_ignore_one
from agora.ids import new_id
from agora.social.posts.writing import get_visible_post
from agora.social.rules.errors import Invalid, NotFound
from agora.social.rules.filtering import ACTIONS, CONTEXTS

MAX_TITLE = 200
MAX_KEYWORD = 200
MAX_EXPIRES_IN = 10 * 365 * 86400  # ten years, in seconds
KEEP = object()  # an argument not given: leave it as it is


@dataclass(slots=True)
class KeywordChange:
    """One of `keywords_attributes[]`: a new keyword (no id), a change, or `destroy`."""

    id: int | None = None
    keyword: str | None = None
    whole_word: bool | None = None
    destroy: bool = False


@dataclass(slots=True)
class FilterDraft:
    """What a create or update sends (None: not sent)."""

    title: str | None = None
    contexts: list[str] | None = None
    action: str | None = None
    expires_in: int | object | None = KEEP  # seconds; None: never expires
    keywords: list[KeywordChange] = field(default_factory=list)


@dataclass(slots=True)
class FilterView:
    """A filter with its keywords and posts."""

    filter: Filter
    keywords: list[FilterKeyword]
    statuses: list[FilterStatus]


def _title(value: str | None) -> str:
    title = (value or "").strip()
    if not title:
        raise Invalid("Validation failed: Title can't be blank")
    if len(title) > MAX_TITLE:
        raise Invalid(f"Validation failed: Title is too long (maximum is {MAX_TITLE} characters)")
    return title


def _contexts(values: list[str] | None) -> list[str]:
    chosen = list(dict.fromkeys(values or []))
    if not chosen:
        raise Invalid("Validation failed: Context can't be blank")
    if any(c not in CONTEXTS for c in chosen):
        raise Invalid(f"Validation failed: Context must be among {', '.join(CONTEXTS)}")
    return chosen


def _action(value: str | None) -> str:
    if value not in ACTIONS:
        raise Invalid(f"Validation failed: Filter action must be one of {', '.join(ACTIONS)}")
    return value


def _keyword(value: str | None) -> str:
    keyword = (value or "").strip()
    if not keyword:
        raise Invalid("Validation failed: Keyword can't be blank")
    if len(keyword) > MAX_KEYWORD:
        raise Invalid(
            f"Validation failed: Keyword is too long (maximum is {MAX_KEYWORD} characters)"
        )
    return keyword


def _expiry(expires_in: int | object | None) -> object:
    """The expiry time for `expires_in` seconds (None: never; KEEP: unchanged)."""
    if expires_in is KEEP or expires_in is None:
        return expires_in
    assert isinstance(expires_in, int)
    if expires_in <= 0 or expires_in > MAX_EXPIRES_IN:
        raise Invalid("Validation failed: Expires in must be a positive number of seconds")
    return utcnow() + timedelta(seconds=expires_in)


async def get_filter(session: AsyncSession, owner_id: int, filter_id: int) -> Filter:
    """One of the owner's filters; NotFound for anyone else's."""
    found = await session.scalar(
        select(Filter).where(Filter.id == filter_id, Filter.account_id == owner_id)
    )
    if found is None:
        raise NotFound()
    return found


async def _views(session: AsyncSession, filters: list[Filter]) -> list[FilterView]:
    ids = [f.id for f in filters]
    keywords = (
        await session.scalars(
            select(FilterKeyword).where(FilterKeyword.filter_id.in_(ids)).order_by(FilterKeyword.id)
        )
    ).all()
    statuses = (
        await session.scalars(
            select(FilterStatus).where(FilterStatus.filter_id.in_(ids)).order_by(FilterStatus.id)
        )
    ).all()
    return [
        FilterView(
            f,
            [k for k in keywords if k.filter_id == f.id],
            [s for s in statuses if s.filter_id == f.id],
        )
        for f in filters
    ]


async def owned_filters(session: AsyncSession, owner_id: int) -> list[FilterView]:
    """The owner's filters (expired ones too, as Mastodon lists them), oldest first."""
    found = (
        await session.scalars(
            select(Filter).where(Filter.account_id == owner_id).order_by(Filter.id)
        )
    ).all()
    return await _views(session, list(found))


async def show_filter(session: AsyncSession, owner_id: int, filter_id: int) -> FilterView:
    """One of the owner's filters with its keywords and posts."""
    return (await _views(session, [await get_filter(session, owner_id, filter_id)]))[0]


async def create_filter(session: AsyncSession, owner_id: int, draft: FilterDraft) -> FilterView:
    """A new filter with its keywords. Commits; Invalid (nothing written) for a blank title,
    no or unknown contexts, an unknown action, a bad expiry or a bad keyword."""
    title = _title(draft.title)
    contexts = _contexts(draft.contexts)
    action = _action(draft.action or "warn")
    expires = _expiry(draft.expires_in if draft.expires_in is not KEEP else None)
    new_keywords = [(_keyword(k.keyword), k.whole_word is not False) for k in draft.keywords]
    found = Filter(
        id=new_id(),
        account_id=owner_id,
        title=title,
        contexts=contexts,
        action=action,
        expires_at=expires,
        created_at=utcnow(),
    )
    session.add(found)
    await session.flush()
    for keyword, whole_word in new_keywords:
        session.add(FilterKeyword(filter_id=found.id, keyword=keyword, whole_word=whole_word))
    await session.commit()
    return await show_filter(session, owner_id, found.id)


async def update_filter(
    session: AsyncSession, owner_id: int, filter_id: int, draft: FilterDraft
) -> FilterView:
    """Change what is sent: title, contexts, action, expiry (None: never), and keywords
    (`keywords_attributes`: with an id, that keyword changes or, with `destroy`, goes;
    without, a new one). Commits; Invalid or NotFound (someone else's filter or keyword)
    change nothing."""
    found = await get_filter(session, owner_id, filter_id)
    title = _title(draft.title) if draft.title is not None else found.title
    contexts = _contexts(draft.contexts) if draft.contexts is not None else found.contexts
    action = _action(draft.action) if draft.action is not None else found.action
    expires = _expiry(draft.expires_in)
    own = {
        k.id: k
        for k in await session.scalars(
            select(FilterKeyword).where(FilterKeyword.filter_id == found.id)
        )
    }
    changes = []
    for change in draft.keywords:
        if change.id is not None and change.id not in own:
            raise NotFound()
        text = _keyword(change.keyword) if change.keyword is not None or change.id is None else None
        changes.append((change, text))
    found.title, found.contexts, found.action = title, list(contexts), action
    if expires is not KEEP:
        found.expires_at = expires  # type: ignore[assignment]
    for change, text in changes:
        if change.id is None:
            whole = change.whole_word is not False
            session.add(FilterKeyword(filter_id=found.id, keyword=text, whole_word=whole))
        elif change.destroy:
            await session.delete(own[change.id])
        else:
            if text is not None:
                own[change.id].keyword = text
            if change.whole_word is not None:
                own[change.id].whole_word = change.whole_word
    await session.commit()
    return await show_filter(session, owner_id, found.id)


async def delete_filter(session: AsyncSession, owner_id: int, filter_id: int) -> None:
    """Delete one of the owner's filters with its keywords and posts. Commits."""
    found = await get_filter(session, owner_id, filter_id)
    await session.execute(delete(Filter).where(Filter.id == found.id))
    await session.commit()


# -- keywords and posts on their own ---------------------------------------------------------


async def get_keyword(session: AsyncSession, owner_id: int, keyword_id: int) -> FilterKeyword:
    """One of the owner's keywords; NotFound for anyone else's."""
    found = await session.scalar(
        select(FilterKeyword)
        .join(Filter, Filter.id == FilterKeyword.filter_id)
        .where(FilterKeyword.id == keyword_id, Filter.account_id == owner_id)
    )
    if found is None:
        raise NotFound()
    return found


async def add_keyword(
    session: AsyncSession, owner_id: int, filter_id: int, keyword: str | None, whole_word: bool
) -> FilterKeyword:
    """A new keyword of one of the owner's filters. Commits."""
    found = await get_filter(session, owner_id, filter_id)
    row = FilterKeyword(filter_id=found.id, keyword=_keyword(keyword), whole_word=whole_word)
    session.add(row)
    await session.commit()
    return row


async def update_keyword(
    session: AsyncSession,
    owner_id: int,
    keyword_id: int,
    keyword: str | None,
    whole_word: bool | None,
) -> FilterKeyword:
    """Change a keyword (what is sent). Commits."""
    row = await get_keyword(session, owner_id, keyword_id)
    text = _keyword(keyword) if keyword is not None else row.keyword
    row.keyword = text
    if whole_word is not None:
        row.whole_word = whole_word
    await session.commit()
    return row


async def delete_keyword(session: AsyncSession, owner_id: int, keyword_id: int) -> None:
    """Remove a keyword. Commits."""
    row = await get_keyword(session, owner_id, keyword_id)
    await session.delete(row)
    await session.commit()


async def delete_v1_filter(session: AsyncSession, owner_id: int, keyword_id: int) -> None:
    """Delete a v1 filter (a keyword), and its filter once it has nothing left to match.
    Commits."""
    row = await get_keyword(session, owner_id, keyword_id)
    await session.delete(row)
    await session.flush()
    view = await show_filter(session, owner_id, row.filter_id)
    if not view.keywords and not view.statuses:
        await session.delete(view.filter)
    await session.commit()


async def keywords_of(session: AsyncSession, owner_id: int, filter_id: int) -> list[FilterKeyword]:
    """A filter's keywords."""
    return (await show_filter(session, owner_id, filter_id)).keywords


async def get_filter_status(session: AsyncSession, owner_id: int, row_id: int) -> FilterStatus:
    """One of the owner's filtered posts; NotFound for anyone else's."""
    found = await session.scalar(
        select(FilterStatus)
        .join(Filter, Filter.id == FilterStatus.filter_id)
        .where(FilterStatus.id == row_id, Filter.account_id == owner_id)
    )
    if found is None:
        raise NotFound()
    return found


async def add_filter_status(
    session: AsyncSession, owner_id: int, filter_id: int, post_id: int
) -> FilterStatus:
    """Filter a post the owner may see (NotFound otherwise); a post already there: Invalid.
    Commits."""
    found = await get_filter(session, owner_id, filter_id)
    post = await get_visible_post(session, owner_id, post_id)
    row_id = new_id()
    if not await insert_ignore_one(
        session, FilterStatus, id=row_id, filter_id=found.id, post_id=post.id
    ):
        raise Invalid("Validation failed: Status has already been taken")
    await session.commit()
    return await get_filter_status(session, owner_id, row_id)


async def delete_filter_status(session: AsyncSession, owner_id: int, row_id: int) -> None:
    """Stop filtering a post. Commits."""
    row = await get_filter_status(session, owner_id, row_id)
    await session.delete(row)
    await session.commit()


async def statuses_of(session: AsyncSession, owner_id: int, filter_id: int) -> list[FilterStatus]:
    """A filter's posts."""
    return (await show_filter(session, owner_id, filter_id)).statuses
