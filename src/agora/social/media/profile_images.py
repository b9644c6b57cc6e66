"""Avatars and headers: uploaded images checked and cleaned by `images.profile_picture` (the
media module's checks: content sniffing, pixel limit before decoding, EXIF orientation, no
metadata), cropped to 400x400 (avatar) and 1500x500 (header), kept in the media store under
`profile/…` and named on the account (`avatar_file`, `header_file`, "<32 hex>.<ext>").

Profile images are public, as on Mastodon: `/media/profile/<account id>/<file>` is served to
anyone while the account is not suspended. A new upload gets a new random name (so URLs can be
cached forever); the old file is deleted once the new name is committed.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.data.signals import account_signals
from agora.db.models import Account
from agora.social.media.files import MediaFile, public_file
from agora.social.media.images import CONTENT_TYPES, EXTENSIONS, Rendition, profile_picture
from agora.social.media.storage import media_storage
from agora.social.people.accounts import update_profile
from agora.social.rules.errors import Invalid, NotFound

SIZES = {"avatar": (400, 400), "header": (1500, 500)}
DEFAULTS = {"avatar": "avatar.png", "header": "header.png"}
FORMATS = {ext: fmt for fmt, ext in EXTENSIONS.items()}


@dataclass(frozen=True, slots=True)
class NewImage:
    """A checked avatar or header, not stored yet."""

    kind: str  # "avatar" or "header"
    rendition: Rendition
    file: str  # its name once stored: "<32 hex>.<ext>"


def storage_key(file: str) -> str:
    """Where a profile image is kept in the media store."""
    return f"profile/{file[:2]}/{file}"


def image_url(account: Account, kind: str) -> str:
    """The URL of an account's avatar or header (the default picture without one; a remote
    account's own URL, as its actor document gives it)."""
    base = get_settings().base_url
    remote = getattr(account, f"{kind}_remote_url", None) if account.domain else None
    if remote:
        return str(remote)
    file = getattr(account, f"{kind}_file", None)
    if not file:
        return f"{base}/static/{DEFAULTS[kind]}"
    return f"{base}/media/profile/{account.id}/{file}"


def _check_size(data: bytes) -> None:
    most = get_settings().media_max_bytes
    if len(data) > most:
        raise Invalid(f"Validation failed: File is larger than {most / 1024 / 1024:g} MB")


def _prepare(kind: str, data: bytes) -> NewImage:
    _check_size(data)
    max_pixels = get_settings().media_max_pixels
    rendition = profile_picture(data, max_pixels=max_pixels, size=SIZES[kind])
    return NewImage(kind, rendition, f"{secrets.token_hex(16)}.{rendition.extension}")


async def update_profile_and_images(
    session: AsyncSession,
    account: Account,
    changes: dict[str, Any],
    *,
    avatar: bytes | None = None,
    header: bytes | None = None,
) -> None:
    """`accounts.update_profile` with a new avatar and/or header. Every image is checked
    before anything changes (Invalid, a 422, changes nothing and stores nothing); the files
    are stored before the row commits, and deleted again if it does not. Commits."""
    sent = [
        (kind, data) for kind, data in (("avatar", avatar), ("header", header)) if data is not None
    ]
    if not sent:
        await update_profile(session, account, changes)
        return
    await session.commit()  # no transaction (or SQLite lock) is held while images are processed
    images = [await asyncio.to_thread(_prepare, kind, data) for kind, data in sent]
    store = media_storage()
    old = [getattr(account, f"{i.kind}_file") for i in images]
    await asyncio.to_thread(_put_all, store, images)
    try:
        for image in images:
            setattr(account, f"{image.kind}_file", image.file)
        await update_profile(session, account, changes)
    except BaseException:
        await session.rollback()
        await asyncio.to_thread(_delete_all, store, [i.file for i in images])
        raise
    await asyncio.to_thread(_delete_all, store, [f for f in old if f])


def _put_all(store: Any, images: list[NewImage]) -> None:
    for image in images:
        store.put(storage_key(image.file), image.rendition.data)


def _delete_all(store: Any, files: list[str]) -> None:
    for file in files:
        store.delete(storage_key(file))


async def find_profile_file(session: AsyncSession, account_id: int, file: str) -> MediaFile:
    """The avatar or header `file` of an account that is not suspended; NotFound otherwise
    (an old file, another account's, or a made-up name)."""
    account = await session.get(Account, account_id)
    if account is None or account.suspended_at is not None:
        raise NotFound()
    if file not in (account.avatar_file, account.header_file):
        raise NotFound()
    content_type = CONTENT_TYPES[FORMATS[file.rsplit(".", 1)[1]]]
    return await public_file(
        storage_key(file), content_type, f'"{file}"', account_signals(account).headers
    )


async def delete_profile_image(session: AsyncSession, account: Account, kind: str) -> None:
    """Remove one's avatar or header (`kind`), as Mastodon 4.2's DELETE /api/v1/profile/…:
    the account shows the default picture again and remote followers are sent the new
    profile. Idempotent (nothing to remove: nothing changes, nothing is sent). Commits; the
    file is deleted once the row is."""
    old = getattr(account, f"{kind}_file")
    if old is None:
        return
    setattr(account, f"{kind}_file", None)
    await update_profile(session, account, {})
    await asyncio.to_thread(_delete_all, media_storage(), [old])


async def remove_profile_images(session: AsyncSession, account: Account) -> None:
    """Forget the account's avatar and header (account deletion): the columns are cleared in
    the caller's transaction and the files deleted (missing files are fine)."""
    files = [f for f in (account.avatar_file, account.header_file) if f]
    account.avatar_file = account.header_file = None
    await asyncio.to_thread(_delete_all, media_storage(), files)
