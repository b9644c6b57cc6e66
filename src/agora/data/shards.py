"""Writing dataset records into shards (Parquet with zstd, or JSON Lines) with bounded memory:
records arrive in batches, each batch is written as it comes, and a shard is closed once it
holds `shard_rows` records. Shards are named the Hugging Face way, `train-00000-of-00003`.

The schema (`SCHEMA`) has no real id and no time finer than a day (see export.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

Format = Literal["parquet", "jsonl"]

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("author", pa.string(), nullable=False),
        pa.field("created_date", pa.date32(), nullable=False),
        pa.field("language", pa.string()),
        pa.field("text", pa.string(), nullable=False),
        pa.field("in_reply_to_id", pa.string()),
        pa.field("quote_of_id", pa.string()),
        pa.field("hashtags", pa.list_(pa.string()), nullable=False),
        pa.field("license", pa.string(), nullable=False),
        pa.field("consent_category", pa.string(), nullable=False),
        pa.field("consent_date", pa.string()),
    ]
)


@dataclass
class Shard:
    """One finished file of the dataset."""

    path: Path
    rows: int
    sha256: str = ""
    bytes: int = 0


@dataclass
class ShardWriter:
    """Appends batches of records to numbered shards under `directory`."""

    directory: Path
    fmt: Format = "parquet"
    shard_rows: int = 250_000
    shards: list[Shard] = field(default_factory=list)
    _parquet: pq.ParquetWriter | None = None
    _jsonl: Any = None

    def write(self, records: list[dict[str, Any]]) -> None:
        """Write one batch (split across shards when the current one fills up)."""
        while records:
            if not self.shards or self.shards[-1].rows >= self.shard_rows:
                self._open_next()
            room = self.shard_rows - self.shards[-1].rows
            chunk, records = records[:room], records[room:]
            self._append(chunk)
            self.shards[-1].rows += len(chunk)

    def close(self) -> list[Shard]:
        """Finish the last shard, give every shard its final name, size and sha256. An empty
        dataset still gets one (empty) shard, so readers find its schema."""
        if not self.shards:
            self._open_next()
        self._close_current()
        total = len(self.shards)
        for index, shard in enumerate(self.shards):
            final = shard.path.with_name(f"train-{index:05d}-of-{total:05d}.{self.fmt}")
            shard.path = shard.path.rename(final)
            shard.sha256 = _sha256(final)
            shard.bytes = final.stat().st_size
        return self.shards

    def _open_next(self) -> None:
        self._close_current()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"part-{len(self.shards):05d}.{self.fmt}.tmp"
        self.shards.append(Shard(path, 0))
        if self.fmt == "parquet":
            self._parquet = pq.ParquetWriter(path, SCHEMA, compression="zstd")
        else:
            self._jsonl = path.open("wb")

    def _append(self, records: list[dict[str, Any]]) -> None:
        if self._parquet is not None:
            self._parquet.write_table(pa.Table.from_pylist(records, schema=SCHEMA))
            return
        self._jsonl.write(
            b"".join(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in records)
        )

    def _close_current(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
