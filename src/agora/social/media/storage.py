"""Where media files live, behind a narrow interface: put, open, delete and link by key.

`LocalMediaStorage` (the default) keeps files under `AGORA_MEDIA_DIR`; `S3MediaStorage`
(`AGORA_MEDIA_STORAGE=s3`) keeps them in an S3-compatible bucket, through boto3 and the real
S3 protocol (tests run it against moto's standalone server, an emulator). Nothing else in
Agora touches the files. Invariants:

- keys are relative paths made of lowercase hex, letters, digits, dots and slashes (see
  `media.storage_key`); anything else is refused, so a key can never leave the root;
- bucket objects are private (no ACL, no public policy needed): whoever fetches a file is
  first checked by Agora (`files.find_media_file`), which then answers with the bytes (local)
  or with a redirect to a short-lived presigned URL (`link`), so a media URL copied from
  someone's client is never worth more than that person's own access, wherever bytes live.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import re
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from agora.config import get_settings

_KEY = re.compile(r"^[a-z0-9]+(/[a-z0-9]+)*\.[a-z0-9]+$")


class MediaStorage(Protocol):
    """The whole storage interface. Methods are blocking; async callers use a thread."""

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` durably (replacing anything there)."""

    def open(self, key: str) -> BinaryIO:
        """The stored bytes for reading; FileNotFoundError when there are none."""

    def delete(self, key: str) -> None:
        """Remove `key`; a missing key is not an error (deletes are retried)."""

    def link(self, key: str) -> str | None:
        """A URL that serves `key` for a short while without Agora in the way, or None when
        Agora must send the bytes itself."""


def _checked(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"invalid media key {key!r}")
    return key


class LocalMediaStorage:
    """Files in a local directory, written atomically (temporary file, fsync, rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    def put(self, key: str, data: bytes) -> None:
        """Write atomically: readers never see a partial file."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def open(self, key: str) -> BinaryIO:
        """Open for reading."""
        return self._path(key).open("rb")

    def delete(self, key: str) -> None:
        """Remove the file, and its directory once empty (the shared fan-out directories
        above it stay, so a concurrent `put` never loses its parent)."""
        path = self._path(key)
        path.unlink(missing_ok=True)
        if path.parent != self.root:
            with contextlib.suppress(OSError):  # not empty yet, or already gone
                path.parent.rmdir()

    def link(self, key: str) -> str | None:
        """None: Agora (or nginx, `AGORA_MEDIA_ACCEL_REDIRECT`) sends local files."""
        return None

    def stored_keys(self) -> Iterator[str]:
        """Every stored key (for `agora media copy`), temporary files left out."""
        for path in sorted(self.root.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and _KEY.match(key):
                yield key


class S3MediaStorage:
    """Objects in one bucket of an S3-compatible service. `client` is a boto3 S3 client
    (thread-safe; the methods run in worker threads like the local store's)."""

    def __init__(self, client: Any, bucket: str, url_seconds: int) -> None:
        self.client = client
        self.bucket = bucket
        self.url_seconds = url_seconds

    def put(self, key: str, data: bytes) -> None:
        """One PUT: S3 makes an object visible whole or not at all."""
        content_type = mimetypes.guess_type(_checked(key))[0] or "application/octet-stream"
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def open(self, key: str) -> BinaryIO:
        """The object's body, streamed; FileNotFoundError for a missing key."""
        try:
            found = self.client.get_object(Bucket=self.bucket, Key=_checked(key))
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(key) from None
        return cast(BinaryIO, found["Body"])

    def delete(self, key: str) -> None:
        """DELETE is idempotent in S3: a missing key is not an error."""
        self.client.delete_object(Bucket=self.bucket, Key=_checked(key))

    def link(self, key: str) -> str | None:
        """A presigned GET valid `url_seconds` (signed locally: no request is made)."""
        params = {"Bucket": self.bucket, "Key": _checked(key)}
        url = self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=self.url_seconds
        )
        return str(url)


@cache
def _local(root: str) -> LocalMediaStorage:
    return LocalMediaStorage(Path(root))


@cache
def _s3(
    bucket: str,
    endpoint: str | None,
    region: str,
    key_id: str | None,
    secret: str | None,
    addressing: str,
    url_seconds: int,
) -> S3MediaStorage:
    import boto3  # only installations that use S3 pay for importing it
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": addressing},
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=32,
    )
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=config,
    )
    return S3MediaStorage(client, bucket, url_seconds)


def s3_storage() -> S3MediaStorage:
    """The bucket the `AGORA_S3_*` settings name (whichever store is in use)."""
    s = get_settings()
    if not s.s3_bucket:
        raise ValueError("AGORA_S3_BUCKET is not set")
    return _s3(
        s.s3_bucket,
        s.s3_endpoint_url,
        s.s3_region,
        s.s3_access_key_id,
        s.s3_secret_access_key,
        s.s3_addressing_style,
        s.s3_url_seconds,
    )


def media_storage() -> MediaStorage:
    """The configured store: the bucket with `AGORA_MEDIA_STORAGE=s3`, else the directory
    `AGORA_MEDIA_DIR`."""
    settings = get_settings()
    if settings.media_storage == "s3":
        return s3_storage()
    return _local(str(settings.media_dir))


def copy_local_to_s3(root: Path, target: S3MediaStorage) -> int:
    """Copy every file under `root` (a local media directory) into the bucket, skipping the
    keys already there with the same size (so an interrupted copy resumes). Returns the
    number of files copied. The local files stay: remove them once the server runs on S3."""
    copied = 0
    source = LocalMediaStorage(root)
    for key in source.stored_keys():
        size = (root / key).stat().st_size
        try:
            head = target.client.head_object(Bucket=target.bucket, Key=key)
            if head["ContentLength"] == size:
                continue
        except target.client.exceptions.ClientError:
            pass  # not there yet
        target.put(key, (root / key).read_bytes())
        copied += 1
    return copied
