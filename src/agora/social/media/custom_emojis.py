"""Custom emoji (`:shortcode:`), as Mastodon has them: local ones uploaded by admins (CLI,
admin console), remote ones seen in other servers' posts and profiles.

**Storage.** A local emoji's files are in the media store (`storage.put` / `open` /
`delete`): the original as uploaded (PNG, GIF or WebP, animation kept; at most `MAX_BYTES`,
checked to be an image by content with Pillow) and a still PNG (its first frame), written
before the row commits and deleted after it is removed. A remote emoji is a row with its
server's `domain` and the image's `remote_url`, shown by that URL as remote avatars are,
and only while that server's media are allowed (`domain_blocks.media_allowed`).

**Which emoji a text uses** is taken when the text is written, as Mastodon renders it:
`used_in` reads the enabled emoji of the author's domain named in it (one query, none when
the text names no `:shortcode:`) and the writer stores that list on the row
(`posts.emojis`: text, spoiler text and poll options; `polls.emojis`: the options;
`accounts.emojis`: display name, bio and field values). So hydration reads no more
statements, and the render cache (api/status_cache.py) stays right without a rule of its
own: the two columns are rendered columns, and changing them bumps the render versions by
the triggers of migration 0025. Invariant: **every change of a local emoji re-takes the
list of every row whose text names it** (`_retake`, in the change's transaction: adding or
enabling one finds the rows by their text, disabling or removing one finds the rows whose
list holds it), so no rendering, cached or stored, shows a disabled or removed emoji or
misses an enabled one. Re-taking reads the posts of the local authors whose text holds the
shortcode (a scan of the text, an admin's rare action) and the rows with a list
(`ix_*_with_emojis`).

Every change by an admin is in the moderation log (`log_server_action`, `emoji.*`).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.models import Account, CustomEmoji, Poll, PollOption, Post, utcnow
from agora.db.upsert import insert_ignore_one
from agora.ids import new_id
from agora.social.media.files import MediaFile, public_file
from agora.social.media.images import CONTENT_TYPES, EXTENSIONS, emoji_image
from agora.social.media.storage import media_storage
from agora.social.people.domain_blocks import media_allowed
from agora.social.people.moderation import log_server_action
from agora.social.rules.errors import Invalid, NotFound

SHORTCODE = re.compile(r"[a-zA-Z0-9_]{2,}")
# A `:shortcode:` in a text: not inside a word nor glued to another one (Mastodon's SCAN_RE).
IN_TEXT = re.compile(r"(?<![a-zA-Z0-9_:]):([a-zA-Z0-9_]{2,}):(?![a-zA-Z0-9_:])")
MAX_BYTES = 256 * 1024  # Mastodon's limit for a local emoji
MAX_PIXELS = 1024 * 1024  # all frames together
STATIC_SIDE = 256
MAX_SHORTCODE = 100
MAX_CATEGORY = 100
MAX_TAGS = 100  # of a received object, read for emoji


def check_shortcode(shortcode: str) -> str:
    """The shortcode, or Invalid unless it is 2 or more letters, digits or underscores."""
    if not SHORTCODE.fullmatch(shortcode) or len(shortcode) > MAX_SHORTCODE:
        raise Invalid(
            "Validation failed: Shortcode must be at least 2 characters, "
            "only letters, digits and underscores"
        )
    return shortcode


def shortcodes_in(*texts: str) -> set[str]:
    """The `:shortcode:`s the texts name."""
    return {code for text in texts if text for code in IN_TEXT.findall(text)}


def snapshot(emoji: CustomEmoji) -> dict[str, Any]:
    """What a row that uses `emoji` keeps of it: the API entity's fields (a local emoji's
    URLs as paths, the base URL added when shown) and what an ActivityPub `Emoji` tag says."""
    if emoji.domain is None:
        ext = emoji.image_key.rsplit(".", 1)[1] if emoji.image_key else "png"
        url, static = f"/emoji/{emoji.id}/original.{ext}", f"/emoji/{emoji.id}/static.png"
        uri = f"/emojis/{emoji.id}"
    else:
        url = static = emoji.remote_url or ""
        uri = emoji.uri or url
    return {
        "shortcode": emoji.shortcode,
        "url": url,
        "static_url": static,
        "visible_in_picker": emoji.visible_in_picker,
        "category": emoji.category,
        "uri": uri,
        "media_type": emoji.content_type,
        "updated": emoji.updated_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def _absolute(url: str) -> str:
    return get_settings().base_url + url if url.startswith("/") else url


def emoji_json(entry: dict[str, Any]) -> dict[str, Any]:
    """Mastodon's CustomEmoji entity of a kept emoji (`snapshot`)."""
    return {
        "shortcode": entry["shortcode"],
        "url": _absolute(entry["url"]),
        "static_url": _absolute(entry["static_url"]),
        "visible_in_picker": entry["visible_in_picker"],
        "category": entry["category"],
    }


