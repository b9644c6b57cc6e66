"""Posting: create, edit, delete. One function per verb; each validates, writes in one
transaction and records its follow-up work (fan-out, notifications) as jobs in that same
transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache
from typing import Any

from sqlalchemy import Integer, Select, Update, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.data import consent
from agora.db.core_insert import insert_loaded
from agora.db.locks import lock_account
from agora.db.models import (
    ID,
    Account,
    HomeFeedEntry,
    IdempotencyKey,
    Mention,
    Pin,
    Post,
    PostEdit,
    PostTag,
    Tag,
    Visibility,
    utcnow,
)
from agora.db.one_of import one_of
from agora.db.upsert import insert_ignore
from agora.ids import new_id
from agora.jobs.job_kinds import JobKind
from agora.jobs.queue import enqueue, enqueue_post_job
from agora.social.media import uploads as media
from agora.social.media.custom_emojis import take_post_emojis
from agora.social.media.uploads import MediaEdit
from agora.social.people.lookup import resolve_mentions
from agora.social.posts import preview_cards
from agora.social.posts.polls import (
    PollDraft,
    attach_poll,
    check_poll,
    clean_options,
    update_poll,
)
from agora.social.posts.quote_rule import (
    check_quote,
    default_policy_of,
    parse_policy,
    policy_or_public,
)
from agora.social.posts.text import (
    extract_mentions,
    extract_remote_mentions,
    extract_tags,
    render_html,
    status_length,
)
from agora.social.reading.notifications import notify_about_post
from agora.social.reading.remote_audience import (
    AudienceFacts,
    remote_reach,
    schedule_federation,
)
from agora.social.rules.errors import Forbidden, Invalid, NotFound
from agora.social.rules.visibility import is_public_or_unlisted, plain_visible_to

IDEMPOTENCY_WINDOW = timedelta(hours=1)


@dataclass(slots=True)
class Draft:
    """What a person submits when writing or editing a post."""

    text: str
    spoiler_text: str | None = None  # None on an edit: keep the post's content warning
    sensitive: bool | None = None  # None on an edit: keep it (a content warning implies it)
    visibility: str = "public"
    language: str | None = None
    in_reply_to_id: int | None = None
    quote_id: int | None = None
    # public / followers / nobody (quote_rule); None: the author's default (an edit: keep)
    quote_policy: str | None = None
    no_ai_reuse: bool | None = None  # None on an edit: keep the post's current choice
    poll: PollDraft | None = None  # None on an edit: keep the post's poll as it is
    ai_generated: bool = False  # set only by the assistant, never from client input
    media_ids: list[int] | None = None  # None on an edit: keep the post's media as they are
    media_edits: list[MediaEdit] = field(default_factory=list)  # alt text / focus changes


async def get_visible_post(session: AsyncSession, viewer_id: int | None, post_id: int) -> Post:
    """The post if `viewer_id` may see it, else NotFound (never reveal that it exists)."""
    params = (
        {"post_id": post_id} if viewer_id is None else {"post_id": post_id, "viewer": viewer_id}
    )
    post = await session.scalar(_visible_post(viewer_id is not None), params)
    if post is None:
        raise NotFound()
    if post.reblog_of_id is not None:
        await get_visible_post(session, viewer_id, post.reblog_of_id)
    return post


@cache
def _visible_post(signed_in: bool) -> Select[Post]:
    """`get_visible_post`'s statement, built once per shape with the viewer and the post as
    bound parameters: building the visibility rule's tree and its cache key for every like,
    boost, bookmark or reply cost more than running it (docs/ARCHITECTURE.md, "The request
    path")."""
    viewer = bindparam("viewer", type_=ID) if signed_in else None
    return select(Post).where(
        Post.id == bindparam("post_id", type_=ID), plain_visible_to(viewer, Post)
    )


def _validate(draft: Draft) -> Visibility:
    text = draft.text or ""
    if not text.strip() and not draft.media_ids:
        raise Invalid("Validation failed: Text can't be blank")
    settings = get_settings()
    length = status_length(text, settings.url_chars) + len(draft.spoiler_text or "")
    if length > settings.max_status_chars:
        raise Invalid(
            f"Validation failed: Text character limit of {settings.max_status_chars} exceeded"
        )
    try:
        visibility = Visibility.parse(draft.visibility or "public")
    except KeyError:
        raise Invalid("Validation failed: Visibility is not included in the list") from None
    if draft.language is not None and not (2 <= len(draft.language) <= 10):
        raise Invalid("Validation failed: Language is not valid")
    return visibility


async def create_post(
    session: AsyncSession,
    author_id: int,
    draft: Draft,
    *,
    idempotency_key: str | None = None,
    application_id: int | None = None,
    commit: bool = True,
) -> Post:
    """Publish a post by the account `author_id` (a door passes its caller's, whom its token
    or web session proved able to post). Commits, unless `commit=False`: then the caller
    commits, after reading what it answers in the same transaction (the API's door renders
    the new post there, two round trips fewer than a transaction of its own; every
    constraint a racing request can break is checked by the insert, not at commit). A repeated
    `idempotency_key` returns the first post, also when the two requests race (the loser's
    insert of the key fails and it reads the winner's)."""
    key = idempotency_key[:200] if idempotency_key else None
    if key:
        existing = await _idempotent_post(session, author_id, key)
        if existing is not None:
            return existing
    try:
        post = await _write_post(session, author_id, draft, key, application_id)
        if commit:
            await session.commit()
    except IntegrityError:
        await session.rollback()
        existing = await _idempotent_post(session, author_id, key) if key else None
        if existing is None:
            raise
        return existing
    return post


async def check_draft(
    session: AsyncSession, author_id: int, draft: Draft
) -> tuple[Visibility, Post | None]:
    """Everything `create_post` checks of a draft before writing (text, visibility, poll, the
    reply and quote targets), without writing: its visibility and the post it replies to.
    Invalid / NotFound as `create_post` raises them (a scheduled post is checked when it is
    scheduled)."""
    visibility = _validate(draft)
    parse_policy(draft.quote_policy)
    await check_poll(session, draft.poll, draft.media_ids)
    parent = await _reply_target(session, author_id, draft.in_reply_to_id)
    await check_quote(session, author_id, draft.quote_id)
    return visibility, parent


async def _write_post(
    session: AsyncSession,
    author_id: int,
    draft: Draft,
    key: str | None,
    application_id: int | None,
    *,
    reserved_media: bool = False,
) -> Post:
    visibility, parent = await check_draft(session, author_id, draft)
    stored_policy, followed_remotely, answers_remote, bot = (
        await session.execute(
            _author_facts(),
            {"author": author_id, "answered": parent.account_id if parent else None},
        )
    ).one()
    policy = parse_policy(draft.quote_policy)
    if policy is None:
        policy = policy_or_public(stored_policy)
    now = utcnow()
    post = Post(
        id=new_id(),
        account_id=author_id,
        text=draft.text,
        spoiler_text=draft.spoiler_text or "",
        sensitive=bool(draft.sensitive or draft.spoiler_text),
        visibility=int(visibility),
        language=draft.language,
        created_at=now,
        quote_of_id=draft.quote_id,
        quote_policy=int(policy),
        in_reply_to_id=parent.id if parent else None,
        in_reply_to_account_id=parent.account_id if parent else None,
        thread_root_id=(parent.thread_root_id or parent.id) if parent else None,
        application_id=application_id,
        no_ai_reuse=bool(draft.no_ai_reuse),
        ai_generated=draft.ai_generated,
        replies_count=0,
        reblogs_count=0,
        favourites_count=0,
    )
    post.content_html, mentions_remote = await _link_text(session, post, draft.text)
    await take_post_emojis(session, post, clean_options(draft.poll) if draft.poll else [])
    await insert_loaded(session, post)
    if key:
        session.add(IdempotencyKey(account_id=author_id, key=key, post_id=post.id, created_at=now))
        await session.flush()
    if draft.media_ids:
        await media.set_post_media(
            session, post, author_id, draft.media_ids, draft.media_edits, reserved=reserved_media
        )
    await _index_post(session, post, fresh=True)
    await count_new_post(session, author_id, parent, visibility)
    if draft.poll is not None:
        await attach_poll(session, post.id, draft.poll)
    consent.log_post_override(session, post, None)
    await enqueue_post_job(session, JobKind.DISTRIBUTE_POST, {"post_id": post.id})
    facts = AudienceFacts(mentions_remote, bool(answers_remote), bool(followed_remotely))
    await schedule_federation(session, post, "create", facts)
    _ask_assistant(session, post, bool(bot))
    return post


@cache
def _author_facts() -> Select[int | None, bool, bool, bool]:
    """What writing a post must know besides its draft and its parent, in one read built
    once with bound parameters (`author`, `answered`: the author of the post it answers,
    None): the author's default quote policy as stored (`policy_or_public`), whether
    someone on another server follows them, whether the account answered is on another
    server (the two for its remote audience, `concerns_other_servers`), whether the author
    is a bot (`_ask_assistant`). So a door needs only the author's id (its token's)."""
    author = bindparam("author", type_=ID)
    followed, answers = remote_reach(author, bindparam("answered", type_=ID))
    bot = select(Account.bot).where(Account.id == author).scalar_subquery()
    return select(default_policy_of(author), followed, answers, bot)


async def write_post(
    session: AsyncSession,
    author_id: int,
    draft: Draft,
    *,
    application_id: int | None = None,
    reserved_media: bool = False,
) -> Post:
    """Publish a post inside the caller's transaction (no commit, no idempotency key): for
    services that write a post together with other rows, such as the assistant, or a
    scheduled post when it is due (whose media it reserved: `reserved_media`)."""
    return await _write_post(
        session, author_id, draft, None, application_id, reserved_media=reserved_media
    )


def _ask_assistant(session: AsyncSession, post: Post, bot: bool) -> None:
    """A post that mentions the assistant asks it to reply: a durable job, once per post
    (edits do not ask again). Posts of bots are never answered, so bots cannot loop."""
    name = get_settings().assistant_username.lower()
    if bot or name not in {m.lower() for m in extract_mentions(post.text)}:
        return
    attempts = get_settings().ai_reply_max_attempts
    enqueue(session, JobKind.ASSISTANT_REPLY, {"post_id": post.id}, max_attempts=attempts)


async def _idempotent_post(session: AsyncSession, account_id: int, key: str) -> Post | None:
    row = await session.scalar(
        select(IdempotencyKey).where(
            IdempotencyKey.account_id == account_id, IdempotencyKey.key == key[:200]
        )
    )
    if row is None or row.created_at < utcnow() - IDEMPOTENCY_WINDOW:
        return None
    return await session.get(Post, row.post_id)


async def _reply_target(session: AsyncSession, author_id: int, post_id: int | None) -> Post | None:
    if post_id is None:
        return None
    parent = await get_visible_post(session, author_id, post_id)
    if parent.reblog_of_id is not None:
        raise Invalid("Validation failed: You cannot reply to a reblog")
    return parent


async def _link_text(session: AsyncSession, post: Post, text: str) -> tuple[str, bool]:
    """The text's HTML with its mentions linked, and whether it mentions an account of
    another server (`name@host`: as `resolve_mentions` keys them)."""
    mentions = await resolve_mentions(
        session, extract_mentions(text) + extract_remote_mentions(text)
    )
    post._mention_ids = {m.id for m in mentions.values()}  # type: ignore[attr-defined]  # not a column: read back by _index_post
    html = render_html(text, mentions, get_settings().base_url)
    return html, any("@" in name for name in mentions)


async def _index_post(session: AsyncSession, post: Post, *, fresh: bool = False) -> None:
    """(Re)write the mention and hashtag rows of a post from its text (a `fresh` post has
    none to clear)."""
    mention_ids: set[int] = getattr(post, "_mention_ids", set())
    await _write_index(session, post, mention_ids, extract_tags(post.text), fresh=fresh)


async def index_remote_post(
    session: AsyncSession, post: Post, mention_ids: set[int], tag_names: list[str]
) -> list[int]:
    """Write the mention and hashtag rows of a newly received post: the accounts and the
    (normalised) hashtags its Note names; the hashtags' ids. Does not commit."""
    return await _write_index(session, post, mention_ids, tag_names, fresh=True)


async def _write_index(
    session: AsyncSession, post: Post, mention_ids: set[int], names: list[str], *, fresh: bool
) -> list[int]:
    """Replace a post's mention and hashtag rows (a `fresh` post has none to clear) and
    queue its link's preview card (`preview_cards.schedule_card`); the hashtags' ids."""
    preview_cards.schedule_card(session, post, fresh=fresh)
    if not fresh:
        await session.execute(delete(Mention).where(Mention.post_id == post.id))
        await session.execute(delete(PostTag).where(PostTag.post_id == post.id))
    if mention_ids:  # on the table: a plain executemany, not the ORM's bulk insert
        await session.execute(
            insert_ignore(session, Mention.__table__),
            [{"post_id": post.id, "account_id": a} for a in mention_ids],
        )
    if names:
        return await _link_post_tags(session, post.id, list(dict.fromkeys(names)))
    return []


# Hashtag names seen to exist, a hint per process: most posts use tags that exist, whose
# INSERT can then be skipped. Never trusted (a name from a transaction that rolled back, a
# table emptied by hand): `_link_post_tags` inserts what the link did not find.
_SEEN_TAGS: set[str] = set()
_SEEN_TAGS_MAX = 50_000


async def _link_post_tags(session: AsyncSession, post_id: int, names: list[str]) -> list[int]:
    """Link a post to the hashtags `names` (distinct), creating the missing ones; their
    ids. One statement when every name was seen before (`_SEEN_TAGS`), two otherwise, and
    two more when a hint was wrong."""
    link = _link_tags(session.get_bind().dialect.name)
    params = {"post_id": post_id, "names": names}
    hinted = _SEEN_TAGS.issuperset(names)
    if not hinted:
        await session.execute(insert_ignore(session, Tag), [{"name": n} for n in names])
    linked = list(await session.scalars(link, params))
    if hinted and len(linked) < len(names):  # a tag the hint named is not there
        await session.execute(insert_ignore(session, Tag), [{"name": n} for n in names])
        linked += await session.scalars(link, params)  # only the links not made above
    if len(_SEEN_TAGS) + len(names) > _SEEN_TAGS_MAX:
        _SEEN_TAGS.clear()
    _SEEN_TAGS.update(names)
    return linked


@cache
def _link_tags(dialect: str) -> Any:
    """The INSERT of a post's hashtag rows (`post_id`) from its tags' `names`, returning
    the ids of the tags it linked (a name with no tag links nothing; a link already there
    is skipped): one statement where reading the ids and inserting were two; built once per
    dialect."""
    module = postgresql if dialect == "postgresql" else sqlite
    ids = select(Tag.id, bindparam("post_id", type_=ID)).where(one_of(Tag.name, "names"))
    insert = module.insert(PostTag.__table__).from_select(["tag_id", "post_id"], ids)
    return insert.on_conflict_do_nothing().returning(PostTag.tag_id)


async def count_new_post(
    session: AsyncSession, author_id: int, parent: Post | None, visibility: Visibility
) -> None:
    """Count a new post: its author's posts (and last post time), and the replies of the post
    it answers when it is public or unlisted (local and received posts alike)."""
    await count_new_posts(session, [(author_id, parent, visibility)])


async def count_new_posts(
    session: AsyncSession, new: Sequence[tuple[int, Post | None, Visibility]]
) -> None:
    """`count_new_post` for several new posts (author, parent, visibility) at once: one
    statement per author and per post answered, however many posts each has."""
    authors = Counter(author_id for author_id, _, _ in new)
    answered = Counter(
        parent.id for _, parent, seen in new if parent is not None and is_public_or_unlisted(seen)
    )
    now = utcnow()
    counted_posts, counted_replies = _counters()
    for author_id, posts in authors.items():
        await session.execute(counted_posts, {"row": author_id, "added": posts, "now": now})
    for parent_id, replies in answered.items():
        await session.execute(counted_replies, {"row": parent_id, "added": replies})


@cache
def _counters() -> tuple[Update, Update]:
    """`count_new_posts`' two statements, built once with bound parameters (`row`, `added`,
    `now`). On the tables, not the mapped classes: no object of the session is updated in
    memory (the counters are read from rows: `hydrate`), and none is flushed over them."""
    accounts, posts = Account.__table__, Post.__table__
    row, added = bindparam("row", type_=ID), bindparam("added", type_=Integer)
    counted_posts = (
        update(accounts)
        .where(accounts.c.id == row)
        .values(statuses_count=accounts.c.statuses_count + added, last_status_at=bindparam("now"))
    )
    counted_replies = (
        update(posts).where(posts.c.id == row).values(replies_count=posts.c.replies_count + added)
    )
    return counted_posts, counted_replies


async def edit_post(session: AsyncSession, editor: Account, post_id: int, draft: Draft) -> Post:
    """Edit the text, content warning, sensitivity or language of one's own post. Commits.
    What the draft leaves out (None) is kept, so no door uncovers a post by forgetting a
    field: content warning, sensitive, language, AI-reuse choice, poll, media. Edits of one
    author run one after the other (`lock_account`), so the checks on the post's current
    media and poll (at most four attachments, not both) hold when edits race."""
    await lock_account(session, editor.id)
    post = await _own_post(session, editor.id, post_id)
    draft.visibility = Visibility(post.visibility).api_name
    if draft.spoiler_text is None:
        draft.spoiler_text = post.spoiler_text
    if draft.sensitive is None:
        draft.sensitive = post.sensitive
    current_media = await media.attached_media_ids(session, post.id)
    if draft.media_ids is None:
        draft.media_ids = current_media
    _validate(draft)
    policy = parse_policy(draft.quote_policy)
    await check_poll(session, draft.poll, draft.media_ids, post.id)
    await _start_history(session, post)
    post.text = draft.text
    post.spoiler_text = draft.spoiler_text or ""
    post.sensitive = bool(draft.sensitive or draft.spoiler_text)
    if draft.language:
        post.language = draft.language
    if policy is not None:
        post.quote_policy = int(policy)
    if draft.no_ai_reuse is not None:
        previous, post.no_ai_reuse = post.no_ai_reuse, draft.no_ai_reuse
        consent.log_post_override(session, post, previous)
    post.content_html, _ = await _link_text(session, post, draft.text)
    await _record_edit(session, post)
    await _index_post(session, post)
    await update_poll(session, post.id, draft.poll)
    await take_post_emojis(session, post)
    if draft.media_ids != current_media or draft.media_edits:
        await media.set_post_media(session, post, editor.id, draft.media_ids, draft.media_edits)
    await schedule_federation(session, post, "update")
    await session.commit()
    return post


async def revise_remote_post(
    session: AsyncSession,
    post: Post,
    *,
    text: str,
    content_html: str,
    spoiler_text: str,
    sensitive: bool,
    mention_ids: set[int],
    tag_names: list[str],
) -> None:
    """Apply an edit received from another server to its remote post (its author's Update,
    already sanitised): the same edit history and notifications as a local edit; its
    mentions and hashtags are replaced by those the new version names, and the local people
    it now mentions are notified (once: a notification is kept per cause, so one mentioned
    before is not notified again). Does not commit."""
    await _start_history(session, post)
    post.text, post.content_html = text, content_html
    post.spoiler_text, post.sensitive = spoiler_text, sensitive
    await _record_edit(session, post)
    await _write_index(session, post, mention_ids, tag_names, fresh=False)
    local = await session.scalars(
        select(Account.id).where(Account.id.in_(mention_ids), Account.domain.is_(None))
    )
    await notify_about_post(session, "mention", local.all(), post, post.id)


async def _start_history(session: AsyncSession, post: Post) -> None:
    """Before a post's first edit, keep its original version as the history's first entry."""
    if not await session.scalar(select(PostEdit.id).where(PostEdit.post_id == post.id).limit(1)):
        session.add(_snapshot(post, post.created_at))


async def _record_edit(session: AsyncSession, post: Post) -> None:
    """Stamp an edited post, add its new version to the history and write the `post_edited`
    job (live updates, and notifications to those who boosted it)."""
    post.edited_at = utcnow()
    edit = _snapshot(post, post.edited_at)
    session.add(edit)
    await session.flush()
    enqueue(session, JobKind.POST_EDITED, {"post_id": post.id, "edit_id": edit.id})


def _snapshot(post: Post, at: object) -> PostEdit:
    return PostEdit(
        post_id=post.id,
        text=post.text,
        content_html=post.content_html,
        spoiler_text=post.spoiler_text,
        sensitive=post.sensitive,
        created_at=at,
    )


async def _own_post(session: AsyncSession, account_id: int, post_id: int) -> Post:
    post = await get_visible_post(session, account_id, post_id)
    if post.account_id != account_id:
        raise Forbidden("This action is not allowed")
    if post.reblog_of_id is not None:
        raise NotFound()
    return post


async def delete_post(
    session: AsyncSession, actor: Account, post_id: int, *, delete_media: bool = False
) -> Post:
    """Delete one's own post: it disappears everywhere, with its reblogs. Its media is kept
    unattached for a day (for "delete and redraft"), or deleted at once with `delete_media`.
    In the caller's transaction (the doors commit; a received Delete's job commits with its
    job)."""
    post = await _own_post(session, actor.id, post_id)
    post.deleted_at = utcnow()
    await media.detach_post_media(session, post.id, delete_now=delete_media)
    reblogs = (
        await session.execute(select(Post.id, Post.account_id).where(Post.reblog_of_id == post.id))
    ).all()
    reblog_ids = [rid for rid, _ in reblogs]
    gone = [post.id, *reblog_ids]
    await session.execute(delete(HomeFeedEntry).where(HomeFeedEntry.post_id.in_(gone)))
    await session.execute(delete(Pin).where(Pin.post_id == post.id))
    if reblog_ids:
        await session.execute(delete(Post).where(Post.id.in_(reblog_ids)))
    await session.execute(
        update(Account)
        .where(Account.id == actor.id)
        .values(statuses_count=Account.statuses_count - 1)
    )
    if post.in_reply_to_id is not None and is_public_or_unlisted(post.visibility):
        await session.execute(
            update(Post)
            .where(Post.id == post.in_reply_to_id, Post.replies_count > 0)
            .values(replies_count=Post.replies_count - 1)
        )
    reblogs_payload = [[rid, booster] for rid, booster in reblogs]
    enqueue(
        session,
        JobKind.POST_DELETED,
        {"post_id": post.id, "account_id": actor.id, "reblogs": reblogs_payload},
    )
    await schedule_federation(session, post, "delete")
    return post


async def post_history(
    session: AsyncSession, viewer_id: int | None, post_id: int
) -> list[PostEdit]:
    """The edit history of a visible post, oldest first (one entry when never edited)."""
    post = await get_visible_post(session, viewer_id, post_id)
    edits = (
        await session.scalars(
            select(PostEdit).where(PostEdit.post_id == post.id).order_by(PostEdit.id)
        )
    ).all()
    return list(edits) or [_snapshot(post, post.created_at)]
