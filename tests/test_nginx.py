"""docs/deploy/nginx.conf as it is (its TLS lines dropped, a local port and the test's paths
put in), run by Debian's nginx in front of a live `agora serve`: the API, a body over
Agora's limit, server-sent events arriving through it at once, media checked by Agora and sent
by nginx from the disk, static files, the real client address in Agora's logs, and probes
closed to the public."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from conftest import BACKEND
from live_server import LiveServer, free_port, wait_for
from nginx_proxy import NGINX, STATIC, Nginx, site_config
from streaming_clients import SSE, Person, sign_up

ELSEWHERE = "127.0.0.2"  # a client address other than nginx's own (all of 127/8 is local)

pytestmark = [
    pytest.mark.skipif(BACKEND == "postgresql", reason="a proxy test: run in the SQLite pass"),
    pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed (make setup)"),
]


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[LiveServer, str]]:
    """Agora on one port, nginx in front of it on another."""
    port = free_port()
    front = f"http://127.0.0.1:{port}"
    server = LiveServer(
        BACKEND,
        extra_env={
            "AGORA_BASE_URL": front,
            "AGORA_DOMAIN": f"127.0.0.1:{port}",
            "AGORA_MEDIA_ACCEL_REDIRECT": "/_agora_media/",
            "AGORA_LOG_FORMAT": "json",
            "AGORA_LOG_LEVEL": "info",
        },
    )
    server.start()
    work = Path(tempfile.mkdtemp(prefix="agora-nginx-"))
    media = server.workdir / "media"
    media.mkdir(exist_ok=True)
    nginx = Nginx(work, port)
    try:
        nginx.start(site_config([server.port], port, media, work))
        yield server, front
    finally:
        nginx.stop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def alice(stack: tuple[LiveServer, str]) -> Person:
    return sign_up(stack[0], "alice")


def _png() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((800, 600), 90).convert("RGB").save(out, "PNG")
    return out.getvalue()


def test_the_api_and_agoras_body_limit_through_nginx(stack: tuple[LiveServer, str], alice: Person):
    _, front = stack
    me = httpx.get(f"{front}/api/v1/accounts/verify_credentials", headers=alice.headers)
    assert me.status_code == 200 and me.json()["username"] == "alice"
    instance = httpx.get(f"{front}/api/v1/instance").json()
    assert instance["uri"] == front.removeprefix("http://")
    big = httpx.post(
        f"{front}/api/v1/statuses",
        headers={**alice.headers, "Content-Type": "application/json"},
        content=json.dumps({"status": "x" * 2_000_000}),
    )
    assert big.status_code == 413  # Agora's 1 MB for bodies other than uploads


def test_the_apis_json_is_gzipped_through_nginx_and_pages_pass_as_agora_sent_them(
    stack: tuple[LiveServer, str], alice: Person
):
    _, front = stack
    for n in range(10):
        posted = httpx.post(
            f"{front}/api/v1/statuses",
            headers=alice.headers,
            data={"status": f"through nginx {n} " + "with enough words to compress " * 4},
        )
        assert posted.status_code == 200
    asks = {"plain": "identity", "gzip": "gzip, deflate"}
    for path in ("/api/v1/timelines/public?limit=40", "/api/v2/instance"):
        got = {
            name: httpx.get(f"{front}{path}", headers={**alice.headers, "Accept-Encoding": coding})
            for name, coding in asks.items()
        }
        assert got["gzip"].headers.get("content-encoding") == "gzip", path
        assert "content-encoding" not in got["plain"].headers, path
        assert "Accept-Encoding" in got["gzip"].headers.get("vary", ""), path
        if path.startswith("/api/v1/timelines"):  # a page: as Agora sent it, gzipped once
            assert got["gzip"].content == got["plain"].content
            assert int(got["gzip"].headers["content-length"]) < len(got["plain"].content) // 2
        else:  # the rest of the API (over 1 KB): gzipped by nginx
            assert got["gzip"].json() == got["plain"].json()
    page = httpx.get(f"{front}/@alice", headers={"Accept-Encoding": "gzip"})
    assert page.status_code == 200 and "content-encoding" not in page.headers  # HTML: never


def test_media_is_checked_by_agora_and_sent_by_nginx(stack: tuple[LiveServer, str], alice: Person):
    server, front = stack
    image = _png()
    assert len(image) > 1_048_576  # over nginx's default body limit: the file raises it
    uploaded = httpx.post(
        f"{front}/api/v2/media",
        headers=alice.headers,
        files={"file": ("photo.png", image, "image/png")},
        timeout=30,
    )
    assert uploaded.status_code in (200, 202), uploaded.text
    url = uploaded.json()["url"]
    assert url.startswith(front)
    direct = httpx.get(url.replace(front, server.url))  # Agora itself: a redirect to nginx
    assert direct.headers["x-accel-redirect"].startswith("/_agora_media/")
    assert direct.content == b""
    served = httpx.get(url)
    assert served.status_code == 200 and "x-accel-redirect" not in served.headers
    assert served.content.startswith(b"\x89PNG") and len(served.content) > 1000
    assert served.headers["cache-control"]  # Agora's caching decision is kept
    hidden = httpx.get(f"{front}{direct.headers['x-accel-redirect']}")
    assert hidden.status_code == 404  # the internal location is not reachable from outside
    style = httpx.get(f"{front}/static/style.css")
    assert style.status_code == 200 and style.content == (STATIC / "style.css").read_bytes()


def test_server_sent_events_arrive_through_nginx_at_once(
    stack: tuple[LiveServer, str], alice: Person
):
    _, front = stack

    async def run() -> tuple[str, str]:
        async with httpx.AsyncClient(base_url=front, timeout=30) as client:
            stream_url = "/api/v1/streaming/public/local"
            async with client.stream("GET", stream_url, headers=alice.headers) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                events = SSE(response)
                await asyncio.sleep(0.5)
                posted = await client.post(
                    "/api/v1/statuses", headers=alice.headers, data={"status": "live via nginx"}
                )
                assert posted.status_code == 200
                while True:  # a heartbeat may come first; the update must come within 10 s
                    event, data = await events.next(timeout=10)
                    if event == "update":
                        return event, data

    _, data = asyncio.run(run())
    assert json.loads(data)["content"] == "<p>live via nginx</p>"


def test_agora_sees_the_real_client_address_and_probes_are_closed(
    stack: tuple[LiveServer, str], alice: Person
):
    server, front = stack
    transport = httpx.HTTPTransport(local_address=ELSEWHERE)
    with httpx.Client(transport=transport, base_url=front) as client:
        answered = client.get("/api/v1/timelines/public")
        assert answered.status_code == 200
        request_id = answered.headers["x-request-id"]  # nginx's $request_id, passed on
        assert client.get("/health/ready").status_code == 403
        assert client.get("/metrics").status_code == 403
    assert httpx.get(f"{front}/health/ready").json()["status"] == "ok"  # from 127.0.0.1

    def logged() -> dict[str, str] | None:
        for line in server.log().splitlines():
            if line.startswith("{") and request_id in line:
                entry: dict[str, str] = json.loads(line)
                if entry.get("logger") == "uvicorn.access":
                    return entry
        return None

    entry = wait_for(logged, 5, "Agora's access log line")
    assert entry["client"].split(":")[0] == ELSEWHERE
    assert entry["path"] == "/api/v1/timelines/public"
