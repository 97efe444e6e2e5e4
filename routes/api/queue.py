"""The triage queue over the API: `GET /api/v1/queue`, readers only, tips of their audience only.

Filters: `status`, `compartment` (name), `urgent`, `overdue`, `assignee` (a staff id, `me` or
`none`); `cursor` (opaque, from `next_cursor`; a malformed one is 400) and `limit` (1-100).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from routes.api import schemas_staff
from routes.api.schemas import STAFF_ERRORS, json_fields
from routes.deps import Db
from routes.errors import errors
from routes.staff_auth import READERS, require_roles
from service.db import utcnow
from service.staff.sessions import Principal
from service.tips.queue import MAX_LIMIT, QueueFilters, QueuePage, QueueRow, queue_page

__all__ = ["page_json", "router", "row_json"]

router = APIRouter(
    prefix="/api/v1",
    tags=["queue"],
    dependencies=[Depends(require_roles(*READERS))],
    responses=STAFF_ERRORS,
)
Reader = Annotated[Principal, Depends(require_roles(*READERS))]


def row_json(row: QueueRow) -> dict[str, Any]:
    names = ("id", "short_id", "status", "urgent", "priority", "compartment", "received_on")
    due = ("ack_due", "feedback_due", "ack_overdue", "feedback_overdue", "overdue", "assignee")
    return json_fields(row, *names, *due)


def page_json(page: QueuePage) -> dict[str, Any]:
    return {"tips": [row_json(r) for r in page.rows], "next_cursor": page.next_cursor}


@router.get("/queue", response_model=schemas_staff.QueuePage, responses=errors(400))
def get_queue(
    principal: Reader,
    db: Db,
    status: Annotated[str | None, Query(max_length=32)] = None,
    compartment: Annotated[str | None, Query(max_length=64)] = None,
    urgent: bool | None = None,
    overdue: bool | None = None,
    assignee: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> dict[str, Any]:
    """Tips of your audience, most pressing first: rows carry flags and dates, never content."""
    filters = QueueFilters(
        status=status or None,
        compartment=compartment or None,
        urgent=urgent,
        overdue=overdue,
        assignee=assignee or None,
    )
    with db.transaction() as session:
        page = queue_page(
            session,
            principal.staff_id,
            filters=filters,
            cursor=cursor or None,
            limit=limit,
            today=utcnow().date(),
        )
    return page_json(page)
