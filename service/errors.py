"""One error base for the domain; routes render it as JSON or HTML, the CLI as one line.

    ProbityError (code, status)
    ├── InvalidInput      422  bad values from a caller
    ├── NotFound          404  missing, or outside the caller's audience
    ├── Conflict          409  duplicates, illegal transitions, replays with another body
    ├── Malformed         400  a body that cannot be parsed (broken multipart, bad JSON)
    ├── PayloadTooLarge   413  a body, file or field over its limit
    ├── Unavailable       503  a dependency (database, key pool) cannot serve now
    └── NotInitialised    503  `probity init` has not run

Messages never carry receipts, content or reporter data.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "InvalidInput",
    "Malformed",
    "NotFound",
    "NotInitialised",
    "PayloadTooLarge",
    "ProbityError",
    "Unavailable",
]


class ProbityError(Exception):
    code = "error"
    status = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(ProbityError):
    code = "invalid_input"
    status = 422


class NotFound(ProbityError):
    code = "not_found"
    status = 404


class Conflict(ProbityError):
    code = "conflict"
    status = 409


class Unavailable(ProbityError):
    code = "unavailable"
    status = 503


class NotInitialised(ProbityError):
    code = "not_initialised"
    status = 503


class PayloadTooLarge(ProbityError):
    code = "payload_too_large"
    status = 413


class Malformed(ProbityError):
    code = "malformed_request"
    status = 400
