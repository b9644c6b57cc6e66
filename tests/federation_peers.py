"""Remote peers for the single-server federation tests (in process, no second server):

- `Peer`: an account of another server stored here (as a fetch of its document would store
  it) with a key pair the test holds, so the test signs deliveries as that server would and
  posts them to this server's inbox. `make_peer(db, name, domain)` makes one whose inbox is
  a refused loopback address (`DEAD_INBOX`: deliveries to it fail at once, so their jobs stay
  queued for the test to read with `queued`); `remote_peer(db, uri)` one whose inboxes are on
  its own host, or dead (for tests that serve its documents with `FileServer`).
- `FileServer`: a real HTTP server on a loopback port serving fixed documents and files, for
  what this server fetches (images, posts, collections), counting the requests.
"""

from __future__ import annotations

import http.server
import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from agora.config import get_settings
from agora.db.models import Job
from agora.federation.actors import RemoteActor, store_actor
from agora.federation.keys import generate_key_pair
from agora.federation.signatures import sign_cavage

AP = "application/activity+json"
BASE = get_settings().base_url  # the tests' server: http://testserver
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
# Deliveries to make_peer's peers are refused at once (a loopback address, refused by the
# client's SSRF guard), so their jobs stay queued for the tests to read, and nothing leaves
# the machine.
DEAD_INBOX = "http://127.0.0.1:9/inbox"


@dataclass
class Peer:
    """A remote account whose private key the test holds."""

    id: int
    uri: str
    domain: str
    private_pem: str
    public_pem: str
    sent: int = 0

    def activity(self, kind: str, obj: Any, suffix: str, **extra: Any) -> dict[str, Any]:
        """An activity of this peer with a fixed id (`suffix`)."""
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"https://{self.domain}/activities/{suffix}",
            "type": kind,
            "actor": self.uri,
            "object": obj,
            **extra,
        }

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create(obj) with a fresh id, addressed as the object is."""
        self.sent += 1
        return {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{self.uri}/activities/{self.sent}",
            "type": "Create",
            "actor": self.uri,
            "to": obj.get("to", [PUBLIC]),
            "object": obj,
        }

    async def deliver(self, client: httpx.AsyncClient, activity: dict[str, Any]) -> None:
        """POST a signed activity to this server's shared inbox; it must be accepted."""
        r = await deliver(client, self, activity)
        assert r.status_code == 202, r.text


async def _store(db: Any, uri: str, inbox: str, shared_inbox: str | None, url: str | None) -> Peer:
    pair = generate_key_pair()
    domain = urlsplit(uri).netloc
    name = uri.rsplit("/", 1)[-1]
    actor = RemoteActor(
        uri=uri,
        username=name,
        domain=domain,
        display_name=name.title(),
        note_html="",
        url=url,
        inbox=inbox,
        shared_inbox=shared_inbox,
        followers=f"{uri}/followers",
        public_key_pem=pair.public_pem,
        locked=False,
        bot=False,
        discoverable=True,
    )
    async with db.session(write=True) as session:
        account = await store_actor(session, actor)
        await session.commit()
        return Peer(account.id, uri, domain, pair.private_pem, pair.public_pem)


async def make_peer(db: Any, name: str, domain: str = "remote.example") -> Peer:
    """A remote account `name@domain` (`https://domain/users/name`) whose inbox is
    `DEAD_INBOX`."""
    uri = f"https://{domain}/users/{name}"
    return await _store(db, uri, DEAD_INBOX, None, f"https://{domain}/@{name}")


async def remote_peer(db: Any, uri: str, *, dead_inbox: bool = False) -> Peer:
    """A remote actor with this id, its inbox `uri/inbox` and its server's shared inbox
    `/inbox` (both `DEAD_INBOX` with `dead_inbox`, so that what is sent to it stays queued);
    `public_pem` is there for serving its document."""
    parts = urlsplit(uri)
    if dead_inbox:
        return await _store(db, uri, DEAD_INBOX, None, None)
    return await _store(db, uri, f"{uri}/inbox", f"{parts.scheme}://{parts.netloc}/inbox", None)


def signed_headers(peer: Peer, method: str, path: str, body: bytes | None) -> dict[str, str]:
    """The draft-cavage headers of `peer`'s request to this server's `path`."""
    headers = sign_cavage(
        method, BASE + path, body, key_id=f"{peer.uri}#main-key", private_pem=peer.private_pem
    )
    return {"Content-Type": AP, **headers}


async def deliver(
    client: httpx.AsyncClient, peer: Peer, activity: dict[str, Any], path: str = "/inbox"
) -> httpx.Response:
    """POST a signed activity from `peer` to this server's inbox (`path`); the response."""
    body = json.dumps(activity).encode()
    return await client.post(path, content=body, headers=signed_headers(peer, "POST", path, body))


async def queued(db: Any, kind: str) -> list[dict[str, Any]]:
    """Payloads of the jobs of one kind still in the queue, oldest first."""
    async with db.session() as session:
        rows = await session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id))
        return [job.payload for job in rows]


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
