"""A real SMTP server for the tests (aiosmtpd in a thread), and the settings that point
Agora at it. `MailServer.messages` holds every mail it accepted, parsed."""

from __future__ import annotations

import datetime
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from agora.config import get_settings

LINK_RE = re.compile(r"https?://\S+")
USER, SECRET = "agora", "smtp secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    """One accepted mail: envelope recipients and the parsed message."""

    rcpt: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())  # type: ignore[attr-defined]

    @property
    def html(self) -> str:
        part = self.message.get_body(("html",))
        assert part is not None
        return str(part.get_content())  # type: ignore[attr-defined]

    @property
    def link(self) -> str:
        found = LINK_RE.findall(self.text)
        assert found, self.text
        return str(found[0])


@dataclass
class MailServer:
    port: int
    messages: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(Received(list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            SECRET.encode(),
        )
        if ok:
            self.logins.append(USER)
        return AuthResult(success=ok)

    def start(self, tls: ssl.SSLContext | None = None) -> None:
        kwargs: dict[str, Any] = {}
        if tls is not None:  # STARTTLS required, then AUTH
            kwargs = {
                "tls_context": tls,
                "require_starttls": True,
                "authenticator": self.authenticate,
            }
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.messages) >= count, self.messages
        return self.messages


def point_agora_at(monkeypatch: pytest.MonkeyPatch, port: int, **extra: str) -> None:
    """Settings for the test SMTP server on `port` (security none unless `extra` says)."""
    values = {"smtp_host": "127.0.0.1", "smtp_port": str(port), "smtp_security": "none", **extra}
    for key, value in values.items():
        monkeypatch.setenv(f"AGORA_{key.upper()}", value)
    get_settings.cache_clear()


def running_mail_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    """A running SMTP server that Agora sends to (plain SMTP on a free port), for a
    fixture to yield from."""
    server = MailServer(free_port())
    server.start()
    point_agora_at(monkeypatch, server.port)
    try:
        yield server
    finally:
        server.stop()
        monkeypatch.undo()
        get_settings.cache_clear()


def self_signed(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context with a fresh certificate for 127.0.0.1, and that certificate's
    file (for AGORA_SMTP_CA_FILE)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "smtp.crt", directory / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file
