"""The web app, server-side: the home page HTML of a signed-in person (40 posts), a like
round trip as HTMX makes it (POST to the swapped post fragment), and the page weight of the
JS and CSS a first visit loads (gzip).

    python -m bench.web [--backend postgresql] [--users 10000 --posts 1000000]

Requests go through the whole ASGI app in process (httpx.ASGITransport): session cookie,
CSRF check, service calls, the post cards joined from the render cache (web/post_cards.py;
warmed by the first requests) and Jinja rendering of the page around them; no network.
`cpu_ms_per_page` is the process's CPU time (client and app) per home page. Viewers are random
demo accounts with at least 40 entries in their home feed. Targets: home page p50 <= 15 ms,
like round trip p50 <= 10 ms, JS+CSS <= 100 KB compressed. The likes are undone and the
jobs they queued deleted, so the data set is left as it was.
"""

from __future__ import annotations

import gzip
import re
import time
from typing import Any

import httpx
from sqlalchemy import delete, func, select

from bench.common import dataset, emit, latency_stats, parser, run
from bench.timeline import viewers

ASSETS = ("vendor/htmx.min.js", "app.js", "shortcuts.js", "style.css")
POST_ID = re.compile(r'data-id="(\d+)"')


def page_weight() -> dict[str, Any]:
    """Bytes of the JS and CSS every page loads, raw and gzip-compressed."""
    from agora.web.render import STATIC

    files = {name: (STATIC / name).read_bytes() for name in ASSETS if (STATIC / name).exists()}
    return {
        "files": sorted(files),
        "raw_kb": round(sum(len(b) for b in files.values()) / 1024, 1),
        "gzip_kb": round(sum(len(gzip.compress(b, 9)) for b in files.values()) / 1024, 1),
        "htmx_installed": "vendor/htmx.min.js" in files,
    }


async def _signed_in_clients(app: Any, db: Any, people: list[int]) -> list[httpx.AsyncClient]:
    from agora.auth.web_sessions import start_session
    from agora.db.models import Account

    clients = []
    for account_id in people:
        async with db.session(write=True) as session:
            token = await start_session(session, await session.get(Account, account_id), "bench")
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
        client.cookies.set("agora_session", token)
        clients.append(client)
    return clients


async def _home_pages(
    clients: list[httpx.AsyncClient], requests: int
) -> tuple[list[float], int, float]:
    """Wall times of `requests` home pages, the most posts a page showed, and the CPU time
    (this process: client and app) per page in ms."""
    times, posts = [], 0
    cpu = time.process_time()
    for i in range(requests):
        started = time.perf_counter()
        response = await clients[i % len(clients)].get("/home")
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text[:300]
        posts = max(posts, len(POST_ID.findall(response.text)))
    return times, posts, (time.process_time() - cpu) / requests * 1000


async def _likes(clients: list[httpx.AsyncClient], requests: int) -> list[float]:
    times = []
    for i in range(requests):
        client = clients[i % len(clients)]
        home = (await client.get("/home")).text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', home).group(1)  # type: ignore[union-attr]
        post_id = POST_ID.findall(home)[i % 5]
        headers = {"HX-Request": "true", "X-CSRF-Token": csrf}
        for action in ("favourite", "unfavourite"):
            started = time.perf_counter()
            response = await client.post(f"/web/statuses/{post_id}/{action}", headers=headers)
            elapsed = time.perf_counter() - started
            assert response.status_code == 200 and "<article" in response.text, response.text
            if action == "favourite":
                times.append(elapsed)
    return times


async def main() -> None:
    args = parser(__doc__ or "").parse_args()
    async with dataset(args) as data:
        from agora.app import create_app
        from agora.db.engine import Database
        from agora.db.migrate import upgrade
        from agora.db.models import Job, WebSession

        db = Database(data.url)
        await upgrade(db.engine)  # the web_sessions table (migration 0009) on older data sets
        app = create_app(migrate=False)
        app.state.db = db
        async with db.session() as session:
            last_job = await session.scalar(select(func.max(Job.id))) or 0
        clients = await _signed_in_clients(app, db, await viewers(db, 20, args.seed))
        try:
            await _home_pages(clients, 20)  # warm up: statements, templates, caches
            home, posts, cpu_ms = await _home_pages(clients, 200)
            likes = await _likes(clients, 100)
        finally:
            for client in clients:
                await client.aclose()
            async with db.session(write=True) as session:
                await session.execute(delete(Job).where(Job.id > last_job))
                await session.execute(delete(WebSession).where(WebSession.user_agent == "bench"))
                await session.commit()
            await db.dispose()
        weight = page_weight()
        home_stats, like_stats = latency_stats(home), latency_stats(likes)
        emit(
            "web",
            data,
            {
                "home_page": {
                    **home_stats,
                    "cpu_ms_per_page": round(cpu_ms, 3),
                    "posts_per_page": posts,
                },
                "like_round_trip": like_stats,
                "page_weight": weight,
            },
            {
                "home_page_p50_le_15ms": home_stats["p50_ms"] <= 15,
                "like_round_trip_p50_le_10ms": like_stats["p50_ms"] <= 10,
                "js_css_gzip_le_100kb": weight["gzip_kb"] <= 100,
            },
        )


if __name__ == "__main__":
    run(main())
