"""A real Web Push receiver for the tests: an HTTP endpoint on a loopback port that does what
a push service and the browser behind it do with a push. It holds the subscription's private
key and auth secret, decrypts every POST (RFC 8291 `aes128gcm`, or the older `aesgcm` draft
with its `Encryption` and `Crypto-Key` headers) with `http_ece`, and verifies the VAPID JWT
(RFC 8292: ES256 over the server's public key, `aud` = this endpoint's origin, `exp` in the
future, a `sub`) with `cryptography`. A push that fails either check is kept as a failure
(and answered 400), so a test sees it.

It answers `status` (201 by default; 410 to play a subscription that expired)."""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Push:
    """One push as received: its headers, the decrypted message, the verified JWT claims."""

    headers: dict[str, str]
    message: dict[str, Any]
    claims: dict[str, Any]
    vapid_key: str
    received_at: float


@dataclass
class PushReceiver:
    """A subscription's keys and the endpoint that receives its pushes."""

    path: str = "/push/device-1"
    status: int = 201
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))
    pushes: list[Push] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)

    @property
    def auth_secret(self) -> str:
        return b64url(self.auth)

    @property
    def origin(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def endpoint(self) -> str:
        return self.origin + self.path

    def form(self, *, standard: bool = True, **alerts: bool) -> dict[str, str]:
        """The POST /api/v1/push/subscription form for this receiver."""
        data = {
            "subscription[endpoint]": self.endpoint,
            "subscription[keys][p256dh]": self.p256dh,
            "subscription[keys][auth]": self.auth_secret,
            "subscription[standard]": "true" if standard else "false",
        }
        for name, on in (alerts or {"mention": True}).items():
            data[f"data[alerts][{name}]"] = "true" if on else "false"
        return data

    def start(self) -> PushReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    receiver.pushes.append(receiver.open(self.path, headers, body))
                    code = receiver.status
                except Exception as exc:  # a failed check is the test's business
                    receiver.failures.append(f"{type(exc).__name__}: {exc}")
                    code = 400
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- what a push service and a browser check ------------------------------------------

    def open(self, path: str, headers: dict[str, str], body: bytes) -> Push:
        assert path == self.path, path
        encoding = headers.get("content-encoding")
        auth = headers.get("authorization", "")
        if encoding == "aes128gcm":
            scheme, _, params = auth.partition(" ")
            assert scheme.lower() == "vapid", auth
            fields = dict(p.strip().split("=", 1) for p in params.split(","))
            token, key = fields["t"], fields["k"]
            plain = http_ece.decrypt(
                body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
            )
        elif encoding == "aesgcm":
            scheme, _, token = auth.partition(" ")
            assert scheme == "WebPush", auth
            crypto = dict(p.strip().split("=", 1) for p in headers["crypto-key"].split(";"))
            key = crypto["p256ecdsa"]
            salt = headers["encryption"].split("salt=", 1)[1]
            plain = http_ece.decrypt(
                body,
                salt=unb64(salt),
                dh=unb64(crypto["dh"]),
                private_key=self.private_key,
                auth_secret=self.auth,
                version="aesgcm",
            )
        else:
            raise AssertionError(f"unknown Content-Encoding {encoding!r}")
        claims = self.verify_jwt(token, key)
        assert int(headers["ttl"]) > 0
        return Push(headers, json.loads(plain), claims, key, time.monotonic())

    def verify_jwt(self, token: str, key: str) -> dict[str, Any]:
        """RFC 8292: an ES256 JWT signed by `key`, for this origin, not expired, with a sub."""
        head, payload, signature = token.split(".")
        assert json.loads(unb64(head)) == {"typ": "JWT", "alg": "ES256"}
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
        raw = unb64(signature)
        assert len(raw) == 64
        der = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
        public.verify(der, f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        claims: dict[str, Any] = json.loads(unb64(payload))
        assert claims["aud"] == self.origin, claims
        assert claims["exp"] > time.time(), claims
        assert claims["sub"].startswith(("mailto:", "https://")), claims
        return claims

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[Push]:
        """The pushes received, once there are `count` (fails after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while len(self.pushes) < count and not self.failures:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.pushes)} pushes after {timeout}s")
            time.sleep(0.02)
        assert not self.failures, self.failures
        return self.pushes
