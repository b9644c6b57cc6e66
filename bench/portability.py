"""Moving in and out: a person's archive and a CSV import, on a fresh database of their own.

    python -m bench.portability [--backend postgresql] [--posts 20000] [--images 500]
                                [--follows 5000] [--drain] [--no-archive]

The archive: one account with `--posts` posts (a tenth of them replies to its own) and
`--images` uploaded images (real uploads, a 1200x900 JPEG each, attached to its posts), its
`build_archive` job run by a worker as in production: wall and CPU time, the zip's size, the
peak RSS of the process while the job runs (`VmHWM`, reset before it; the process's own size
included). The import: `--follows` local accounts in a Mastodon `following_accounts.csv`,
through `csv_imports.start_import` and the `run_csv_import` job's two phases: wall and CPU
time and the SQL statements it sent per row (`--drain` then runs the follows' own feed-merge
and notification jobs, timed apart). `--no-archive` measures the import alone.
The database is removed afterwards. Targets: archive <= 60 s and <= 300 MB peak memory;
import of 5,000 follows <= 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import resource
import time
import zipfile
from pathlib import Path
from typing import Any

from bench.common import own_post_rows, use_database, write_result
from bench.media import _fresh_database

PROFILE = bool(os.environ.get("PROFILE"))


def _jpeg() -> bytes:
    from PIL import Image

    image = Image.radial_gradient("L").resize((1200, 900)).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


async def _seed(db: Any, posts: int, images: int, follows: int) -> tuple[int, int]:
    from sqlalchemy import insert, update

    from agora.db.models import Account, MediaAttachment, Post, utcnow
    from agora.ids import new_id
    from agora.social.media.uploads import upload_media
    from agora.social.people.accounts import create_account

    async with db.session(write=True) as session:
        mover = await create_account(
            session, username="mover", email="m@example.org", password="bench password"
        )
        arriving = await create_account(
            session, username="arriving", email="a@example.org", password="bench password"
        )
        await session.commit()
        mover_id, arriving_id = mover.id, arriving.id
    rows = own_post_rows(mover_id, posts, "about #moving and other things, written to be archived")
    ids = [row["id"] for row in rows]
    async with db.transaction() as session:
        for chunk in range(0, len(rows), 2000):
            await session.execute(insert(Post), rows[chunk : chunk + 2000])
    data = _jpeg()
    for n in range(images):
        async with db.session(write=True) as session:
            media = await upload_media(session, mover_id, data)
            await session.execute(
                update(MediaAttachment)
                .where(MediaAttachment.id == media.id)
                .values(post_id=ids[n * 7 % len(ids)])
            )
            await session.commit()
    async with db.transaction() as session:
        people = [
            {
                "id": new_id(),
                "username": f"friend{n}",
                "username_lower": f"friend{n}",
                "created_at": utcnow(),
            }
            for n in range(follows)
        ]
        for chunk in range(0, len(people), 2000):
            await session.execute(insert(Account), people[chunk : chunk + 2000])
    return mover_id, arriving_id


async def _archive(db: Any, mover_id: int) -> dict[str, Any]:
    from agora.db.models import Account
    from agora.jobs.worker import Worker
    from agora.social.people import account_archives

    async with db.session(write=True) as session:
        mover = await session.get(Account, mover_id)
        archive = await account_archives.request_archive(session, mover)
    Path("/proc/self/clear_refs").write_text("5")  # the peak RSS counts from here
    started, cpu = time.perf_counter(), time.process_time()
    if PROFILE:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.enable()
    await Worker(db).run_until_idle()
    if PROFILE:
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(35)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak_kb = next(
        int(line.split()[1])
        for line in Path("/proc/self/status").read_text().splitlines()
        if line.startswith("VmHWM:")
    )
    async with db.session() as session:
        path = await account_archives.archive_file(session, mover_id, archive.id)
    with zipfile.ZipFile(path) as zipped:
        with zipped.open("outbox.json") as raw:
            items = len(json.load(raw)["orderedItems"])
        media = sum(1 for n in zipped.namelist() if n.startswith("media_attachments/"))
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "zip_mb": round(Path(path).stat().st_size / 2**20, 1),
        "outbox_items": items,
        "media_files": media,
        "peak_rss_mb": round(peak_kb / 1024, 1),
    }


async def _import(db: Any, arriving_id: int, follows: int, drain: bool) -> dict[str, Any]:
    from sqlalchemy import event, func, select

    from agora.config import get_settings
    from agora.db.models import Account, CsvImport, Follow
    from agora.federation import csv_import_runs
    from agora.jobs.job_kinds import CsvImportJob
    from agora.jobs.worker import Worker
    from agora.social.people import csv_imports

    domain = get_settings().domain
    lines = ["Account address,Show boosts,Notify on new posts,Languages"]
    lines += [f"friend{n}@{domain},true,false," for n in range(follows)]
    async with db.session(write=True) as session:
        arriving = await session.get(Account, arriving_id)
        found = await csv_imports.start_import(
            session, arriving, "following", "\n".join(lines).encode()
        )
    statements = [0]

    def counted(*_args: Any) -> None:
        statements[0] += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", counted)
    started, cpu = time.perf_counter(), time.process_time()
    payload: CsvImportJob = {"import_id": found.id}
    await csv_import_runs.run_import(db, payload)  # the job's phases, as a worker runs them
    async with db.transaction() as session:
        await csv_import_runs.import_finished(session, payload, None)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    event.remove(db.engine.sync_engine, "before_cursor_execute", counted)
    draining = time.perf_counter()
    if drain:  # the follows' own jobs (feed merges, notifications)
        await Worker(db).run_until_idle()
    drained = time.perf_counter() - draining
    async with db.session() as session:
        done = await session.get(CsvImport, found.id)
        followed = await session.scalar(
            select(func.count()).select_from(Follow).where(Follow.account_id == arriving_id)
        )
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "statements": statements[0],
        "statements_per_row": round(statements[0] / max(follows, 1), 2),
        "follow_jobs_seconds": round(drained, 2) if drain else None,
        "state": done.state if done else None,
        "imported": done.imported if done else 0,
        "failed": done.failed if done else 0,
        "follows": followed,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    import tempfile

    from agora.db.engine import Database
    from agora.job_registry import register_all_jobs

    url, remove = await _fresh_database(args.backend)
    work = Path(tempfile.mkdtemp(prefix="agora-bench-portability-"))
    use_database(url, media_dir=work / "media", archive_dir=work / "archives")
    register_all_jobs()
    db = Database(url)
    posts, images = (0, 0) if args.no_archive else (args.posts, args.images)
    try:
        seeding = time.perf_counter()
        mover_id, arriving_id = await _seed(db, posts, images, args.follows)
        seeded = time.perf_counter() - seeding
        archive = None if args.no_archive else await _archive(db, mover_id)
        imported = await _import(db, arriving_id, args.follows, args.drain)
    finally:
        await db.dispose()
        await remove()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "benchmark": "portability",
        "backend": args.backend,
        "posts": posts,
        "images": images,
        "seed_seconds": round(seeded, 1),
        "archive": archive,
        "import_follows": imported,
        "process_peak_rss_mb": round(rss, 1),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "targets": {
            "archive_60s": archive["seconds"] <= 60 if archive else None,
            "archive_300mb": archive["peak_rss_mb"] <= 300 if archive else None,
            "import_30s": imported["seconds"] <= 30,
        },
    }
    write_result(f"portability-{args.backend}" + ("-import" if args.no_archive else ""), result)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--follows", type=int, default=5_000)
    parser.add_argument("--drain", action="store_true", help="run the follows' own jobs too")
    parser.add_argument("--no-archive", action="store_true", help="measure the import alone")
    asyncio.run(main(parser.parse_args()))
