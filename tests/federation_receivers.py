"""Tiny ActivityPub peers for the delivery tests and bench/federation.py: each a real HTTP
server (the standard library's, in a thread of its own) on a loopback port, serving actor
documents with a key of its own and recording every request it gets. `mode` says how it
answers a POST: "ok" (202), "error" (500), "slow" (waits `delay` seconds, then 202),
"rfc9421" (401 unless signed with RFC 9421, as a strict peer would), "gone" (410). A peer
that is down is one that was stopped: its port refuses connections."""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agora.federation.keys import KeyPair, generate_key_pair


@dataclass(frozen=True, slots=True)
class Received:
    """One request a peer got."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def activity(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """One peer (see the module docstring)."""

    mode: str = "ok"
    delay: float = 0.0
    names: tuple[str, ...] = ("peer",)
    key: KeyPair = field(default_factory=generate_key_pair)
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _record(self, body: bytes) -> Received:
                got = Received(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                peer.received.append(got)
                return got

            def _answer(self, status: int, doc: Any = None) -> None:
                data = json.dumps(doc).encode() if doc is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/activity+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._record(b"")
                name = self.path.removeprefix("/users/")
                if self.path.startswith("/users/") and name in peer.names:
                    self._answer(200, peer.actor_document(name))
                else:
                    self._answer(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                got = self._record(body)
                if peer.mode == "slow":
                    time.sleep(peer.delay)
                if peer.mode == "error":
                    self._answer(500, {"error": "boom"})
                elif peer.mode == "gone":
                    self._answer(410, {"error": "gone"})
                elif peer.mode == "rfc9421" and "signature-input" not in got.headers:
                    self._answer(401, {"error": "RFC 9421 signatures only"})
                else:
                    self._answer(202)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def actor(self, name: str = "peer") -> str:
        return f"{self.url}/users/{name}"

    def actor_document(self, name: str) -> dict[str, Any]:
        uri = self.actor(name)
        return {
            "@context": ["https://www.w3.org/ns/activitystreams"],
            "id": uri,
            "type": "Person",
            "preferredUsername": name,
            "inbox": f"{uri}/inbox",
            "followers": f"{uri}/followers",
            "endpoints": {"sharedInbox": f"{self.url}/inbox"},
            "publicKey": {
                "id": f"{uri}#main-key",
                "owner": uri,
                "publicKeyPem": self.key.public_pem,
            },
        }

    def posts(self) -> list[Received]:
        """The POSTs it got (deliveries), in order."""
        return [r for r in self.received if r.method == "POST"]

    def stop(self) -> None:
        """Stop answering: the port refuses connections from now on (a peer that is down)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def dead_url() -> str:
    """The URL of a peer that is down: a loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
