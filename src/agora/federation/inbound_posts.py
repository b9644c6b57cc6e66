"""Received Create, Update and Delete of Notes (and Questions): remote posts stored in the
same tables as local ones.

A remote post is stored once per id by one writer, `store_remote_posts` (one Note, or the
Notes of a batch's received Creates at once: `create_many`, from inbox.process_many, with
the effects each has alone, in their order), only when its id is on its
author's host and it is attributed to the actor that sent it; its HTML is sanitised with the
same rules as local HTML, its visibility comes from its addressing (activities.visibility_of),
the accounts it addresses or names in `Mention` tags are its mentions and its `Hashtag` tags
its hashtags (`named_in`; an Update replaces both, and notifies the local people it newly
mentions), its `inReplyTo` links it to the post it
answers when that one is here (local, or remote and stored: its replies count and thread),
and it reaches local followers through the normal fan-out (in the job that stores it when
its audience fits one batch, fan_out.distribute_new_posts). Its author's per-post data-reuse
override (`dataReuse.noAiReuse`, or a `#noai` / `#nobot` hashtag) becomes its `no_ai_reuse`,
read by the consent rule. Once stored, it obeys the same
visibility rule as a local post: nothing here restates it. An Update or a Delete changes a
post only when its sender is the post's author; an Update becomes an edit with the same
history and notifications as a local edit (writing.revise_remote_post), and an Update older
than the post's last edit changes nothing. A post fetched by its id (federation/post_fetch.py)
is stored the same way. A Note that is a vote in a local poll is cast as one
(inbound_polls.take_vote), not stored; what a Note carries beyond its text (a poll, a quote,
images) is stored by object_extensions.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import column_rows
from agora.db.models import Account, Post, Visibility, utcnow
from agora.federation import activities, inbound_polls, object_extensions
from agora.federation.actors import id_of_link
from agora.federation.inbound_common import (
    Handler,
    addresses,
    id_of,
    local_account,
    post_named,
)
from agora.federation.remote_consent import note_opts_out
from agora.ids import new_id
from agora.social.media.custom_emojis import remote_emojis
from agora.social.posts import writing
from agora.social.posts.text import extract_tags, sanitize_html
from agora.social.reading import fan_out

MAX_NAMED = 100  # mentions, and hashtags, read from one Note
CREATED_TYPES = ("Note", "Question")  # the objects a received Create stores
# the ids of those of these posts (`uris`) that are stored
_STORED = select(Post.uri).where(Post.uri.in_(bindparam("uris", expanding=True)))


async def _create(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    await create_many(session, [(actor, activity)])


async def create_many(
    session: AsyncSession, creates: Sequence[tuple[Account, dict[str, Any]]]
) -> None:
    """Received Creates (each with its sender), in their order: a Note that is a vote in a
    local poll is cast as one (inbound_polls.take_vote), the other Notes and Questions are
    stored together (`store_remote_posts`); other objects are ignored."""
    notes: list[tuple[Account, dict[str, Any]]] = []
    for actor, activity in creates:
        note = activity.get("object")
        if not isinstance(note, dict) or note.get("type") not in CREATED_TYPES:
            continue
        if not await inbound_polls.take_vote(session, actor, note):
            notes.append((actor, note))
    await store_remote_posts(session, notes)


async def _delete(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    uri = id_of(activity.get("object"))
    if not uri:
        return
    post_id = await session.scalar(
        select(Post.id).where(Post.uri == uri, Post.account_id == actor.id)
    )
    if post_id is not None:
        await writing.delete_post(session, actor, post_id)


async def _update(session: AsyncSession, actor: Account, activity: dict[str, Any]) -> None:
    note = activity.get("object")
    if not isinstance(note, dict) or not isinstance(note.get("id"), str):
        return
    post = await session.scalar(
        select(Post).where(
            Post.uri == note["id"], Post.account_id == actor.id, Post.deleted_at.is_(None)
        )
    )
    if post is None or post.reblog_of_id is not None:
        return
    if post.edited_at is not None and _time(note, "updated") <= post.edited_at:
        return  # an older edit than the one stored (deliveries may cross)
    content, summary = note.get("content"), note.get("summary")
    html = sanitize_html(content if isinstance(content, str) else "")
    spoiler = summary[:500] if isinstance(summary, str) else ""
    sensitive = bool(note.get("sensitive"))
    if (html, spoiler, sensitive) == (post.content_html, post.spoiler_text, post.sensitive):
        return  # nothing a reader sees changed
    mention_ids, tag_names = await named_in(session, note)
    await writing.revise_remote_post(
        session,
        post,
        text=_plain(html),
        content_html=html,
        spoiler_text=spoiler,
        sensitive=sensitive,
        mention_ids=mention_ids,
        tag_names=tag_names,
    )
    emojis = await remote_emojis(session, actor.domain or "", note.get("tag"), html, spoiler)
    if emojis != post.emojis:
        post.emojis = emojis


HANDLERS: dict[str, Handler] = {"Create": _create, "Delete": _delete}
UNDO_HANDLERS: dict[str, Handler] = {}
UPDATE_HANDLERS: dict[str, Handler] = {"Note": _update}


def _time(note: dict[str, Any], key: str) -> datetime:
    """A time the note gives (`published`, `updated`), never in the future; now without one."""
    try:
        when = datetime.fromisoformat(str(note.get(key, "")).replace("Z", "+00:00"))
    except ValueError:
        return utcnow()
    return when if when.tzinfo is not None and when <= utcnow() else utcnow()


async def store_remote_post(
    session: AsyncSession, author: Account, note: dict[str, Any]
) -> Post | None:
    """Store one Note by a remote author (`store_remote_posts`); None when refused or already
    stored. Does not commit."""
    return (await store_remote_posts(session, [(author, note)]))[0]


async def store_remote_posts(
    session: AsyncSession, notes: Sequence[tuple[Account, dict[str, Any]]]
) -> list[Post | None]:
    """Store Notes by remote authors (each once per id), in their order, and hand them to the
    normal fan-out: the one writer of received posts, for one Note or a batch's. Each one's
    HTML is sanitised as local HTML is; its visibility comes from its addressing; local
    accounts it addresses are its mentions. A Note is refused (None) when its id is on another
    host than its author's or it is attributed to another actor, and skipped (None) when a
    post with its id is stored, before or earlier in `notes`. What every Note costs is paid
    once for all of them: the stored ids read in one statement, the posts inserted in one, the
    authors counted once each, the fan-out written at once (fan_out.distribute_new_posts);
    what only some Notes carry (a parent, emoji, mentions, hashtags, a poll, images, a
    quote) is read and written for those alone. The post stored for each Note, or None.
    Does not commit."""
    stored: list[Post | None] = [None] * len(notes)
    accepted = [i for i, (author, note) in enumerate(notes) if _is_authors(author, note)]
    uris = [notes[i][1]["id"] for i in accepted]
    seen = (
        {row[0] for row in await column_rows(session, _STORED, {"uris": uris})} if uris else set()
    )
    made: list[tuple[int, Post, Post | None]] = []
    for i in accepted:
        author, note = notes[i]
        if note["id"] not in seen:
            seen.add(note["id"])
            made.append((i, *await _new_post(session, author, note)))
    if not made:
        return stored
    await session.flush()  # one INSERT (a reply's parent among them was flushed to be found)
    new: list[fan_out.NewPost] = []
    for i, post, _parent in made:
        note = notes[i][1]
        mention_ids, tag_names = await named_in(session, note)
        tag_ids = await writing.index_remote_post(session, post, mention_ids, tag_names)
        await object_extensions.store_extensions(session, post, note)
        new.append(fan_out.NewPost(post.id, tag_ids, mention_ids))
        stored[i] = post
    await writing.count_new_posts(
        session, [(p.account_id, parent, Visibility(p.visibility)) for _, p, parent in made]
    )
    await fan_out.distribute_new_posts(session, new)
    return stored


def _is_authors(author: Account, note: dict[str, Any]) -> bool:
    """Whether a Note may be stored as its sender's: its id on the sender's host, and
    attributed to the sender."""
    uri = note.get("id")
    return (
        isinstance(uri, str)
        and urlsplit(uri).netloc.lower() == author.domain
        and id_of(note.get("attributedTo")) == author.uri
    )


async def _new_post(
    session: AsyncSession, author: Account, note: dict[str, Any]
) -> tuple[Post, Post | None]:
    """A received Note as a new post added to the session (not flushed), and the post it
    answers when that one is here."""
    content = note.get("content")
    to, cc = addresses(note.get("to")), addresses(note.get("cc"))
    visibility = activities.visibility_of(to, cc, author.followers_url)
    html = sanitize_html(content if isinstance(content, str) else "")
    summary = note.get("summary")
    spoiler = summary[:500] if isinstance(summary, str) else ""
    emojis = await remote_emojis(session, author.domain or "", note.get("tag"), html, spoiler)
    parent = await post_named(session, id_of(note.get("inReplyTo")))
    if parent is not None and parent.reblog_of_id is not None:
        parent = None
    post = Post(
        id=new_id(),
        account_id=author.id,
        in_reply_to_id=parent.id if parent else None,
        in_reply_to_account_id=parent.account_id if parent else None,
        thread_root_id=(parent.thread_root_id or parent.id) if parent else None,
        uri=note["id"],
        url=note.get("url") if isinstance(note.get("url"), str) else None,
        text=_plain(html),
        content_html=html,
        spoiler_text=spoiler,
        sensitive=bool(note.get("sensitive")),
        no_ai_reuse=note_opts_out(note),
        emojis=emojis,
        visibility=int(visibility),
        created_at=_time(note, "published"),
        replies_count=0,
        reblogs_count=0,
        favourites_count=0,
    )
    session.add(post)
    return post, parent


async def named_in(session: AsyncSession, note: dict[str, Any]) -> tuple[set[int], list[str]]:
    """What a Note names: the accounts it mentions (local accounts it addresses or names in a
    `Mention` tag, and remote accounts stored here that a `Mention` names) and its hashtags
    (`Hashtag` tags, normalised as local ones are), at most `MAX_NAMED` of each."""
    tags = note.get("tag")
    items = [
        t for t in (tags if isinstance(tags, list) else [tags])[:MAX_NAMED] if isinstance(t, dict)
    ]
    hrefs = {
        h for h in (id_of_link(t.get("href")) for t in items if t.get("type") == "Mention") if h
    }
    addressed = {*addresses(note.get("to")), *addresses(note.get("cc"))}
    local = [await local_account(session, uri) for uri in list(addressed | hrefs)[:MAX_NAMED]]
    mentioned = {a.id for a in local if a is not None}
    if hrefs:
        remote = await session.scalars(
            select(Account.id).where(Account.uri.in_(sorted(hrefs)), Account.domain.is_not(None))
        )
        mentioned |= set(remote.all())
    names: dict[str, None] = {}
    for tag in items:
        name = tag.get("name")
        if tag.get("type") == "Hashtag" and isinstance(name, str) and len(name) <= 100:
            for found in extract_tags("#" + name.lstrip("#")):
                names.setdefault(found, None)
    return mentioned, list(names)


def _plain(html: str) -> str:
    """The text of sanitised HTML (for search and the assistant), paragraphs on new lines."""
    text = re.sub(r"<br\s*/?>|</p>\s*<p>", "\n", html)
    return html_lib.unescape(re.sub(r"<[^>]+>", "", text)).strip()
