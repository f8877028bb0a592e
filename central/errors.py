"""Central's exception tree. Every error central raises on purpose is a :class:`ServerError`.

Each HTTP-facing error carries the status it maps to and a short machine ``error`` code;
its message is the human ``detail``. Messages never carry personal data.
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "DatabaseUnavailable",
    "EnrollmentError",
    "Forbidden",
    "KeyFileError",
    "MigrationError",
    "NotAuthorised",
    "NotFound",
    "PayloadTooLarge",
    "ServerError",
    "ServiceBusy",
    "SettingsError",
    "TooManyRequests",
]


class ServerError(Exception):
    """Root of central's errors. ``status`` is the HTTP status it maps to."""

    status = 500
    error = "internal"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(ServerError, ValueError):
    """The request body or query is malformed."""

    status = 400
    error = "bad_request"


class PayloadTooLarge(BadRequest):
    """The request body or the batch exceeds a documented limit."""

    status = 413
    error = "too_large"

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{what} exceeds the limit of {limit}")
        self.limit = limit


class NotAuthorised(ServerError, PermissionError):
    """Missing, unknown or revoked device credentials."""

    status = 401
    error = "unauthorized"


class Forbidden(ServerError, PermissionError):
    """The device is known but the resource is outside its scope."""

    status = 403
    error = "forbidden"


class EnrollmentError(Forbidden):
    """An enrollment code is unknown, used or expired, or the proof does not verify."""

    error = "enrollment_refused"


class NotFound(ServerError, LookupError):
    status = 404
    error = "not_found"


class TooManyRequests(ServerError):
    """A rate limit: retry after ``retry_after`` seconds."""

    status = 429
    error = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ServiceBusy(ServerError):
    """Contention (deadlocks, lock timeouts) persisted after retries: retry later."""

    status = 503
    error = "busy"


class DatabaseUnavailable(ServerError, ConnectionError):
    """PostgreSQL cannot be reached."""

    status = 503
    error = "database_unavailable"


class MigrationError(ServerError):
    """A schema migration failed or the migration files are inconsistent."""

    def __init__(self, version: int, detail: str) -> None:
        super().__init__(f"migration {version:04d}: {detail}")
        self.version = version


class SettingsError(ServerError, ValueError):
    """Central was started or called with unusable settings."""


class KeyFileError(SettingsError):
    """Central's private key file is missing, unreadable, malformed or too open."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"central key file {path}: {problem}")
        self.path = path
