"""Error responses, one renderer for JSON and one for HTML.

API and probe paths get `{"error": CODE, "detail": TEXT}`; page paths get `error.html` in the
request's language. Handled here: Starlette/FastAPI `HTTPException`, `RequestValidationError` (422,
naming the fields but never echoing values), `service.errors.ProbityError`, and SQLAlchemy errors
that mean the database cannot serve (`service.db_errors`: 503 with Retry-After, wherever in the
request they happen; the error's class name goes to the request log). Anything else is
turned into a 500 by `routes.requestlog`, which calls `internal_error_response`; no message or
traceback of an unexpected exception ever reaches the client.

Imports FastAPI/Starlette, SQLAlchemy's exceptions, `service.errors`, `service.storage` and
`routes.templating`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.types import Scope

from routes.templating import Pages
from service.db_errors import MAYBE_STORED, unavailable_error
from service.errors import ProbityError

__all__ = [
    "ERROR_RESPONSES",
    "HANDLED_ERROR",
    "ErrorBody",
    "error_code",
    "error_response",
    "errors",
    "install_error_handlers",
    "internal_error_response",
    "is_api_path",
    "json_error",
    "probity_error_response",
]

# Scope key: the class name of an exception answered here that the request log should record.
HANDLED_ERROR = "probity.handled_error"
# Paths outside /api that answer JSON (probes and the schema).
_JSON_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json"})
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ErrorBody(BaseModel):
    """Every JSON error: a stable machine code and a short English text."""

    error: str
    detail: str


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries documenting these error statuses, each with the one `ErrorBody`."""
    return {s: {"model": ErrorBody, "description": HTTPStatus(s).phrase} for s in statuses}


# What every operation can answer (the app's `responses=`): control characters in the path or
# query (422), a bug (500), an outage or a full pool (503). Routers and routes add their own.
ERROR_RESPONSES = errors(422, 500, 503)


def is_api_path(path: str) -> bool:
    return path == "/api" or path.startswith("/api/") or path in _JSON_PATHS


def error_code(status_code: int) -> str:
    """`not_found`, `validation_error`, ...; derived from the status phrase when not listed."""
    if status_code in _CODES:
        return _CODES[status_code]
    try:
        phrase = HTTPStatus(status_code).phrase
    except ValueError:
        return "error"
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")


def json_error(
    status_code: int, code: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(error=code, detail=detail).model_dump()
    return JSONResponse(body, status_code=status_code, headers=headers)


def error_response(
    request: Request,
    status_code: int,
    *,
    code: str | None = None,
    detail: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """JSON for API paths, the translated error page for everything else."""
    if is_api_path(request.url.path):
        text = detail or _phrase(status_code)
        return json_error(status_code, code or error_code(status_code), text, headers)
    pages = getattr(request.app.state, "pages", None)
    if not isinstance(pages, Pages):
        return PlainTextResponse(_phrase(status_code), status_code=status_code, headers=headers)
    if _is_staff_path(request.url.path) and status_code in (403, 404, 409, 422):
        # Staff see why (the service's English detail, never content) on a staff page, not the
        # reporter's "this form has expired" wording.
        staff_context = {
            "error": code or error_code(status_code),
            "detail": detail or _phrase(status_code),
            "back": "/staff",
        }
        return pages.render(
            request,
            "staff/action_error.html",
            staff_context,
            status_code=status_code,
            headers=headers,
        )
    # The page shows a translated message per status; `detail` is English and for API clients.
    # `sent`: a form was sent (the page then says whether it was stored), not a page asked for.
    # `maybe_stored`: a lost COMMIT answer; the page must not say "Nothing was stored".
    context = {
        "status_code": status_code,
        "sent": request.method not in ("GET", "HEAD"),
        "maybe_stored": detail == MAYBE_STORED,
    }
    return pages.render(request, "error.html", context, status_code=status_code, headers=headers)


def _is_staff_path(path: str) -> bool:
    return path == "/staff" or path.startswith(("/staff/", "/audit"))


def internal_error_response(scope: Scope) -> Response:
    """The last-resort 500, safe to build even when templates are broken."""
    request = Request(scope)
    try:
        return error_response(request, 500, detail="internal error")
    except Exception:
        return PlainTextResponse("Internal Server Error", status_code=500)


def _phrase(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


def _validation_detail(exc: RequestValidationError) -> str:
    # Location and error type only: pydantic's messages and inputs may echo what was sent.
    fields: list[str] = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()))
        item = f"{location} ({error.get('type', 'invalid')})"
        if item not in fields:
            fields.append(item)
    return "invalid fields: " + ", ".join(fields) if fields else "invalid request"


async def _http_exception(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # registered for this class only
        raise exc
    detail = exc.detail if isinstance(exc.detail, str) else None
    return error_response(request, exc.status_code, detail=detail, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # registered for this class only
        raise exc
    return error_response(request, 422, detail=_validation_detail(exc))


def probity_error_response(request: Request, exc: ProbityError) -> Response:
    """Any error of the tree (`service.errors`) as its status, code, detail and Retry-After."""
    # A database failure, seen here or turned into 503 by `routes.deps.transaction`.
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, SQLAlchemyError):
        request.scope[HANDLED_ERROR] = type(cause).__name__
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return error_response(request, exc.status, code=exc.code, detail=exc.detail, headers=headers)


async def _probity_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ProbityError):  # registered for this class only
        raise exc
    return probity_error_response(request, exc)


async def _database_error(request: Request, exc: Exception) -> Response:
    error = unavailable_error(exc, getattr(request.app.state, "engine", None))
    if error is None:
        raise exc  # a bug, not an outage: the request log's 500
    error.__cause__ = exc
    return await _probity_error(request, error)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ProbityError, _probity_error)
    app.add_exception_handler(SQLAlchemyError, _database_error)
