"""Media upload: a 12-megapixel JPEG checked, cleaned (EXIF orientation applied, metadata
stripped, re-encoded), previewed (640 px), blurhashed, stored and committed.

    python -m bench.media [--backend postgresql] [--runs 10]

Through the service layer (`media.upload_media`, with the time spent in Pillow reported
separately) and over HTTP (`POST /api/v2/media` multipart to one uvicorn worker, as a client
uploads). The upload path reads nothing from the demo data set (one token look-up, one insert,
one job row), so it runs on a fresh database of its own and leaves the demo set untouched.
Target: upload + preview <= 1 s (p50, service layer and HTTP).
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.common import PG_SERVER, Dataset, _pg, emit, latency_stats, parser, run, use_database

WIDTH, HEIGHT = 4000, 3000  # 12 megapixels


def photo_jpeg(seed: int = 0) -> bytes:
    """A photo-like 12 MP JPEG (gradients and sensor noise, quality 92, about 5 MB) with EXIF
    orientation and GPS, as a phone writes it."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    x = np.linspace(0, 255, WIDTH, dtype=np.float32)
    y = np.linspace(0, 255, HEIGHT, dtype=np.float32)
    base = x[None, :] * 0.5 + y[:, None] * 0.5
    pixels = np.stack([base, 255 - base, base * 0.3 + 60], -1)
    pixels += rng.normal(0, 10, (HEIGHT, WIDTH, 3)).astype(np.float32)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype("uint8"))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 29.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


async def _fresh_database(backend: str) -> tuple[str, Any]:
    """A new, migrated database; returns its URL and a function that removes it."""
    from agora.db.engine import Database
    from agora.db.migrate import upgrade

    if backend == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="agora-bench-media-")) / "agora.db"
        url = f"sqlite+aiosqlite:///{path}"

        async def remove() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

    else:
        name = f"agora_bench_media_{secrets.token_hex(3)}"
        await _pg(f'CREATE DATABASE "{name}"')
        url = f"{PG_SERVER.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"

        async def remove() -> None:
            await _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    db = Database(url)
    try:
        await upgrade(db.engine)
    finally:
        await db.dispose()
    return url, remove


async def _uploader(url: str) -> tuple[int, str]:
    """An account and a write token for it."""
    from agora.auth import oauth
    from agora.db.engine import Database
    from agora.social.people.accounts import create_account

    db = Database(url)
    try:
        async with db.session(write=True) as session:
            account = await create_account(
                session, username="uploader", email="u@example.org", password="bench password"
            )
            await session.commit()
            app = await oauth.register_app(
                session, name="bench", redirect_uris=oauth.OOB, scopes="write", website=None
            )
            token = (await oauth.issue_token(session, app, account.id, ["write"])).token
            return account.id, token
    finally:
        await db.dispose()


async def service_layer(url: str, owner_id: int, data: bytes, runs: int) -> dict[str, Any]:
    """`upload_media` end to end, and `process_image` alone, `runs` times each."""
    from agora.config import get_settings
    from agora.db.engine import Database
    from agora.social.media.images import process_image
    from agora.social.media.uploads import upload_media

    settings = get_settings()
    db = Database(url)
    uploads, processing = [], []
    try:
        for _ in range(runs + 1):  # the first is a warm-up
            start = time.perf_counter()
            processed = process_image(
                data,
                max_pixels=settings.media_max_pixels,
                preview_side=settings.media_preview_side,
            )
            processing.append(time.perf_counter() - start)
            async with db.session(write=True) as session:
                start = time.perf_counter()
                await upload_media(session, owner_id, data, description="bench")
                uploads.append(time.perf_counter() - start)
    finally:
        await db.dispose()
    return {
        "upload": latency_stats(uploads[1:]),
        "pillow_only": latency_stats(processing[1:]),
        "original": f"{processed.original.width}x{processed.original.height}",
        "original_bytes": len(processed.original.data),
        "preview": f"{processed.preview.width}x{processed.preview.height}",
        "preview_bytes": len(processed.preview.data),
    }


def over_http(url: str, token: str, data: bytes, runs: int) -> dict[str, Any]:
    """`POST /api/v2/media` (multipart) to one uvicorn worker, sequentially."""
    from bench.http import server

    times = []
    with server(url) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(runs + 1):
            start = time.perf_counter()
            r = http.post(
                "/api/v2/media",
                headers=headers,
                files={"file": ("IMG_0001.JPG", data, "image/jpeg")},
                timeout=60,
            )
            times.append(time.perf_counter() - start)
            r.raise_for_status()
            preview = urlsplit(r.json()["preview_url"])  # the server's base URL is not set
            fetched = http.get(f"{preview.path}?{preview.query}")
            fetched.raise_for_status()
    return {"upload": latency_stats(times[1:])}


async def main() -> None:
    """Entry point: both measurements on a fresh database, one JSON line."""
    p = parser(__doc__ or "")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--no-http", action="store_true", help="service layer only")
    args = p.parse_args()
    media_dir = tempfile.mkdtemp(prefix="agora-bench-media-files-")
    os.environ["AGORA_MEDIA_DIR"] = media_dir
    url, remove = await _fresh_database(args.backend)
    try:
        use_database(url)
        owner_id, token = await _uploader(url)
        data = photo_jpeg(args.seed)
        service = await service_layer(url, owner_id, data, args.runs)
        http = None if args.no_http else over_http(url, token, data, args.runs)
    finally:
        await remove()
        shutil.rmtree(media_dir, ignore_errors=True)
    metrics: dict[str, Any] = {
        "image": {"pixels": WIDTH * HEIGHT, "jpeg_bytes": len(data)},
        "service": service,
    }
    targets = {"service_p50_le_1s": service["upload"]["p50_ms"] <= 1000}
    if http is not None:
        metrics["http"] = http
        targets["http_p50_le_1s"] = http["upload"]["p50_ms"] <= 1000
    emit("media", Dataset(url, args.backend, 0, 0, None), metrics, targets)


if __name__ == "__main__":
    run(main())
