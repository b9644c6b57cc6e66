"""Peers for single-server federation tests: a remote actor stored with a key of its own
that signs deliveries to this server's shared inbox (`RemotePeer`), and a real HTTP server on
a loopback port serving fixed documents and files (`FileServer`), for what this server
fetches (images, posts, collections)."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any
from urllib.parse import urlsplit

from agora.config import get_settings
from agora.federation.actors import RemoteActor, store_actor
from agora.federation.keys import generate_key_pair
from agora.federation.signatures import sign_cavage

AP = "application/activity+json"
BASE = get_settings().base_url
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


class RemotePeer:
    """A remote actor: stored here as if fetched, and signing its deliveries to this
    server's shared inbox with its own key."""

    def __init__(self, uri: str, private_pem: str, account_id: int) -> None:
        self.uri = uri
        self.private_pem = private_pem
        self.public_pem = ""
        self.id = account_id
        self.sent = 0

    async def deliver(self, client: Any, activity: dict[str, Any]) -> None:
        body = json.dumps(activity).encode()
        headers = sign_cavage(
            "POST",
            f"{BASE}/inbox",
            body,
            key_id=f"{self.uri}#main-key",
            private_pem=self.private_pem,
        )
        r = await client.post("/inbox", content=body, headers={"Content-Type": AP, **headers})
        assert r.status_code == 202, r.text

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.sent += 1
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{self.uri}/activities/{self.sent}",
            "type": "Create",
            "actor": self.uri,
            "to": obj.get("to", [PUBLIC]),
            "object": obj,
        }


class FileServer:
    """A real HTTP server on a loopback port serving fixed files, counting the requests."""

    def __init__(self, files: dict[str, tuple[str, bytes]]) -> None:
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.requests.append(self.path)
                found = files.get(self.path)
                if found is None:
                    self.send_error(404)
                    return
                content_type, body = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.requests: list[str] = []
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


async def remote_peer(db: Any, uri: str) -> RemotePeer:
    """A remote actor with this id, stored here (as a fetch of its document would) with a new
    key pair; the public key is returned in `public_pem` for serving its document."""
    pair = generate_key_pair()
    host = urlsplit(uri).netloc
    base = f"{urlsplit(uri).scheme}://{host}"
    actor = RemoteActor(
        uri=uri,
        username=uri.rsplit("/", 1)[-1],
        domain=host,
        display_name=uri.rsplit("/", 1)[-1].title(),
        note_html="",
        url=None,
        inbox=f"{uri}/inbox",
        shared_inbox=f"{base}/inbox",
        followers=f"{uri}/followers",
        public_key_pem=pair.public_pem,
        locked=False,
        bot=False,
        discoverable=True,
    )
    async with db.session(write=True) as session:
        account = await store_actor(session, actor)
        await session.commit()
    peer = RemotePeer(uri, pair.private_pem, account.id)
    peer.public_pem = pair.public_pem
    return peer
