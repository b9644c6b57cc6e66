"""Media: upload (`/api/v1/media`, `/api/v2/media`), show and update one's uploads, and the
files themselves (`/media/<key>/<name>`), served only to whoever may see them (with single
byte ranges, which video players use to seek)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import Field
from starlette.datastructures import UploadFile

from agora.api.entities import media_json
from agora.config import get_settings
from agora.db.models import Account, MediaAttachment, Post
from agora.http.deps import SessionDep, caller, id_param
from agora.http.error_responses import ApiError
from agora.http.json import JSON
from agora.http.params import Params, body
from agora.social.media import uploads as media
from agora.social.media.av_uploads import FAILED, PENDING
from agora.social.media.card_images import find_card_file
from agora.social.media.custom_emojis import find_emoji_file
from agora.social.media.files import MediaFile, MediaInfo, find_media_file
from agora.social.media.profile_images import find_profile_file
from agora.social.media.storage import media_storage

router = APIRouter()
CHUNK = 256 * 1024


class MediaForm(Params):
    description: str | None = Field(default=None, max_length=20_000)
    focus: str | None = Field(default=None, max_length=100)


def _upload_openapi() -> dict[str, object]:
    schema = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "description": {"type": "string"},
            "focus": {"type": "string"},
        },
    }
    content = {"multipart/form-data": {"schema": schema}}
    return {"requestBody": {"content": content, "required": True}}


async def _file_bytes(request: Request) -> bytes:
    """The uploaded `file` part, read up to one byte past the limit (the service refuses
    anything larger with a clear 422)."""
    ctype = request.headers.get("content-type", "").lower()
    if not ctype.startswith("multipart/form-data"):
        raise ApiError(422, "Validation failed: File must be sent as multipart/form-data")
    upload = (await request.form()).get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "Validation failed: File can't be blank")
    settings = get_settings()
    return await upload.read(max(settings.media_max_bytes, settings.media_av_max_bytes) + 1)


async def _entity(
    session: SessionDep, row: MediaAttachment, viewer_id: int, status_code: int = 200
) -> JSON:
    visibility = None
    if row.post_id is not None:
        post = await session.get(Post, row.post_id)
        visibility = post.visibility if post is not None else None
    return JSON(media_json(MediaInfo.of(row), visibility, viewer_id), status_code=status_code)


async def _upload(
    request: Request, session: SessionDep, form: MediaForm, me_id: int, *, v2: bool
) -> JSON:
    """v2 answers 202 while a video, audio file or GIF is processed (url null); v1, which
    older clients use, waits for the transcoding (as Mastodon's v1 does)."""
    data = await _file_bytes(request)
    row = await media.upload_media(
        session, me_id, data, description=form.description, focus=form.focus, wait=not v2
    )
    return await _entity(session, row, me_id, 202 if row.processing == PENDING else 200)


# The body is read before the caller is authenticated, so no database transaction is open
# while a slow client uploads.
@router.post("/api/v2/media", openapi_extra=_upload_openapi())
async def upload_v2(
    request: Request,
    session: SessionDep,
    form: MediaForm = body(MediaForm),
    me: Account = caller("write:media"),
) -> JSON:
    return await _upload(request, session, form, me.id, v2=True)


@router.post("/api/v1/media", openapi_extra=_upload_openapi())
async def upload_v1(
    request: Request,
    session: SessionDep,
    form: MediaForm = body(MediaForm),
    me: Account = caller("write:media"),
) -> JSON:
    return await _upload(request, session, form, me.id, v2=False)


@router.get("/api/v1/media/{media_id}")
async def show(session: SessionDep, media_id: str, me: Account = caller("write:media")) -> JSON:
    """One's own upload: 206 while it is being processed, 422 when processing failed, 200
    once done (Mastodon's media_controller)."""
    row = await media.get_own_media(session, me.id, id_param(media_id))
    if row.processing == FAILED:
        raise ApiError(422, "Error processing thumbnail for uploaded media")
    return await _entity(session, row, me.id, 206 if row.processing == PENDING else 200)


@router.put("/api/v1/media/{media_id}")
async def update(
    session: SessionDep,
    media_id: str,
    me: Account = caller("write:media"),
    form: MediaForm = body(MediaForm),
) -> JSON:
    me_id = me.id
    edit = media.MediaEdit(id_param(media_id), form.description, form.focus)
    row = await media.update_media(session, me_id, edit)
    return await _entity(session, row, me_id)


def _chunks(handle: BinaryIO, start: int = 0, length: int | None = None) -> Iterator[bytes]:
    """The file from `start`, `length` bytes of it (all the rest by default)."""
    with handle:
        handle.seek(start)
        left = length
        while left is None or left > 0:
            chunk = handle.read(CHUNK if left is None else min(CHUNK, left))
            if not chunk:
                return
            if left is not None:
                left -= len(chunk)
            yield chunk


class Unsatisfiable(Exception):
    """A Range outside the file (answered 416)."""


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) byte of a single `Range: bytes=…` request (what players send to
    seek in a video); None for no range or one this does not serve (multiple ranges: the
    whole file). Unsatisfiable for a range outside the file."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first_text, _, last_text = header[6:].strip().partition("-")
    if not (first_text.isdigit() or last_text.isdigit()):
        return None
    if first_text.isdigit() and last_text and not last_text.isdigit():
        return None
    if not first_text:  # the last N bytes
        first, last = max(size - int(last_text), 0), size - 1
    else:
        first = int(first_text)
        last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or first > last:
        raise Unsatisfiable()
    return first, last


