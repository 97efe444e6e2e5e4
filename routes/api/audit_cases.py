"""The auditors' case list over the API: `GET /api/v1/audit/cases` (with `Accept: text/csv`) and
`GET /api/v1/audit/cases.csv`, one content-free row per tip (service.audit.cases).

Auditors only, like the log's entries. The read is audited (`audit.cases_exported`, with the
count) and committed before the first byte; the rows then stream from a session of their own,
a page at a time, never the whole list in memory. `case_list_response` is shared with the
`/audit/cases.csv` page route.

Imports FastAPI, `routes.*` and `service.*`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import Response, StreamingResponse

from routes.api.schemas import STAFF_ERRORS
from routes.deps import Db, UnitOfWork
from routes.errors import errors
from routes.staff_auth import AUDITORS, require_roles
from service.audit.cases import COLUMNS, CaseFilters, case_csv, record_case_export
from service.db import utcnow
from service.errors import NotAcceptable
from service.staff.sessions import Principal

__all__ = ["CSV_TYPE", "CaseQuery", "case_list_response", "router"]

CSV_TYPE = "text/csv; charset=utf-8"
Auditor = Annotated[Principal, Depends(require_roles(*AUDITORS))]

router = APIRouter(
    prefix="/api/v1/audit",
    tags=["audit"],
    dependencies=[Depends(require_roles(*AUDITORS))],
    responses={**STAFF_ERRORS, **errors(422)},
)


def case_query(
    compartment: Annotated[str | None, Query(max_length=64)] = None,
    closed_since: Annotated[date | None, Query()] = None,
    closed_until: Annotated[date | None, Query()] = None,
) -> CaseFilters:
    """The optional filters; a bad date or an end before the start is a 422."""
    return CaseFilters(compartment or None, closed_since, closed_until)


CaseQuery = Annotated[CaseFilters, Depends(case_query)]


def _stream(db: UnitOfWork, filters: CaseFilters, today: date) -> Iterator[bytes]:
    # A fresh read-only session: the audited transaction has already committed.
    with db.reader() as session:
        yield from case_csv(session, filters, today=today)


def case_list_response(
    db: UnitOfWork, principal: Principal, filters: CaseFilters, *, via: str
) -> StreamingResponse:
    """Audit and commit, then stream the CSV."""
    today = utcnow().date()
    with db.transaction() as session:
        record_case_export(session, actor=principal.staff_id, filters=filters, via=via, today=today)
    return StreamingResponse(
        _stream(db, filters, today),
        media_type=CSV_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="probity-cases-{today}.csv"',
            "X-Content-Type-Options": "nosniff",
        },
    )


def _accepts_csv(accept: str | None) -> bool:
    """No Accept, or a range that covers text/csv with a weight above zero."""
    if not accept:
        return True
    for part in accept.split(","):
        kind, *params = (piece.strip().lower() for piece in part.split(";"))
        refused = any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params)
        if kind in ("text/csv", "text/*", "*/*") and not refused:
            return True
    return False


_CSV_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The case list: a header line, then one row per tip received before "
        "today (UTC), in tip id order. "
        "Columns: " + ", ".join(COLUMNS) + ' (docs/audit.md, "Case list").',
        "content": {
            "text/csv": {
                "schema": {"type": "string", "format": "text/csv"},
                "example": ",".join(COLUMNS) + "\r\n",
            }
        },
    }
}


@router.get(
    "/cases.csv",
    response_class=Response,
    responses=_CSV_ANSWER,
)
def cases_csv(principal: Auditor, filters: CaseQuery, db: Db) -> StreamingResponse:
    """Every tip received before today as one content-free CSV row (audited
    `audit.cases_exported`)."""
    return case_list_response(db, principal, filters, via="api")


@router.get(
    "/cases",
    response_class=Response,
    responses={**_CSV_ANSWER, **errors(406)},
)
def cases(
    principal: Auditor,
    filters: CaseQuery,
    db: Db,
    accept: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """The case list as `/cases.csv`, for `Accept: text/csv` (406 for any other type)."""
    if not _accepts_csv(accept):
        raise NotAcceptable("the case list is served as text/csv only")
    return case_list_response(db, principal, filters, via="api")
