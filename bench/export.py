"""Dataset export: `agora export dataset --purpose genai-text` as a real process on the demo
data set (about 30% of demo people allow text training), timed, with the child's peak RSS.

    python -m bench.export [--backend postgresql] [--users 10000 --posts 1000000] [--format jsonl]

Targets: 1,000,000 posts exported in <= 30 s on SQLite, peak RSS <= 500 MB. Each run writes a
new export (its withdrawal list is against the previous run of the same purpose).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import dataset, emit, parser, run


def export_once(url: str, out: Path, fmt: str) -> dict[str, Any]:
    """Run the CLI export into `out`; wall time, peak RSS of the child and the manifest."""
    env = {**os.environ, "AGORA_DATABASE_URL": url, "COLUMNS": "120"}
    command = [sys.executable, "-m", "agora.cli.main", "export", "dataset"]
    command += ["--purpose", "genai-text", "--out", str(out), "--format", fmt]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            log.seek(0)
            raise SystemExit(log.read().decode())
    peak_kb = usage.ru_maxrss
    manifest = json.loads((out / "manifest.json").read_text())
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "posts": manifest["counts"]["posts"],
        "accounts": manifest["counts"]["accounts"],
        "duplicates_dropped": manifest["counts"]["skipped_duplicates"],
        "withdrawn": manifest["counts"]["withdrawn"],
        "shards": len(manifest["shards"]),
        "bytes": sum(s["bytes"] for s in manifest["shards"]),
    }


async def main() -> None:
    """Entry point."""
    p = parser(__doc__ or "")
    p.add_argument("--format", default="parquet", choices=("parquet", "jsonl"))
    args = p.parse_args()
    async with dataset(args) as data:
        with tempfile.TemporaryDirectory(prefix="agora-export-") as tmp:
            metrics = export_once(data.url, Path(tmp) / "dataset", args.format)
    metrics["posts_per_second"] = round(metrics["posts"] / metrics["seconds"])
    targets = {"le_30s": metrics["seconds"] <= 30, "rss_le_500mb": metrics["peak_rss_mb"] <= 500}
    emit(f"export_{args.format}", data, metrics, targets)


if __name__ == "__main__":
    run(main())
