"""The files that travel with a dataset: `manifest.json` (what it is and how to verify it),
`README.md` (a Hugging Face dataset card) and `withdrawals.json` (record ids from earlier exports
of the same purpose that must no longer be used). None of them holds a real post or account id
(see export.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from agora import __version__
from agora.config import Settings
from agora.data.shards import SCHEMA, Shard

MANIFEST_VERSION = 2  # 2: pseudonymous record ids, days instead of times


@dataclass
class ExportFacts:
    """What an export run found, as the manifest and card report it."""

    export_id: int
    purpose: str
    category: str
    snapshot_at: datetime
    consent_position: int
    fmt: str
    posts: int
    accounts: int
    skipped_duplicates: int
    languages: list[str]
    shards: list[Shard]
    withdrawn: list[str]  # record ids
    previous_export_id: int | None


def manifest(facts: ExportFacts, settings: Settings) -> dict[str, Any]:
    """The manifest: purpose, snapshot, counts, schema, shard checksums, consent position."""
    return {
        "manifest_version": MANIFEST_VERSION,
        "generator": f"Agora {__version__}",
        "instance": settings.base_url,
        "export_id": str(facts.export_id),
        "purpose": facts.purpose,
        "consent_category": facts.category,
        "snapshot_at": _iso(facts.snapshot_at),
        "consent_log_position": str(facts.consent_position),
        "format": facts.fmt,
        "license": settings.dataset_license,
        "counts": {
            "posts": facts.posts,
            "accounts": facts.accounts,
            "skipped_duplicates": facts.skipped_duplicates,
            "withdrawn": len(facts.withdrawn),
        },
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in SCHEMA],
        "shards": [
            {"file": f"data/{s.path.name}", "rows": s.rows, "bytes": s.bytes, "sha256": s.sha256}
            for s in facts.shards
        ],
        "withdrawals": {
            "file": "withdrawals.json",
            "count": len(facts.withdrawn),
            "previous_export_id": _sid(facts.previous_export_id),
        },
        "age_check": "not recorded by this instance",
    }


def write_files(directory: Path, facts: ExportFacts, settings: Settings) -> dict[str, Any]:
    """Write withdrawals.json, README.md and, last, manifest.json (a directory without a
    manifest is an unfinished export). Returns the manifest."""
    withdrawals = {
        "purpose": facts.purpose,
        "export_id": str(facts.export_id),
        "ids": facts.withdrawn,
    }
    (directory / "withdrawals.json").write_bytes(orjson.dumps(withdrawals))
    (directory / "README.md").write_text(card(facts, settings), encoding="utf-8")
    data = manifest(facts, settings)
    (directory / "manifest.json").write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    return data


def size_category(rows: int) -> str:
    """Hugging Face's size_categories bucket for `rows` records."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")]
    bounds += [(1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
    for limit, name in bounds:
        if rows < limit:
            return name
    return "n>100M"


def card(facts: ExportFacts, settings: Settings) -> str:
    """The dataset card: Hugging Face YAML header, then how consent was gathered."""
    languages = "".join(f"- {lang}\n" for lang in facts.languages) or "- und\n"
    return f"""---
license: {settings.dataset_license}
language:
{languages}size_categories:
- {size_category(facts.posts)}
task_categories:
- text-generation
pretty_name: {settings.instance_title} posts ({facts.purpose})
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.{facts.fmt}
---

# {settings.instance_title} posts, consented for `{facts.purpose}`

Public posts from {settings.base_url} whose authors chose to allow
`{facts.category}`, as their choices stood at {_iso(facts.snapshot_at)}
(consent log position {facts.consent_position}). {facts.posts} posts by {facts.accounts} people.

## How consent was gathered

Every person on this instance chooses, per category, whether their content may be reused:
generative-AI training (text), generative-AI training (images), bulk datasets and research,
public archiving, protocol bridging, and the built-in assistant reading their posts. Training
and datasets are off until the person turns them on; a single post can opt out of all AI reuse.
Each change is written to an append-only consent log; this export used the log up to the
position above, and the instance can prove every record was allowed at that point.

## What is in it

Only public, undeleted posts by accounts in good standing, never AI-generated posts. Replies
keep only their own author's text; mentions of people who did not consent read `@[user]`;
e-mail addresses and phone numbers are replaced by `[email]` and `[phone]`; exact duplicates
are dropped. Links to pages of this instance read `[link]`. `in_reply_to_id` / `quote_of_id`
are set only when the parent is also in this dataset.

## What can and cannot be linked back

- **Record ids** (`id`, `in_reply_to_id`, `quote_of_id`, withdrawal lists) and **authors** are
  pseudonymous: keyed hashes with a secret only this instance keeps. They are stable across
  `{facts.purpose}` exports (so withdrawals can name records), and unrelated to the ids of
  exports for any other purpose, so records of two purposes cannot be joined by id. No
  record id is a post id: it cannot be looked up on the instance or its API.
- **Times** are given to the day (`created_date`, `consent_date`), never to the millisecond
  (a post id holds its creation time, so a precise time would point at the post).
- **The text itself is public**: it was a public post, and anyone can search the instance
  or the web for a record's words and find the post and its author. Pseudonyms stop
  look-up by id and linking across purposes; they do not make public text anonymous.
  Mentions of people who consented are kept as `@username`.
- **The instance** can map a record back to its post, and shows each author which of their
  posts an export included (record ids included), so they can check and withdraw.

## Withdrawals

`withdrawals.json` lists the record ids from earlier `{facts.purpose}` exports of this
instance that are no longer allowed (the author withdrew, deleted the post or opted it out).
Users of an earlier export must delete those records. Check shard integrity against
`manifest.json` (sha256).
"""


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


def _sid(value: int | None) -> str | None:
    return None if value is None else str(value)
