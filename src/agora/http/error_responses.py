"""Every failure a client can cause becomes a Mastodon-style `{"error": "..."}` 4xx."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from agora.auth.oauth import OAuthError
from agora.db.engine import LOCK_RETRY_AFTER, is_database_busy
from agora.http.cut_reads import mark_cut
from agora.http.json import JSON
from agora.social.rules.errors import DomainError

log = logging.getLogger("agora.api")
BUSY = "The server is busy, please try again in a moment"


class ApiError(DomainError):
    """An error raised by the API layer itself (bad parameters, missing token...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BodyTooLarge(Exception):
    """The request body exceeded the configured limit."""


def error_response(status: int, message: str, **extra: str) -> JSON:
    """A Mastodon-style error body."""
    return JSON({"error": message, **extra}, status_code=status)


def busy_response() -> JSON:
    """503 for a request that waited too long for a database lock: it may be retried."""
    response = error_response(503, BUSY)
    response.headers["Retry-After"] = str(LOCK_RETRY_AFTER)
    return response


def _validation_message(exc: RequestValidationError) -> str:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
    return f"Validation failed: {where}: {first.get('msg', 'invalid')}"


def install_error_handlers(app: FastAPI) -> None:
    """Map domain, OAuth, validation, HTTP and size errors to JSON bodies."""

    @app.exception_handler(OAuthError)
    async def _oauth(_: Request, exc: OAuthError) -> JSON:
        return error_response(exc.status, exc.error, error_description=exc.message)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSON:
        return error_response(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSON:
        return error_response(422, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSON:
        message = "Record not found" if exc.status_code == 404 else str(exc.detail)
        response = error_response(exc.status_code, message)
        response.headers.update(exc.headers or {})  # e.g. `Allow` on a 405
        return response

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(ConnectionRefusedError)
    async def _database(request: Request, exc: Exception) -> JSON:
        if not is_database_busy(exc):
            raise exc  # a real failure: logged, answered 500
        log.warning("database busy, answered 503: %s", exc)
        mark_cut(request.scope, exc)  # a read is run again (http/cut_reads.py)
        return busy_response()

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, __: BodyTooLarge) -> JSON:
        return error_response(413, "Request entity too large")
