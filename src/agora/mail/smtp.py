"""The SMTP connection: one function sends one message with the AGORA_SMTP_* settings.

Security "tls" opens an SMTPS connection (TLS from the first byte), "starttls" requires the
server to offer STARTTLS and upgrades before authenticating, "none" sends in the clear (a
relay on the same machine). Certificates are verified (against `smtp_ca_file` when set).
A failure raises: the mail job that called it is retried (agora/mail/outgoing.py).
"""

from __future__ import annotations

import ssl
from email.message import EmailMessage

import aiosmtplib

from agora.config import Settings, get_settings

DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
NO_MAIL = (
    "no mail server (AGORA_SMTP_HOST not set): sign-ups are not asked to confirm their "
    "e-mail address, and `agora user reset-password NAME` prints reset links"
)


class MailNotConfigured(RuntimeError):
    """No AGORA_SMTP_HOST: this server sends no mail."""


def mail_configured(settings: Settings | None = None) -> bool:
    """Whether a mail server is configured (without one, no confirmation is asked)."""
    return bool((settings or get_settings()).smtp_host)


def sender_address(settings: Settings | None = None) -> str:
    """The From of every mail: AGORA_SMTP_FROM, or notifications@ the server's host."""
    settings = settings or get_settings()
    if settings.smtp_from:
        return settings.smtp_from
    host = settings.domain.split(":")[0] if not settings.domain.startswith("[") else "localhost"
    return f"{settings.instance_title} <notifications@{host}>"


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.smtp_security == "none":
        return None
    return ssl.create_default_context(
        cafile=str(settings.smtp_ca_file) if settings.smtp_ca_file else None
    )


async def send_message(message: EmailMessage, settings: Settings | None = None) -> None:
    """Send `message` through the configured server; raises on any failure (refused
    connection, TLS or authentication failure, a refused recipient)."""
    settings = settings or get_settings()
    if not settings.smtp_host:
        raise MailNotConfigured("AGORA_SMTP_HOST is not set")
    security = settings.smtp_security
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port or DEFAULT_PORTS[security],
        username=settings.smtp_user or None,
        password=settings.smtp_password or None,
        use_tls=security == "tls",
        start_tls=security == "starttls",
        tls_context=_tls_context(settings),
        timeout=settings.smtp_timeout,
    )
