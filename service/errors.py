"""One error base for the domain; routes render it as JSON or HTML, the CLI as one line.

    ProbityError (code, status)
    ├── InvalidInput      422  bad values from a caller
    ├── NotFound          404  missing, or outside the caller's audience
    ├── Forbidden         403  a rule forbids this caller the action (approving one's own request)
    ├── Conflict          409  duplicates, illegal transitions, replays with another body
    ├── Malformed         400  a body that cannot be parsed (broken multipart, bad JSON)
    ├── PayloadTooLarge   413  a body, file or field over its limit
    ├── RequestTimeout    408  the body stopped arriving (a slow or stalled client)
    ├── UnsupportedMediaType 415  a body type the endpoint does not take
    ├── Unauthorized      401  no valid session or receipt
    ├── TooManyAttempts   429  locked out after failed logins
    ├── Unavailable       503  a dependency (database, key pool) cannot serve now
    ├── InsufficientStorage 507  the disk is full; nothing was stored
    └── NotInitialised    503  `probity init` has not run

Messages never carry receipts, content or reporter data.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "Forbidden",
    "InsufficientStorage",
    "InvalidInput",
    "Malformed",
    "NotFound",
    "NotInitialised",
    "PayloadTooLarge",
    "ProbityError",
    "RequestTimeout",
    "TooManyAttempts",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
]


class ProbityError(Exception):
    code = "error"
    status = 500
    retry_after: int | None = None  # seconds, for 429 and 503

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(ProbityError):
    code = "invalid_input"
    status = 422

    def __init__(self, detail: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        # Field name -> error code, so pages can show the message beside the field.
        self.fields = fields or {}


class NotFound(ProbityError):
    code = "not_found"
    status = 404


class Forbidden(ProbityError):
    code = "forbidden"
    status = 403


class Conflict(ProbityError):
    code = "conflict"
    status = 409


class RequestTimeout(ProbityError):
    code = "request_timeout"
    status = 408


class UnsupportedMediaType(ProbityError):
    code = "unsupported_media_type"
    status = 415


class Unauthorized(ProbityError):
    code = "unauthorized"
    status = 401


class TooManyAttempts(ProbityError):
    code = "too_many_attempts"
    status = 429
    retry_after = 60


class Unavailable(ProbityError):
    code = "unavailable"
    status = 503
    retry_after = 5


class InsufficientStorage(ProbityError):
    code = "insufficient_storage"
    status = 507
    retry_after = 60


class NotInitialised(ProbityError):
    code = "not_initialised"
    status = 503


class PayloadTooLarge(ProbityError):
    code = "payload_too_large"
    status = 413


class Malformed(ProbityError):
    code = "malformed_request"
    status = 400
