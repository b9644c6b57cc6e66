"""The `build_archive` job: a person's archive as Mastodon makes it, in ActivityStreams.

`outbox.json` is an OrderedCollection of the person's activities, oldest first: a Create for
each post, its Note made by `outbox.note_for` (the very shape deliveries and fetches serve),
an Announce for each boost; `actor.json` is the actor document federation serves;
`likes.json` and `bookmarks.json` are OrderedCollections of the ids of the posts liked and
bookmarked; `media_attachments/` holds the image files of the posts; `agora/data_reuse.json`
holds the data-reuse choices and the whole consent log. The zip is streamed to a temporary
file by social/people/account_archives.py (`ArchiveZip`) in batches of posts read in short
read sessions, then renamed into place; running the job again writes it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from agora.db.engine import Database
from agora.db.models import Account, Bookmark, Favourite, Post
from agora.federation import activities
from agora.federation.actors import actor_json, actor_uri
from agora.federation.ap_collections import mentions_of
from agora.federation.keys import key_pair
from agora.federation.object_extensions import load_note_parts
from agora.federation.outbox import note_for
from agora.jobs.job_kinds import ArchiveJob
from agora.social.people import account_archives
from agora.social.people.account_archives import ArchiveZip, BuiltArchive
from agora.social.posts.post_uris import post_uri

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"


async def build_archive(db: Database, payload: ArchiveJob) -> BuiltArchive | None:
    """The job's slow phase: write the zip (None when the archive is no longer pending)."""
    async with db.session() as session:
        archive = await account_archives.archive_to_build(session, payload["archive_id"])
        account = await session.get(Account, archive.account_id) if archive else None
    if archive is None or account is None:
        return None
    public_pem = account.public_key_pem or (await key_pair(db, account.id)).public_pem
    directory = account_archives.archive_dir()
    tmp = directory / f".building-{archive.id}.zip"
    directory.mkdir(parents=True, exist_ok=True)
    out = ArchiveZip(tmp)
    try:
        out.write_json("actor.json", actor_json(account, public_pem))
        await _outbox(db, out, account)
        for name, model in (("likes.json", Favourite), ("bookmarks.json", Bookmark)):
            await _marked(db, out, account, name, model)
        await _media(db, out, account.id)
        async with db.session() as session:
            reuse = await account_archives.data_reuse_document(session, account)
        out.write_json("agora/data_reuse.json", reuse)
    except BaseException:
        out.close()
        Path(tmp).unlink(missing_ok=True)
        raise
    out.close()
    return account_archives.finish(tmp, archive.id)


async def _outbox(db: Database, out: ArchiveZip, account: Account) -> None:
    async with db.session() as session:
        total = await account_archives.posts_count(session, account.id)
    head = {
        "@context": AS_CONTEXT,
        "id": "outbox.json",
        "type": "OrderedCollection",
        "totalItems": total,
    }
    with out.json_collection("outbox.json", head) as items:
        after = 0
        while True:
            async with db.session() as session:  # a fresh session per batch: bounded memory
                posts = await account_archives.posts_after(session, account.id, after)
                if not posts:
                    break
                for activity in await _activities(session, account, posts):
                    items.add(activity)
            after = posts[-1].id


async def _activities(
    session: AsyncSession, account: Account, posts: Sequence[Post]
) -> list[dict[str, Any]]:
    """A batch of posts as Create (of the Note federation makes) or Announce activities."""
    own = [p for p in posts if p.reblog_of_id is None]
    mentioned = await mentions_of(session, [p.id for p in own])
    parts = await load_note_parts(session, own)
    found = []
    for post in posts:
        if post.reblog_of_id is None:
            note = await note_for(session, post, account, mentioned.get(post.id, []), parts)
            found.append(_bare(activities.create_activity(note)))
            continue
        original = await session.get(Post, post.reblog_of_id)
        author = await session.get(Account, original.account_id) if original else None
        if original is None or author is None:
            continue
        announce = activities.announce_activity(
            post.id,
            account,
            activities.note_uri(author, original),
            actor_uri(author),
            post.visibility,
        )
        announce["published"] = post.created_at.isoformat().replace("+00:00", "Z")
        found.append(_bare(announce))
    return found


def _bare(activity: dict[str, Any]) -> dict[str, Any]:
    """An activity inside the collection: the collection carries the `@context`."""
    return {k: v for k, v in activity.items() if k != "@context"}


async def _marked(
    db: Database, out: ArchiveZip, account: Account, name: str, model: type[Favourite | Bookmark]
) -> None:
    """The ids of the posts the person liked (or bookmarked), as an OrderedCollection."""
    head = {"@context": AS_CONTEXT, "id": name, "type": "OrderedCollection"}
    with out.json_collection(name, head) as items:
        after = 0
        while True:
            async with db.session() as session:
                rows = (
                    await session.execute(
                        select(model.id, Post.id, Post.uri, Account)
                        .join(Post, Post.id == model.post_id)
                        .join(Account, Account.id == Post.account_id)
                        .where(model.account_id == account.id, model.id > after)
                        .order_by(model.id)
                        .limit(account_archives.BATCH)
                    )
                ).all()
            for _mark_id, post_id, uri, author in rows:
                items.add(post_uri(post_id, uri, author.username))
            if len(rows) < account_archives.BATCH:
                break
            after = rows[-1][0]


async def _media(db: Database, out: ArchiveZip, account_id: int) -> None:
    """The person's image files, under `media_attachments/` by their storage key."""
    after = 0
    while True:
        async with db.session() as session:
            files = await account_archives.media_after(session, account_id, after)
        for media in files:
            out.copy_media(f"media_attachments/{media.key}", media.key)
        if len(files) < account_archives.BATCH:
            break
        after = files[-1].id
