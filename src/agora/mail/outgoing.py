"""Mail as jobs: `queue_mail` composes a mail and writes a `send_mail` job in the caller's
transaction (the outbox), so a mail leaves exactly when the change that causes it commits;
the job sends it (`send_mail`, outside any transaction) and is retried with backoff while the
SMTP server is down or refuses (`MAIL_ATTEMPTS`, about six hours), then kept as a dead letter
that `agora jobs retry` sends again: nothing is lost.

A job row holds the composed mail, links included, until it is sent; the links' tokens are
single-use and expire (auth/email_tokens.py), so a dead letter's link is worth no more than
the mail itself.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agora.config import get_settings
from agora.db.engine import Database
from agora.db.models import Job
from agora.jobs.job_kinds import JobKind, MailJob
from agora.jobs.queue import enqueue
from agora.mail.compose import compose
from agora.mail.smtp import send_message, sender_address

MAIL_ATTEMPTS = 16


def queue_mail(
    session: AsyncSession, to: str, name: str, locale: str | None, context: dict[str, Any]
) -> Job:
    """Compose mail `name` for `to` in `locale` and enqueue it in the caller's transaction.
    The context always has `instance` (the server's title) and `base_url`."""
    settings = get_settings()
    defaults = {"instance": settings.instance_title, "base_url": settings.base_url}
    composed = compose(name, locale, {**defaults, **context})
    payload: MailJob = {
        "to": to,
        "subject": composed.subject,
        "text": composed.text,
        "html": composed.html,
    }
    return enqueue(session, JobKind.SEND_MAIL, payload, max_attempts=MAIL_ATTEMPTS)


def message_of(mail: MailJob) -> EmailMessage:
    """The MIME message of a queued mail: text/plain and text/html alternatives."""
    settings = get_settings()
    message = EmailMessage()
    message["From"] = sender_address(settings)
    message["To"] = mail["to"]
    message["Subject"] = mail["subject"]
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.domain.split(":")[0] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail["text"])
    message.add_alternative(mail["html"], subtype="html")
    return message


async def send_mail(db: Database, payload: MailJob) -> None:
    """The `send_mail` job's slow phase: send it (raises, and the job is retried, when the
    server is down or refuses)."""
    await send_message(message_of(payload))


async def mail_sent(session: AsyncSession, payload: MailJob, result: None) -> None:
    """The `send_mail` job's transaction: nothing to record; the job row goes."""
