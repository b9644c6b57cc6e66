"""Secrets never reach a log.

Streaming clients (browsers' WebSocket, megalodon) send the access token in the URL
(`?access_token=…`), and uvicorn logs request paths with their query string: every HTTP
request in the access log (`uvicorn.access`), every WebSocket handshake in `uvicorn.error`.
`RedactSecrets` replaces the value of every secret parameter (`SECRET_PARAMS`) in a record's
message and arguments with `[filtered]` before any handler formats it. `install()` puts it on
both loggers; `create_app` calls it, so every server process has it however it was started
(`agora serve`, `--workers N`, or uvicorn directly).
"""

from __future__ import annotations

import logging
import re

SECRET_PARAMS = (
    "access_token",
    "token",
    "client_secret",
    "password",
    "code",
    "code_verifier",
    "refresh_token",
    "confirmation_token",  # e-mail links (auth/email_confirmation.py, password_reset.py)
    "reset_password_token",
)
FILTERED = "[filtered]"
LOGGERS = ("uvicorn.access", "uvicorn.error")
_SECRET = re.compile(
    r"(?i)([?&;](?:" + "|".join(SECRET_PARAMS) + r")=)[^&;#\s\"']*",
)


def redact(text: str) -> str:
    """`text` with the values of secret URL parameters replaced by `[filtered]`."""
    return _SECRET.sub(lambda m: m.group(1) + FILTERED, text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and string arguments with `redact`; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; always keep the record."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True


def install() -> None:
    """Put one `RedactSecrets` on uvicorn's loggers (idempotent)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