def emojis_json(entries: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The `emojis` of a Status, Account or Poll from the row's kept list."""
    return [emoji_json(e) for e in entries or ()]


def emoji_tags(entries: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The ActivityPub `Emoji` tags of a kept list, as Mastodon writes them."""
    return [
        {
            "id": _absolute(e["uri"]),
            "type": "Emoji",
            "name": f":{e['shortcode']}:",
            "updated": e["updated"],
            "icon": {"type": "Image", "mediaType": e["media_type"], "url": _absolute(e["url"])},
        }
        for e in entries or ()
    ]


async def used_in(
    session: AsyncSession, domain: str | None, *texts: str
) -> list[dict[str, Any]] | None:
    """The enabled emoji of `domain` (None: local) that the texts name, kept as `snapshot`s
    in shortcode order; None when there are none (no query when no text names one)."""
    codes = shortcodes_in(*texts)
    if not codes:
        return None
    domain_is = CustomEmoji.domain.is_(None) if domain is None else CustomEmoji.domain == domain
    found = await session.scalars(
        select(CustomEmoji)
        .where(CustomEmoji.shortcode.in_(codes), domain_is, CustomEmoji.disabled.is_(False))
        .order_by(CustomEmoji.shortcode)
    )
    return [snapshot(e) for e in found] or None


async def account_emojis(session: AsyncSession, account: Account) -> list[dict[str, Any]] | None:
    """The emoji an account's display name, bio and field values use."""
    values = [f.get("value", "") for f in account.fields or ()]
    note = account.note if account.domain is None else account.note_html  # remote: HTML only
    return await used_in(session, account.domain, account.display_name, note, *values)


async def remote_emojis(
    session: AsyncSession, domain: str, tags: Any, *texts: str
) -> list[dict[str, Any]] | None:
    """The emoji a remote object's texts use: its `Emoji` tags stored (`remember_remote`),
    then taken as `used_in` takes a local text's. Does not commit."""
    await remember_remote(session, domain, tags)
    return await used_in(session, domain, *texts)


async def listed(session: AsyncSession) -> list[CustomEmoji]:
    """The enabled local emoji (`GET /api/v1/custom_emojis`): those without a category
    first, then by category, each by shortcode (the same order on both databases)."""
    found = await session.scalars(
        select(CustomEmoji)
        .where(CustomEmoji.domain.is_(None), CustomEmoji.disabled.is_(False))
        .order_by(CustomEmoji.category.is_not(None), CustomEmoji.category, CustomEmoji.shortcode)
    )
    return list(found)


async def local_emojis(session: AsyncSession) -> list[CustomEmoji]:
    """Every local emoji, disabled ones too (the CLI and the admin console)."""
    found = await session.scalars(
        select(CustomEmoji).where(CustomEmoji.domain.is_(None)).order_by(CustomEmoji.shortcode)
    )
    return list(found)


@dataclass(frozen=True, slots=True)
class _Files:
    format: str
    original: bytes
    still: bytes


def _checked_files(data: bytes) -> _Files:
    if len(data) > MAX_BYTES:
        raise Invalid(f"Validation failed: Image must be at most {MAX_BYTES // 1024} KB")
    fmt, still = emoji_image(data, max_pixels=MAX_PIXELS, side=STATIC_SIDE)
    return _Files(fmt, data, still.data)


async def add_emoji(
    session: AsyncSession,
    shortcode: str,
    data: bytes,
    *,
    category: str | None = None,
    by: Account | None = None,
) -> CustomEmoji:
    """Add a local emoji (an admin: CLI, console): the shortcode and image checked before
    anything is stored (Invalid, nothing written), the files stored, then the row, the log
    entry and the rows whose text names it re-taken, committed. Invalid for a taken
    shortcode (its files deleted again)."""
    check_shortcode(shortcode)
    category = (category or "").strip()[:MAX_CATEGORY] or None
    if await _local(session, shortcode) is not None:
        raise Invalid("Validation failed: Shortcode has already been taken")
    files = await asyncio.to_thread(_checked_files, data)
    now = utcnow()
    emoji = CustomEmoji(
        id=new_id(),
        shortcode=shortcode,
        domain=None,
        content_type=CONTENT_TYPES[files.format],
        category=category,
        visible_in_picker=True,
        disabled=False,
        created_at=now,
        updated_at=now,
    )
    emoji.image_key = f"emoji/{emoji.id}/original.{EXTENSIONS[files.format]}"
    emoji.static_key = f"emoji/{emoji.id}/static.png"
    store = media_storage()
    await asyncio.to_thread(store.put, emoji.image_key, files.original)
    await asyncio.to_thread(store.put, emoji.static_key, files.still)
    try:
        session.add(emoji)
        await session.flush()
    except IntegrityError:
        await session.rollback()
        await asyncio.to_thread(_delete_files, emoji)
        raise Invalid("Validation failed: Shortcode has already been taken") from None
    log_server_action(session, by, "emoji.add", f":{shortcode}:")
    await _retake(session, shortcode, by_text=True)
    await session.commit()
    return emoji


async def set_disabled(
    session: AsyncSession, shortcode: str, disabled: bool, *, by: Account | None = None
) -> CustomEmoji:
    """Disable (or enable again) a local emoji: gone from the list and from every post and
    profile that used it (or back on those whose text names it). Commits."""
    emoji = await _local(session, shortcode)
    if emoji is None:
        raise NotFound(f"No emoji :{shortcode}:")
    if emoji.disabled != disabled:
        emoji.disabled, emoji.updated_at = disabled, utcnow()
        await session.flush()
        action = "emoji.disable" if disabled else "emoji.enable"
        log_server_action(session, by, action, f":{shortcode}:")
        await _retake(session, shortcode, by_text=not disabled)
    await session.commit()
    return emoji


async def remove_emoji(session: AsyncSession, shortcode: str, *, by: Account | None = None) -> None:
    """Remove a local emoji: the row (and from every post and profile that used it), logged,
    committed, then its files deleted."""
    emoji = await _local(session, shortcode)
    if emoji is None:
        raise NotFound(f"No emoji :{shortcode}:")
    await session.execute(delete(CustomEmoji).where(CustomEmoji.id == emoji.id))
    log_server_action(session, by, "emoji.remove", f":{shortcode}:")
    await _retake(session, shortcode, by_text=False)
    await session.commit()
    await asyncio.to_thread(_delete_files, emoji)


def _delete_files(emoji: CustomEmoji) -> None:
    store = media_storage()
    for key in (emoji.image_key, emoji.static_key):
        if key:
            store.delete(key)


async def _local(session: AsyncSession, shortcode: str) -> CustomEmoji | None:
    return await session.scalar(
        select(CustomEmoji).where(CustomEmoji.shortcode == shortcode, CustomEmoji.domain.is_(None))
    )


def _like(shortcode: str) -> str:
    """A LIKE pattern finding `:shortcode:` (`_` matches itself among others: the candidates
    are checked exactly by `used_in`)."""
    return f"%:{shortcode}:%"


async def _retake(session: AsyncSession, shortcode: str, *, by_text: bool) -> None:
    """Take again the emoji list of every local post, poll and account that names
    `shortcode`: found by their text (`by_text`: an emoji added or enabled) or by their list
    (disabled or removed)."""
    pattern = _like(shortcode)
    local_author = select(Account.id).where(Account.domain.is_(None))
    option_named = exists().where(
        PollOption.poll_id == Poll.id, PollOption.title.like(pattern), Poll.post_id == Post.id
    )
    post_named = (
        or_(Post.text.like(pattern), Post.spoiler_text.like(pattern), option_named)
        if by_text
        else Post.emojis.is_not(None)
    )
    posts = await session.scalars(
        select(Post).where(post_named, Post.account_id.in_(local_author), Post.deleted_at.is_(None))
    )
    for post in posts:
        await _retake_post(session, post, shortcode)
    account_named = (
        or_(
            Account.display_name.like(pattern),
            Account.note.like(pattern),
            cast(Account.fields, String).like(pattern),
        )
        if by_text
        else Account.emojis.is_not(None)
    )
    accounts = await session.scalars(select(Account).where(account_named, Account.domain.is_(None)))
    for account in accounts:
        values = [f.get("value", "") for f in account.fields or ()]
        if shortcode in shortcodes_in(account.display_name, account.note, *values):
            account.emojis = await account_emojis(session, account)
    await session.flush()


async def _retake_post(session: AsyncSession, post: Post, shortcode: str) -> None:
    options = await _options(session, post.id)
    if shortcode in shortcodes_in(post.text, post.spoiler_text, *options):
        await take_post_emojis(session, post, options)
        if options:
            taken = await used_in(session, None, *options)
            await session.execute(update(Poll).where(Poll.post_id == post.id).values(emojis=taken))


async def _options(session: AsyncSession, post_id: int) -> list[str]:
    titles = await session.scalars(
        select(PollOption.title)
        .join(Poll, Poll.id == PollOption.poll_id)
        .where(Poll.post_id == post_id)
        .order_by(PollOption.position)
    )
    return list(titles)


async def take_post_emojis(
    session: AsyncSession, post: Post, options: list[str] | None = None
) -> None:
    """Set the emoji a local post's text, spoiler text and poll `options` use on the post
    (`options` None: read from its poll; a poll's own are taken by `polls.attach_poll`). No
    query when nothing names a `:shortcode:` and the options are given. Does not commit."""
    if options is None:
        options = await _options(session, post.id)
    taken = await used_in(session, None, post.text, post.spoiler_text, *options)
    if taken != post.emojis:
        post.emojis = taken


async def remember_remote(session: AsyncSession, domain: str, tags: Any) -> None:
    """Store (or refresh) the `Emoji` tags of a remote object from `domain` as remote emoji,
    shown by their image's URL; none when that server's media are refused. Malformed tags
    are ignored. Call before `used_in` for the remote text. Does not commit."""
    found: dict[str, tuple[str, str | None, str]] = {}
    for tag in (tags if isinstance(tags, list) else [tags])[:MAX_TAGS]:
        parsed = _emoji_tag(tag)
        if parsed is not None:
            found[parsed[0]] = parsed[1:]
    if not found or not await media_allowed(session, domain):
        return
    known = {
        e.shortcode: e
        for e in await session.scalars(
            select(CustomEmoji).where(
                CustomEmoji.domain == domain, CustomEmoji.shortcode.in_(found)
            )
        )
    }
    now = utcnow()
    for shortcode, (url, uri, media_type) in found.items():
        emoji = known.get(shortcode)
        if emoji is None:  # a concurrent delivery may have stored it: kept as it is
            await insert_ignore_one(
                session,
                CustomEmoji,
                id=new_id(),
                shortcode=shortcode,
                domain=domain,
                remote_url=url,
                uri=uri,
                content_type=media_type,
                visible_in_picker=False,
                disabled=False,
                created_at=now,
                updated_at=now,
            )
        elif emoji.remote_url != url:
            emoji.remote_url, emoji.uri, emoji.updated_at = url, uri, now
    await session.flush()


def _emoji_tag(tag: Any) -> tuple[str, str, str | None, str] | None:
    """(shortcode, image URL, id, media type) of a well-formed `Emoji` tag, else None."""
    if not isinstance(tag, dict) or tag.get("type") != "Emoji":
        return None
    name, icon = tag.get("name"), tag.get("icon")
    if not isinstance(name, str) or not isinstance(icon, dict):
        return None
    shortcode = name.strip(":")
    url = icon.get("url")
    if not SHORTCODE.fullmatch(shortcode) or len(shortcode) > MAX_SHORTCODE:
        return None
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or len(url) > 2048:
        return None
    media_type = icon.get("mediaType")
    if media_type not in CONTENT_TYPES.values():
        media_type = "image/png"
    uri = tag.get("id") if isinstance(tag.get("id"), str) else None
    return shortcode, url, uri, str(media_type)


async def find_emoji_file(session: AsyncSession, emoji_id: int, name: str) -> MediaFile:
    """A local emoji's `original.<ext>` or `static.png` (public); NotFound otherwise."""
    emoji = await session.get(CustomEmoji, emoji_id)
    if emoji is None or emoji.domain is not None or emoji.image_key is None:
        raise NotFound()
    if name == "static.png" and emoji.static_key:
        key, content_type = emoji.static_key, "image/png"
    elif name == emoji.image_key.rsplit("/", 1)[1]:
        key, content_type = emoji.image_key, emoji.content_type
    else:
        raise NotFound()
    return await public_file(key, content_type, f'"{emoji.id}-{name}"')
