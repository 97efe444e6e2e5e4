"""Every error of the domain, in one tree; routes render it as JSON or HTML, the CLI as one line.

    ProbityError (code, status)
    ├── Malformed            400  a request that cannot be parsed (broken multipart, bad JSON)
    │   └── BadRange         400  an index or tree size outside the audit log
    ├── Unauthorized         401  no valid session or receipt
    │   └── LoginRequired    401  no valid staff session (pages redirect to the sign-in form)
    ├── Forbidden            403  a rule forbids the caller this (approving one's own request)
    │   ├── NotPermitted     403  a membership or conflict change this person may not make
    │   └── CsrfRejected     403  a form that did not come from our pages, or too long ago
    ├── NotFound             404  missing, or outside the caller's audience
    ├── NotAcceptable        406  no answer in a media type the caller's Accept allows
    ├── RequestTimeout       408  the body stopped arriving (a slow or stalled client)
    ├── Conflict             409  duplicates, illegal transitions, replays with another body
    │   ├── InvalidTransition 409  a move the transition table does not allow
    │   ├── NotClosed        409  contesting a tip that is still open
    │   └── AlreadyContested 409  contesting a closure a second time
    ├── ReplayExpired        410  an idempotent replay after its receipt stopped being shown
    ├── PayloadTooLarge      413  a body, file or field over its limit
    │   └── BlobTooLarge     413  a stored blob larger than the reader's limit
    ├── UnsupportedMediaType 415  a body type the endpoint does not take
    ├── InvalidInput         422  bad values from a caller
    │   └── VerificationError 422  an audit export that does not match its checkpoints
    ├── TooManyAttempts      429  locked out after failed logins
    ├── Unavailable          503  a dependency (database, key pool) cannot serve now
    │   └── HistoryMismatch  503  the audit log no longer matches what was signed
    ├── NotInitialised       503  `probity init` has not run
    └── InsufficientStorage  507  the disk is full; nothing was stored

Messages never carry receipts, content or reporter data.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyContested",
    "BadRange",
    "BlobTooLarge",
    "Conflict",
    "CsrfRejected",
    "Forbidden",
    "HistoryMismatch",
    "InsufficientStorage",
    "InvalidInput",
    "InvalidTransition",
    "LoginRequired",
    "Malformed",
    "NotAcceptable",
    "NotClosed",
    "NotFound",
    "NotInitialised",
    "NotPermitted",
    "PayloadTooLarge",
    "ProbityError",
    "ReplayExpired",
    "RequestTimeout",
    "TooManyAttempts",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "VerificationError",
]


class ProbityError(Exception):
    code = "error"
    status = 500
    retry_after: int | None = None  # seconds, for 429 and 503

    def __init_subclass__(cls, *, code: str = "", status: int = 0, **kwargs: Any) -> None:
        # `class NotFound(ProbityError, code="not_found", status=404)`: what a subclass does not
        # name it inherits.
        super().__init_subclass__(**kwargs)
        cls.code = code or cls.code
        cls.status = status or cls.status

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Malformed(ProbityError, code="malformed_request", status=400): ...


class BadRange(Malformed, code="bad_range"):
    """An index or tree size outside the log as it stands."""


class Unauthorized(ProbityError, code="unauthorized", status=401): ...


class LoginRequired(Unauthorized):
    """No valid staff session: pages redirect to the sign-in form, the API answers 401."""


class Forbidden(ProbityError, code="forbidden", status=403): ...


class NotPermitted(Forbidden):
    """A membership or conflict change this person may not make."""


class CsrfRejected(Forbidden):
    """The form did not come from one of our pages, or too long ago."""


class NotFound(ProbityError, code="not_found", status=404): ...


class NotAcceptable(ProbityError, code="not_acceptable", status=406): ...


class RequestTimeout(ProbityError, code="request_timeout", status=408): ...


class Conflict(ProbityError, code="conflict", status=409): ...


class InvalidTransition(Conflict, code="invalid_transition"): ...


class NotClosed(Conflict, code="not_closed"): ...


class AlreadyContested(Conflict, code="already_contested"): ...


class ReplayExpired(ProbityError, code="replay_expired", status=410):
    """The earlier submission's receipt is no longer given out; nothing new was stored."""


class PayloadTooLarge(ProbityError, code="payload_too_large", status=413): ...


class BlobTooLarge(PayloadTooLarge, code="blob_too_large"):
    """`read_blob` refused a blob whose plaintext exceeds the caller's `max_size`."""


class UnsupportedMediaType(ProbityError, code="unsupported_media_type", status=415): ...


class InvalidInput(ProbityError, code="invalid_input", status=422):
    def __init__(self, detail: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        # Field name -> error code, so pages can show the message beside the field.
        self.fields = fields or {}


class VerificationError(InvalidInput, code="verification_failed"):
    """The export does not match the checkpoints. `index` is the first bad entry when it can be
    named; otherwise None, with `bad_range` = [start, end) when the fault lies somewhere inside."""

    def __init__(
        self, index: int | None, message: str, *, bad_range: tuple[int, int] | None = None
    ) -> None:
        super().__init__(message)
        self.index = index
        self.bad_range = bad_range


class TooManyAttempts(ProbityError, code="too_many_attempts", status=429):
    retry_after = 60


class Unavailable(ProbityError, code="unavailable", status=503):
    retry_after: int | None = 5


class HistoryMismatch(Unavailable, code="audit_log_alarm"):
    """The log no longer matches what was signed: signing stops until an operator acts.

    `reason` is a short code (see docs/audit.md): checkpoint_signature_invalid,
    checkpoint_missing, checkpoint_replaced, signed_record_unreadable, log_truncated,
    nodes_missing, checkpoint_root_mismatch, entry_altered, entries_missing, nodes_mismatch,
    alarm_file_unreadable.
    """

    retry_after = None  # an operator must act first: retrying soon changes nothing

    def __init__(self, reason: str) -> None:
        super().__init__(f"audit log alarm: {reason}; signing stopped (see docs/operations.md)")
        self.reason = reason


class NotInitialised(ProbityError, code="not_initialised", status=503): ...


class InsufficientStorage(ProbityError, code="insufficient_storage", status=507):
    retry_after = 60
