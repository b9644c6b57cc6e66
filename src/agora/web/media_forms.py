"""What the web composer sends besides text: up to four images, videos or audio files (a
video is transcoded before the post is made) with alt text (uploaded
through agora.social.media.uploads, as `POST /api/v2/media` does, then attached by id in the post's
Draft) and a poll (a PollDraft, checked by agora.social.posts.polls when the post is made)."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile

from agora.config import get_settings
from agora.http.params import flag
from agora.http.ratelimit import web_upload_attempt
from agora.social.media.uploads import upload_media
from agora.social.posts.polls import PollDraft
from agora.social.rules.errors import Invalid
from agora.web.session import field


def uploaded_file(form: FormData, name: str) -> UploadFile | None:
    """The file sent in field `name`, or None when none was chosen (an empty part)."""
    value = form.get(name)
    if isinstance(value, UploadFile) and value.filename:
        return value
    return None


async def read_uploads(request: Request, account_id: int, uploads: list[UploadFile]) -> list[bytes]:
    """The uploaded files' bytes, each read up to one past the size limit (the service
    refuses more), once all of them fit the account's media rate limit (else a 429 page,
    before anything is read or stored)."""
    for _ in uploads:
        await web_upload_attempt(request, account_id)
    settings = get_settings()
    most = max(settings.media_max_bytes, settings.media_av_max_bytes) + 1
    return [await upload.read(most) for upload in uploads]


def composer_poll(form: FormData) -> PollDraft | None:
    """The poll in the composer, or None when no option was filled in."""
    options = [v.strip() for v in form.getlist("poll_option") if isinstance(v, str)]
    if not any(options):
        return None
    seconds = field(form, "poll_expires_in", "86400")
    if not (seconds.isascii() and seconds.isdigit() and len(seconds) < 9):
        raise Invalid("Validation failed: Poll expires at is not valid")
    return PollDraft(
        options=[o for o in options if o],
        expires_in=int(seconds),
        multiple=flag(field(form, "poll_multiple")),
    )


async def composer_media(
    request: Request, session: AsyncSession, owner_id: int, form: FormData, *, with_poll: bool
) -> list[int] | None:
    """Upload the images chosen in the composer (`media_N` with alt text `description_N`),
    in order; their ids, or None when there are none. Invalid, before anything is uploaded,
    for more images than a post may hold or images with a poll; Invalid for a bad file."""
    most = get_settings().media_max_attachments
    chosen = [(n, f) for n in range(8) if (f := uploaded_file(form, f"media_{n}"))]
    if not chosen:
        return None
    if len(chosen) > most:
        raise Invalid(f"Validation failed: A post can have at most {most} images")
    if with_poll:
        raise Invalid("Validation failed: A post cannot have both a poll and media attachments")
    files = await read_uploads(request, owner_id, [upload for _, upload in chosen])
    ids = []
    for (n, _), data in zip(chosen, files, strict=True):
        description = field(form, f"description_{n}") or None
        # a video is transcoded in this request: the post attaches it at once
        row = await upload_media(session, owner_id, data, description=description, wait=True)
        ids.append(row.id)
    return ids
