"""The `cache_remote_media` job: a remote post's image fetched into the media store, in two
phases so no transaction is open during the request or the image work. `fetch_image` (no
transaction) fetches it through the federation client (the SSRF guard: no private or
loopback address, also after redirects; at most `media_max_bytes`), then checks, cleans and
writes it as an upload is (social/media/remote_files.py); `keep_image` (the job's
transaction) records the files, or drops the image when it was refused (a private address,
too large, not an image, gone: nothing stored, the post stays without it). A failure that may
pass (a timeout, a 5xx) is retried; when the retries are spent the image is dropped too.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.engine import Database
from agora.federation.client import FederationError, fetch_file
from agora.jobs.job_kinds import RemoteMediaJob
from agora.social.media import remote_files
from agora.social.rules.errors import Invalid


@dataclass(frozen=True, slots=True)
class Fetched:
    """What `fetch_image` found: the stored files, or a refusal (`files` None)."""

    files: remote_files.StoredFiles | None
    refused: bool = False


async def fetch_image(db: Database, payload: RemoteMediaJob) -> Fetched:
    """Fetch, check and store the image (see the module docstring)."""
    async with db.session() as session:
        found = await remote_files.image_to_fetch(session, payload["media_id"])
    if found is None:  # fetched already, or the post is gone
        return Fetched(None)
    url, key = found
    try:
        data = await fetch_file(url, get_settings().media_max_bytes)
        return Fetched(await remote_files.store_fetched_image(key, data))
    except FederationError as exc:
        if not exc.permanent:
            raise
    except Invalid:
        pass
    return Fetched(None, refused=True)


async def keep_image(session: AsyncSession, payload: RemoteMediaJob, fetched: Fetched) -> None:
    """Record the fetched files, or drop a refused image."""
    if fetched.refused:
        await remote_files.drop_remote_image(session, payload["media_id"])
    elif fetched.files is not None:
        await remote_files.keep_fetched_image(session, payload["media_id"], fetched.files)


async def give_up(session: AsyncSession, payload: RemoteMediaJob) -> None:
    """Retries spent: the post stays without the image."""
    await remote_files.drop_remote_image(session, payload["media_id"])
