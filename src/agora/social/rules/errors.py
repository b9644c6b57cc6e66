"""Domain errors. Every door maps them to its own form (the API: a 4xx `{"error": ...}`)."""

from __future__ import annotations


class DomainError(Exception):
    """Base of errors a client can cause; `status` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status = 404

    def __init__(self, message: str = "Record not found") -> None:
        super().__init__(message)


class Forbidden(DomainError):
    status = 403

    def __init__(self, message: str = "This action is not allowed") -> None:
        super().__init__(message)


class Invalid(DomainError):
    """Validation failed (Mastodon answers 422 Unprocessable Entity)."""

    status = 422


class Unauthorized(DomainError):
    status = 401

    def __init__(self, message: str = "The access token is invalid") -> None:
        super().__init__(message)
