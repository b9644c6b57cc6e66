"""Where media files live, behind a narrow interface: put, open and delete by key.

`LocalMediaStorage` (the default) keeps files under `AGORA_MEDIA_DIR`. An S3-compatible store
can implement the same three methods later; nothing else in Agora touches the files.
Keys are relative paths made of lowercase hex, letters, digits, dots and slashes (see
`media.storage_key`); anything else is refused, so a key can never leave the root.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from functools import cache
from pathlib import Path
from typing import BinaryIO, Protocol

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


class LocalMediaStorage:
    """Files in a local directory, written atomically (temporary file, fsync, rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key:
            raise ValueError(f"invalid media key {key!r}")
        return self.root / key

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


@cache
def _local(root: str) -> LocalMediaStorage:
    return LocalMediaStorage(Path(root))


def media_storage() -> MediaStorage:
    """The configured store (a local directory: `AGORA_MEDIA_DIR`)."""
    return _local(str(get_settings().media_dir))
