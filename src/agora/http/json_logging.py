"""Structured logs (`AGORA_LOG_FORMAT=json`): one JSON object per line, with the request id
of the request being answered (http/observability.py), for uvicorn's and Agora's loggers.

Each line has `time` (UTC, ISO 8601), `level`, `logger`, `message` and, inside a request,
`request_id`; an access line also has `client`, `method`, `path` and `status` (after
log_redaction's filter has removed secrets from the path), an error its `exception`.
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, datetime
from typing import Any

from agora.http.observability import REQUEST_ID


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        """The record's fields, and the request id of the current request."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            line["request_id"] = request_id
        access = record.name == "uvicorn.access" and isinstance(record.args, tuple)
        if access and len(record.args) == 5:  # type: ignore[arg-type]  # a tuple (checked)
            client, method, path, _version, status = record.args  # type: ignore[misc]  # five
            line.update(client=client, method=method, path=path, status=status)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging configuration with every line in JSON, Agora's loggers included."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    for name in config["formatters"]:
        config["formatters"][name] = {"()": f"{__name__}.JsonFormatter"}
    config["loggers"]["agora"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config