@router.api_route("/media/{key}/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def media_file(
    request: Request,
    session: SessionDep,
    key: str,
    name: str,
    viewer: str | None = None,
    sig: str | None = None,
) -> Response:
    found = await find_media_file(session, key, name, viewer, sig)
    await session.close()  # no database transaction stays open while the file is sent
    return _file_response(request, found)


@router.api_route(
    "/media/profile/{account_id}/{file}", methods=["GET", "HEAD"], include_in_schema=False
)
async def profile_file(
    request: Request, session: SessionDep, account_id: str, file: str
) -> Response:
    """An account's avatar or header (public while the account is not suspended)."""
    found = await find_profile_file(session, id_param(account_id), file)
    await session.close()
    return _file_response(request, found)


@router.api_route("/emoji/{emoji_id}/{file}", methods=["GET", "HEAD"], include_in_schema=False)
async def emoji_file(request: Request, session: SessionDep, emoji_id: str, file: str) -> Response:
    """A local custom emoji's image or its still (public)."""
    found = await find_emoji_file(session, id_param(emoji_id), file)
    await session.close()
    return _file_response(request, found)


@router.api_route("/media/cards/{card_id}/{file}", methods=["GET", "HEAD"], include_in_schema=False)
async def card_file(request: Request, session: SessionDep, card_id: str, file: str) -> Response:
    """A link preview card's image (public, as the card is)."""
    found = await find_card_file(session, id_param(card_id), file)
    await session.close()
    return _file_response(request, found)


def _file_response(request: Request, found: MediaFile) -> Response:
    """A stored file as the answer (304 for a matching ETag, headers only for HEAD)."""
    headers = {
        **found.headers,
        "Cache-Control": found.cache_control,
        "ETag": found.etag,
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": "inline",
    }
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    settings = get_settings()
    accel = settings.media_accel_redirect
    if accel and request.method == "GET":  # checked here, sent by the proxy from the disk
        headers["X-Accel-Redirect"] = accel + found.storage_key
        return Response(headers=headers, media_type=found.content_type)
    store = media_storage()
    link = store.link(found.storage_key) if request.method == "GET" else None
    if link is not None:  # checked here, sent by the bucket (a presigned URL, soon expired)
        headers["Cache-Control"] = f"private, max-age={settings.s3_url_seconds // 2}"
        headers["Location"] = link
        del headers["ETag"]  # the redirect expires; the bytes' validators are the bucket's
        return Response(status_code=302, headers=headers)
    headers["Accept-Ranges"] = "bytes"
    try:
        span = _byte_range(request.headers.get("range"), found.size)
    except Unsatisfiable:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{found.size}"})
    first, last = span if span else (0, found.size - 1)
    headers["Content-Length"] = str(last - first + 1)
    if span:
        headers["Content-Range"] = f"bytes {first}-{last}/{found.size}"
    status = 206 if span else 200
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=found.content_type)
    try:
        handle = store.open(found.storage_key)
    except FileNotFoundError:
        raise ApiError(404, "Record not found") from None
    body = _chunks(handle, first, last - first + 1)
    return StreamingResponse(
        body, status_code=status, headers=headers, media_type=found.content_type
    )
