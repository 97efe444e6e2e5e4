"""The triage queue page: `GET /staff/queue`, readers only.

The filter form submits by GET (no JavaScript, nothing to protect with CSRF: it changes nothing),
so a filtered queue is a link. Select values are closed lists; a bad value is a 422 page.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from routes.deps import Db
from routes.staff_auth import READERS, require_roles
from routes.templating import Pages, get_pages
from service.compartments.models import Compartment, Membership
from service.db import utcnow
from service.errors import InvalidInput
from service.staff.sessions import Principal
from service.tips.models import Status
from service.tips.queue import QueueFilters, queue_page

__all__ = ["PAGE_SIZE", "router"]

router = APIRouter(include_in_schema=False, dependencies=[Depends(require_roles(*READERS))])
Reader = Annotated[Principal, Depends(require_roles(*READERS))]
PAGE_SIZE = 50
_FILTERS = ("status", "compartment", "urgent", "overdue", "assignee")
_YES_NO = {"": None, "yes": True, "no": False}


def _choice(request: Request, name: str) -> str:
    return request.query_params.get(name, "")[:64]


def _yes_no(request: Request, name: str) -> bool | None:
    value = _choice(request, name)
    if value not in _YES_NO:
        raise InvalidInput(f"{name}: yes, no or empty", fields={name: "invalid"})
    return _YES_NO[value]


@router.get("/staff/queue", response_class=HTMLResponse)
def queue(
    request: Request, principal: Reader, pages: Annotated[Pages, Depends(get_pages)], db: Db
) -> HTMLResponse:
    chosen = {name: _choice(request, name) for name in _FILTERS}
    filters = QueueFilters(
        status=chosen["status"] or None,
        compartment=chosen["compartment"] or None,
        urgent=_yes_no(request, "urgent"),
        overdue=_yes_no(request, "overdue"),
        assignee=chosen["assignee"] or None,
    )
    cursor = request.query_params.get("cursor") or None
    with db.transaction() as session:
        today = utcnow().date()
        page = queue_page(
            session,
            principal.staff_id,
            filters=filters,
            cursor=cursor,
            limit=PAGE_SIZE,
            today=today,
        )
        # The reader's own compartments (their audiences are drawn from these).
        compartments = session.scalars(
            select(Compartment.name)
            .join(Membership, Membership.compartment_id == Compartment.id)
            .where(Membership.staff_id == principal.staff_id)
            .order_by(Compartment.name)
        ).all()
    kept = {name: value for name, value in chosen.items() if value}
    next_url = None
    if page.next_cursor is not None:
        next_url = "/staff/queue?" + urlencode({**kept, "cursor": page.next_cursor})
    context = {
        "rows": page.rows,
        "chosen": chosen,
        "statuses": [s.value for s in Status],
        "compartments": list(compartments),
        "next_url": next_url,
        "first_url": "/staff/queue?" + urlencode(kept) if cursor else None,
        "today": today,
    }
    return pages.render(request, "staff/queue.html", context)
